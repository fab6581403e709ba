/**
 * crane, for exactly what the product does with it: copy an image (or an OCI chart) registry to registry,
 * read a digest, report its version. Flags as crane's docs spell them (`crane copy SRC DST`,
 * `-j/--jobs`; the global `--platform os/arch[/variant]`). Never `--insecure`: crane applies it to every
 * registry in the process, so an untrusted certificate on the ECR push would pass too. crane tries HTTPS
 * first everywhere and falls back to plain HTTP on loopback and RFC 1918 hosts by its own rule
 * (fallsBackToHttp, registry/scheme.ts); the list refuses `http://` anywhere else.
 */
import { positional } from "./argv.js";
import { runTool, type ToolProcessOptions } from "./runner.js";

export interface CraneCopyOptions {
  /** One platform (`linux/amd64`): crane then writes that platform's manifest only (a new digest). */
  platform?: string | null;
  /** Concurrent layer uploads (`--jobs`); crane's default when unset. */
  jobs?: number | null;
}

export interface CraneDigestOptions {
  platform?: string | null;
}

/**
 * One platform as a `--platform` value. crane reads each value as ONE platform (`v1.ParsePlatform`; for index filter
 * cmd/crane/cmd/util.go platformsValue.Set, whatever its help text says): `linux/amd64,linux/arm64` would read as
 * architecture `amd64,linux`, variant `arm64`, and match nothing, so a comma is refused here.
 */
function platformValue(platform: string): string {
  if (platform.includes(","))
    throw new RangeError(
      `refusing to pass ${JSON.stringify(platform)} to crane as one platform: it holds a comma`,
    );
  return positional("crane", platform, "platform");
}

function globalFlags(opts: { platform?: string | null }): string[] {
  const flags: string[] = [];
  if (opts.platform) flags.push("--platform", platformValue(opts.platform));
  return flags;
}

export function craneCopyArgs(source: string, destination: string, opts: CraneCopyOptions = {}): string[] {
  const args = [
    "copy",
    positional("crane", source, "source"),
    positional("crane", destination, "destination"),
    ...globalFlags(opts),
  ];
  if (opts.jobs != null) {
    if (!Number.isInteger(opts.jobs) || opts.jobs < 1)
      throw new RangeError(`crane --jobs must be a positive integer, got ${opts.jobs}`);
    args.push("--jobs", String(opts.jobs));
  }
  return args;
}

export function craneDigestArgs(reference: string, opts: CraneDigestOptions = {}): string[] {
  return ["digest", positional("crane", reference, "reference"), ...globalFlags(opts)];
}

/**
 * `crane index filter SRC --platform A --platform B -t DST` (cmd/crane/doc/crane_index_filter.md): writes an index
 * holding only the listed platforms' manifests (a new index digest; the children keep theirs). Its own
 * `--platform` flag takes several values and shadows the global one.
 */
export function craneIndexFilterArgs(
  source: string,
  platforms: readonly string[],
  destination: string,
): string[] {
  if (platforms.length === 0) throw new RangeError("crane index filter needs at least one platform");
  return [
    "index",
    "filter",
    positional("crane", source, "source"),
    ...platforms.flatMap((p) => ["--platform", platformValue(p)]),
    "--tag",
    positional("crane", destination, "destination"),
  ];
}

/**
 * The digest crane reports for what it wrote under `destination`: go-containerregistry logs
 * `<reference>: digest: <digest> size: <n>` for every manifest it pushes (pkg/v1/remote/write.go), an index's
 * children first. The line naming `destination` wins, else the last one; null when crane said nothing.
 */
export function pushedDigest(output: string, destination: string): string | null {
  let last: string | null = null;
  for (const m of output.matchAll(/(\S+): digest: (sha256:[0-9a-f]{64}) size: \d+/g)) {
    if (m[1] === destination) return m[2]!;
    last = m[2]!;
  }
  return existingDigest(output, destination) ?? last;
}

/**
 * When the target already holds the manifest crane pushes nothing and prints `existing manifest: TAG@DIGEST`
 * (`existing manifest: DIGEST` for a digest reference), no `digest:` line (pkg/v1/remote/write.go,
 * manifestExists). The line naming `destination`'s tag or digest; null when there is none.
 */
function existingDigest(output: string, destination: string): string | null {
  const at = destination.lastIndexOf("@");
  const colon = destination.lastIndexOf(":");
  const identifier =
    at >= 0
      ? destination.slice(at + 1)
      : colon > destination.lastIndexOf("/")
        ? destination.slice(colon + 1)
        : "";
  for (const m of output.matchAll(/existing manifest: (?:(\S+)@)?(sha256:[0-9a-f]{64})\s*$/gm)) {
    if ((m[1] ?? m[2]) === identifier) return m[2]!;
  }
  return null;
}

export const CRANE_VERSION_ARGS: readonly string[] = ["version"];

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export class Crane {
  constructor(private readonly options: ToolProcessOptions) {}

  /**
   * `crane copy SRC DST`: `source` is the fetch address (see `fetchAddress`), `destination` the target reference.
   * Resolves the digest crane wrote under `destination`, when its output names it.
   */
  async copy(
    source: string,
    destination: string,
    opts: CraneCopyOptions = {},
  ): Promise<{ digest: string | null }> {
    const { stdout, stderr } = await runTool("crane", this.options, {
      subcommand: "copy",
      args: craneCopyArgs(source, destination, opts),
      action: `crane copy ${source} -> ${destination}${opts.platform ? ` (platform ${opts.platform})` : ""}`,
    });
    return { digest: pushedDigest(`${stderr}\n${stdout}`, destination) };
  }

  /**
   * `crane index filter SRC --platform … -t DST`: copies the listed platforms of an index as a new index.
   * Resolves the new index's digest (crane prints `repo@sha256:…` on stdout).
   */
  async indexFilter(
    source: string,
    platforms: readonly string[],
    destination: string,
  ): Promise<{ digest: string }> {
    const action = `crane index filter ${source} (platforms ${platforms.join(", ")}) -> ${destination}`;
    const { stdout } = await runTool("crane", this.options, {
      subcommand: "index filter",
      args: craneIndexFilterArgs(source, platforms, destination),
      action,
    });
    const digest = /@(sha256:[0-9a-f]{64})\s*$/.exec(stdout.trim())?.[1];
    if (!digest)
      throw new Error(`${action} printed "${stdout.trim()}", not a reference with a sha256 digest`);
    return { digest };
  }

  /** The manifest digest (`sha256:…`) of a reference, or of one platform's manifest. */
  async digest(reference: string, opts: CraneDigestOptions = {}): Promise<string> {
    const action = `crane digest ${reference}${opts.platform ? ` (platform ${opts.platform})` : ""}`;
    const { stdout } = await runTool("crane", this.options, {
      subcommand: "digest",
      args: craneDigestArgs(reference, opts),
      action,
    });
    const digest = stdout.trim().split(/\s+/).pop() ?? "";
    if (!DIGEST.test(digest)) throw new Error(`${action} printed "${stdout.trim()}", not a sha256 digest`);
    return digest;
  }

  /** The version crane reports (`0.22.1`; `crane version` prints `v0.22.1` or `0.22.1`). */
  async version(): Promise<string> {
    const { stdout } = await runTool("crane", this.options, {
      subcommand: "version",
      args: CRANE_VERSION_ARGS,
      action: "crane version",
    });
    const m = /v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)/.exec(stdout);
    if (!m) throw new Error(`crane version printed "${stdout.trim()}", not a version`);
    return m[1]!;
  }
}
