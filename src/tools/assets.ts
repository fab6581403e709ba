import { MirrorError } from "../errors.js";
/**
 * Where crane and helm come from: pinned versions, release asset names, checksum files.
 * Pure functions of their arguments (no I/O), so every platform's name is table-tested.
 *
 * crane (google/go-containerregistry): goreleaser archives named by `.goreleaser.yml`
 *   `{{ .ProjectName }}_{{ title .Os }}_{{ if eq .Arch "amd64" }}x86_64{{ else }}{{ .Arch }}{{ end }}`
 *   -> `go-containerregistry_Linux_x86_64.tar.gz`, `go-containerregistry_Darwin_arm64.tar.gz`,
 *   with `crane` at the archive root, and one `checksums.txt` (`<sha256>  <file>` lines) per release:
 *   https://github.com/google/go-containerregistry/releases/download/v<ver>/<asset>
 * helm: `helm-v<ver>-<os>-<arch>.tar.gz` (`linux`/`darwin`, `amd64`/`arm64`) at https://get.helm.sh/,
 *   with `<asset>.sha256sum` (`<sha256>  <file>`) beside it and the binary at `<os>-<arch>/helm`
 *   (helm's release notes link "checksum" to exactly that file).
 */

export type ToolName = "crane" | "helm";

/**
 * Pinned defaults. crane v0.22.1: the latest release found in the stored copies of public
 * sources (scripts pinning `releases/download/v0.22.1/go-containerregistry_Linux_x86_64.tar.gz`
 * against its `checksums.txt`). helm v4.3.0: released 2026-09-09 (github.com/helm/helm/releases/tag/v4.3.0),
 * the newest 4.x confirmed; Helm 4 is the one major version this product speaks (DESIGN.md §4).
 */
export const DEFAULT_VERSIONS: Readonly<Record<ToolName, string>> = { crane: "0.22.1", helm: "4.3.0" };

/**
 * SHA-256 of each default version's archives, built into the product: a download of a default version must match
 * these (and its published checksum file), and a tool-cache entry is re-hashed against them before each run.
 * `null` would mark a platform whose value could not be confirmed: its default download is then refused unless
 * the user pins a SHA-256.
 *
 * Every value was found verbatim, the same in several independent public files (stored copies of public
 * repositories, searched 2026-12-01), none of them this project's:
 * - crane v0.22.1 (`checksums.txt` of github.com/google/go-containerregistry/releases/tag/v0.22.1): a Makefile
 *   pinning `CRANE_VERSION := v0.22.1` with `CRANE_{DARWIN,LINUX}_{AMD64,ARM64}_SHA256` for all four archives; a
 *   Python installer table `SHA256 = {("Linux", "x86_64"): …, ("Darwin", "arm64"): …}`; shell installers
 *   (`'Darwin arm64') CRANE_ARCHIVE='go-containerregistry_Darwin_arm64.tar.gz'; CRANE_SHA256='2231fc8d…'`); the
 *   Linux x86_64 value is also the one DESIGN.md §7 quotes.
 * - helm v4.3.0 (`https://get.helm.sh/helm-v4.3.0-<os>-<arch>.tar.gz.sha256sum`): a TypeScript table
 *   "Helm's archives' SHA-256, by Go's platform names (get.helm.sh and Helm's release notes)" with all four; a
 *   Makefile `HELM_SHA256_{linux,darwin}_{amd64,arm64}`; a bash map `[darwin-amd64]=… [darwin-arm64]=…`; a Bazel
 *   `_TOOLS` table with `url = "https://get.helm.sh/helm-v4.3.0-darwin-arm64.tar.gz", sha256 = "d3870437…"`.
 */
export const BUILTIN_SHA256: Readonly<
  Record<ToolName, Readonly<Record<string, Readonly<Record<string, string | null>>>>>
