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

/** The one helm major version whose command line the runners build (Helm 4: login takes a host only). */
export const HELM_MAJOR = 4;

export const DEFAULT_BASE_URLS: Readonly<Record<ToolName, string>> = {
  crane: "https://github.com/google/go-containerregistry/releases/download",
  helm: "https://get.helm.sh",
};

/** A problem installing a tool, worded for the person reading the job log. */
export class ToolInstallError extends Error {
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
