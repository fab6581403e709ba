/**
 * helm (Helm 4 command line), for exactly what the product does with it: pull a chart from an HTTP
 * repository (`--repo`, no `helm repo add`) or an OCI registry, push it to the target, log in with the
 * password on stdin, render a chart for checks, report the version. `--registry-config` points at the
 * session's own file on every registry command; plain-HTTP registries need `--plain-http` (Helm 4,
 * login included).
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { positional } from "./argv.js";
import { runTool, type ToolProcessOptions } from "./runner.js";

export interface HelmProcessOptions extends ToolProcessOptions {
  /** The credential session's registry config file (`helmRegistryConfig`). */
  registryConfig: string;
}

export interface PlainHttpOption {
  plainHttp?: boolean;
}

function registryFlags(registryConfig: string, opts: PlainHttpOption): string[] {
  return [...(opts.plainHttp ? ["--plain-http"] : []), "--registry-config", registryConfig];
}

export interface PullOptions {
  /** `--prov`: also fetch the provenance file when the repository has one (helm warns, not fails, when it has none). */
  prov?: boolean;
}

/** The `.tgz` files in `dir` (none when it does not exist yet: helm creates it). */
async function archivesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith(".tgz"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

export function helmPullRepoArgs(
  repoUrl: string,
  name: string,
  version: string,
  destination: string,
  opts: PullOptions = {},
): string[] {
  return [
    "pull",
    "--repo",
    positional("helm", repoUrl, "repository URL"),
    positional("helm", name, "chart name"),
    "--version",
    positional("helm", version, "version"),
    "--destination",
    destination,
    ...(opts.prov ? ["--prov"] : []),
  ];
}

export function helmPullOciArgs(
  reference: string,
  version: string,
  destination: string,
  registryConfig: string,
  opts: PlainHttpOption = {},
): string[] {
  if (!reference.startsWith("oci://"))
    throw new Error(`helm pull expects an oci:// reference, got ${reference}`);
  return [
    "pull",
    positional("helm", reference, "chart reference"),
    "--version",
    positional("helm", version, "version"),
    "--destination",
    destination,
    ...registryFlags(registryConfig, opts),
  ];
}

export function helmPushArgs(
  chartFile: string,
  remote: string,
  registryConfig: string,
  opts: PlainHttpOption = {},
): string[] {
  if (!remote.startsWith("oci://")) throw new Error(`helm push expects an oci:// destination, got ${remote}`);
  return [
    "push",
    positional("helm", chartFile, "chart file"),
    positional("helm", remote, "destination"),
    ...registryFlags(registryConfig, opts),
  ];
}

/** Helm 4: a host only (no scheme, no path); the password comes on stdin. */
export function helmRegistryLoginArgs(
  host: string,
  username: string,
  registryConfig: string,
  opts: PlainHttpOption = {},
): string[] {
  if (/[/]/.test(host)) throw new Error(`helm registry login takes a host only (Helm 4), got ${host}`);
  return [
    "registry",
    "login",
    positional("helm", host, "registry host"),
    "--username",
    username,
    "--password-stdin",
    ...registryFlags(registryConfig, opts),
  ];
}

export function helmTemplateArgs(
  releaseName: string,
  chartFile: string,
  valuesFile?: string | null,
): string[] {
  return ["template", releaseName, chartFile, ...(valuesFile ? ["--values", valuesFile] : [])];
}

export const HELM_VERSION_ARGS: readonly string[] = ["version"];

export interface PushedChart {
  /** `host/charts/name:version` as helm reports it, when it does. */
  reference: string | null;
  digest: string | null;
}

export class Helm {
  constructor(private readonly options: HelmProcessOptions) {}

  /** `helm pull --repo URL NAME --version V [--prov]`: returns the path of the downloaded `.tgz`. */
  pullFromRepository(
    repoUrl: string,
    name: string,
    version: string,
    destination: string,
    opts: PullOptions = {},
  ): Promise<string> {
    return this.pull(
      helmPullRepoArgs(repoUrl, name, version, destination, opts),
      `helm pull ${name} ${version} from ${repoUrl}`,
      destination,
    );
  }

  /** `helm pull oci://host/path/name --version V`: returns the path of the downloaded `.tgz`. */
  pullFromRegistry(
    reference: string,
    version: string,
    destination: string,
    opts: PlainHttpOption = {},
  ): Promise<string> {
    return this.pull(
      helmPullOciArgs(reference, version, destination, this.options.registryConfig, opts),
      `helm pull ${reference} ${version}`,
      destination,
    );
  }

  /**
   * One `helm pull`, resolving the archive it wrote. helm names it after the package URL in index.yaml
   * (pkg/downloader/chart_downloader.go, DownloadTo: `filepath.Base(u.Path)`), not always
   * `<name>-<version>.tgz`, and an OCI pull after the reference's `name:version` base: the one archive that
   * appeared in `destination` is the one, whatever its name.
   */
  private async pull(args: string[], action: string, destination: string): Promise<string> {
    const before = await archivesIn(destination);
    await runTool("helm", this.options, { subcommand: "pull", args, action });
    const added = (await archivesIn(destination)).filter((f) => !before.includes(f));
    if (added.length !== 1) {
      throw new Error(
        `${action} wrote ${added.length === 0 ? "no" : `${added.length}`} new .tgz in ${destination}`,
      );
    }
    return join(destination, added[0]!);
  }

  /** `helm push CHART.tgz oci://host/prefix`: lands at `prefix/<name>:<version>` (`+` -> `_`). */
  async push(chartFile: string, remote: string, opts: PlainHttpOption = {}): Promise<PushedChart> {
    const { stdout, stderr } = await runTool("helm", this.options, {
      subcommand: "push",
      args: helmPushArgs(chartFile, remote, this.options.registryConfig, opts),
      action: `helm push ${chartFile} -> ${remote}`,
    });
    const text = `${stdout}\n${stderr}`;
    return {
      reference: /^Pushed:\s*(\S+)/m.exec(text)?.[1] ?? null,
      digest: /^Digest:\s*(sha256:[0-9a-f]{64})/m.exec(text)?.[1] ?? null,
    };
  }

  /** `helm registry login HOST --username U --password-stdin` into the session's registry config. */
  async registryLogin(
    host: string,
    username: string,
    password: string,
    opts: PlainHttpOption = {},
  ): Promise<void> {
    await runTool("helm", this.options, {
      subcommand: "registry login",
      args: helmRegistryLoginArgs(host, username, this.options.registryConfig, opts),
      action: `helm registry login ${host}`,
      input: Buffer.from(password),
    });
  }

  /** `helm template NAME CHART [--values FILE]`: the rendered manifests. */
  async template(releaseName: string, chartFile: string, valuesFile?: string | null): Promise<string> {
    const { stdout } = await runTool("helm", this.options, {
      subcommand: "template",
      args: helmTemplateArgs(releaseName, chartFile, valuesFile),
      action: `helm template ${releaseName} ${chartFile}`,
    });
    return stdout;
  }

  /** The version helm reports (`4.3.0`), from `version.BuildInfo{Version:"v4.3.0",…}` or `v4.3.0+g…`. */
  async version(): Promise<string> {
    const { stdout } = await runTool("helm", this.options, {
      subcommand: "version",
      args: HELM_VERSION_ARGS,
      action: "helm version",
    });
    const m = /v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)/.exec(stdout);
    if (!m) throw new Error(`helm version printed "${stdout.trim()}", not a version`);
    return m[1]!;
  }
}