> = {
  crane: {
    "0.22.1": {
      "go-containerregistry_Linux_x86_64.tar.gz":
        "0ab7a1d6932a213aed964ce97666c3077fe691c8606413674a8b3e0b9ec4cda0",
      "go-containerregistry_Linux_arm64.tar.gz":
        "898c0cff975f898a33e8c4580bdafb0e7c02c7faa33374e946762f97c4ab7110",
      "go-containerregistry_Darwin_x86_64.tar.gz":
        "6fedd06a648c11335f0e8b9547e4783002c30e9336047fec292942cd518bb799",
      "go-containerregistry_Darwin_arm64.tar.gz":
        "2231fc8df8806d20d680ff1225db44e095a55dd6ac1ae8eced4faf4b278b78fb",
    },
  },
  helm: {
    "4.3.0": {
      "helm-v4.3.0-linux-amd64.tar.gz": "86584a54def73570558f66f5111cc53dfed56689637ae32c1201205d494f54fb",
      "helm-v4.3.0-linux-arm64.tar.gz": "31c5794dd55c66a51e6b7d2e2ac7a114ae8b1de41ff1d9ba51748ac973b06a08",
      "helm-v4.3.0-darwin-amd64.tar.gz": "347a784877e0e20eac865e8d1c36a80f6bb0861d6f29abd34defb6570ef95d92",
      "helm-v4.3.0-darwin-arm64.tar.gz": "d3870437e1e95b67f8edbde964156c84a26503f560821d40c542441658934fba",
    },
  },
};

/**
 * The built-in SHA-256 of an asset: the hash, `null` when the version is built in but this platform's value is
 * unknown, `undefined` when the version is not built in (an overridden version: the checksum-file path).
 */
export function builtinChecksum(
  asset: Pick<ToolAsset, "tool" | "version" | "archive">,
): string | null | undefined {
  const versions = BUILTIN_SHA256[asset.tool][asset.version];
  if (!versions) return undefined;
  return versions[asset.archive] ?? null;
}

/** The one helm major version whose command line the runners build (Helm 4: login takes a host only). */
export const HELM_MAJOR = 4;

export const DEFAULT_BASE_URLS: Readonly<Record<ToolName, string>> = {
  crane: "https://github.com/google/go-containerregistry/releases/download",
  helm: "https://get.helm.sh",
};

/** A problem installing a tool, worded for the person reading the job log. */
export class ToolInstallError extends MirrorError {
  override name = "ToolInstallError";
}

export interface ToolAsset {
  tool: ToolName;
  version: string;
  /** Archive file name as the project publishes it. */
  archive: string;
  archiveUrl: string;
  /** The checksum file published beside the archive. */
  checksumUrl: string;
  /** Path of the executable inside the archive. */
  binaryInArchive: string;
  /** Architecture key in the tool cache (Node's `process.arch` spelling). */
  cacheArch: "x64" | "arm64";
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$/;

/**
 * A version input turned into the bare `X.Y.Z` the assets use (`v4.3.0` -> `4.3.0`).
 * No ranges, no `latest`: the product never silently picks another version.
 */
export function normaliseVersion(tool: ToolName, input: string): string {
  const version = input.trim().replace(/^v/, "");
  const m = SEMVER.exec(version);
  if (!m) {
    throw new ToolInstallError(
      `${tool}-version "${input}" is not an exact version (X.Y.Z): ranges and "latest" are not accepted, ` +
        `so every run installs the same, checksum-verified ${tool}.`,
    );
  }
  if (tool === "helm" && Number(m[1]) !== HELM_MAJOR) {
    throw new ToolInstallError(
      `helm-version "${input}" is Helm ${m[1]}; ecr-mirror speaks the Helm ${HELM_MAJOR} command line ` +
        `(registry login takes a host only, plain-HTTP registries need --plain-http). Use a ${HELM_MAJOR}.x version.`,
    );
  }
  return version;
}

function archFor(tool: ToolName, arch: string): { name: string; cacheArch: "x64" | "arm64" } {
  if (arch === "x64" || arch === "amd64" || arch === "x86_64") {
    return { name: tool === "crane" ? "x86_64" : "amd64", cacheArch: "x64" };
  }
  if (arch === "arm64" || arch === "aarch64") return { name: "arm64", cacheArch: "arm64" };
  throw new ToolInstallError(`${tool}: architecture "${arch}" is not supported (x64 and arm64 are).`);
}

function osFor(tool: ToolName, platform: string): string {
  if (platform === "linux") return tool === "crane" ? "Linux" : "linux";
  if (platform === "darwin") return tool === "crane" ? "Darwin" : "darwin";
  throw new ToolInstallError(
    `${tool}: platform "${platform}" is not supported (Linux and macOS runners are).`,
  );
}

/**
 * The archive, checksum file and binary path for one tool, version and platform.
 * `platform`/`arch` use Node's spelling (`linux`/`darwin`, `x64`/`arm64`); `version` must already be normalised.
 * `baseUrl` serves a mirror (GitHub Enterprise, Artifactory) that keeps the upstream layout.
 */
export function assetFor(
  tool: ToolName,
  version: string,
  platform: string,
  arch: string,
  baseUrl: string = DEFAULT_BASE_URLS[tool],
): ToolAsset {
  const os = osFor(tool, platform);
  const { name: archName, cacheArch } = archFor(tool, arch);
  const base = baseUrl.replace(/\/+$/, "");
  if (tool === "crane") {
    const archive = `go-containerregistry_${os}_${archName}.tar.gz`;
    return {
      tool,
      version,
      archive,
      archiveUrl: `${base}/v${version}/${archive}`,
      checksumUrl: `${base}/v${version}/checksums.txt`,
      binaryInArchive: "crane",
      cacheArch,
    };
  }
  const archive = `helm-v${version}-${os}-${archName}.tar.gz`;
  return {
    tool,
    version,
    archive,
    archiveUrl: `${base}/${archive}`,
    checksumUrl: `${base}/${archive}.sha256sum`,
    binaryInArchive: `${os}-${archName}/helm`,
    cacheArch,
  };
}

export interface ChecksumEntry {
  sha256: string;
  /** File name the line names, or null for a bare hash (`.sha256` style). */
  file: string | null;
}

const CHECKSUM_LINE = /^([0-9a-fA-F]{64})(?:\s+\*?(\S.*?))?\s*$/;

/** Lines of `sha256sum` output (`<hex>  <file>`, `<hex> *<file>`, or a bare `<hex>`); other lines are skipped. */
export function parseChecksumFile(text: string): ChecksumEntry[] {
  const entries: ChecksumEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = CHECKSUM_LINE.exec(line.trim());
    if (m) entries.push({ sha256: m[1]!.toLowerCase(), file: m[2] ?? null });
  }
  return entries;
}

/** The published hash for `archive`, or null when the file does not list it. */
export function publishedChecksum(entries: readonly ChecksumEntry[], archive: string): string | null {
  const named = entries.find((e) => e.file !== null && e.file.split("/").pop() === archive);
  if (named) return named.sha256;
  if (entries.length === 1 && entries[0]!.file === null) return entries[0]!.sha256;
  return null;
}

/**
 * The user's pinned SHA-256 values (one, or several separated by spaces, commas or new lines, so one
 * input can pin the archives of several runner platforms). Empty input means no pin.
 */
export function parsePinnedChecksums(
  tool: ToolName,
  input: string | readonly string[] | null | undefined,
): string[] {
  const parts = (typeof input === "string" ? [input] : (input ?? []))
    .flatMap((v) => v.split(/[\s,]+/))
    .map((v) => v.trim().replace(/^sha256:/i, ""))
    .filter((v) => v !== "");
  for (const part of parts) {
    if (!/^[0-9a-fA-F]{64}$/.test(part)) {
      throw new ToolInstallError(`${tool}-sha256 "${part}" is not a SHA-256 (64 hexadecimal characters).`);
    }
  }
  return parts.map((p) => p.toLowerCase());
}
