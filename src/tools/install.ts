/**
 * Installs crane and helm through the Actions tool cache: find -> verify again -> download -> verify -> extract -> cache.
 * Every download is checked against the checksum file the project publishes beside it, against the SHA-256
 * built into ecr-mirror for the default versions, and against the values the user pinned. A mismatch fails before
 * anything is extracted or run. A cache hit is verified again (archive re-hashed, binary compared) before use.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import * as tc from "@actions/tool-cache";
import {
  assetFor,
  builtinChecksum,
  DEFAULT_VERSIONS,
  normaliseVersion,
  parseChecksumFile,
  parsePinnedChecksums,
  publishedChecksum,
  type ToolAsset,
  ToolInstallError,
  type ToolName,
} from "./assets.js";
import { readTarFiles, type TarLimits } from "./tar.js";

export interface InstallOptions {
  /** Exact version (`0.22.1`, `v4.3.0`); defaults to the pinned one. */
  version?: string | null;
  /** Pinned SHA-256 of the archive: one value, or several (space, comma or new-line separated). */
  sha256?: string | readonly string[] | null;
  /** Base URL of a mirror that keeps the upstream layout (GitHub Enterprise, Artifactory). */
  baseUrl?: string | null;
  /** Node's spelling; default: this machine. */
  platform?: string;
  arch?: string;
  /** Where progress lines go (`core.info` in the action, stderr in the CLI). */
  log?: (message: string) => void;
}

export interface InstalledTool {
  tool: ToolName;
  version: string;
  /** Absolute path of the executable. */
  path: string;
  /** True when the tool cache already held a verified copy (nothing was downloaded). */
  cacheHit: boolean;
  /** SHA-256 of the archive the binary came from. */
  archiveSha256: string;
}

/**
 * Tool-cache names. Distinct from plain `crane`/`helm` so an entry another action cached without
 * verification is never taken for ours.
 */
const CACHE_NAME: Readonly<Record<ToolName, string>> = { crane: "ecr-mirror-crane", helm: "ecr-mirror-helm" };
/**
 * Written beside the binary in the cache, with the verified archive itself: the archive's SHA-256 when it was
 * verified. A hit re-hashes the archive against it (and the built-in value and pins) and compares the binary.
 */
const ARCHIVE_SHA_FILE = "archive.sha256";

export function installCrane(options: InstallOptions = {}): Promise<InstalledTool> {
  return installTool("crane", options);
}

export function installHelm(options: InstallOptions = {}): Promise<InstalledTool> {
  return installTool("helm", options);
}

/**
 * Outside Actions (the CLI): point the tool cache at `${XDG_CACHE_HOME:-~/.cache}/ecr-mirror/tool-cache`
 * unless `RUNNER_TOOL_CACHE` is already set. The tool cache reads these variables at each call.
 */
export function useLocalToolCache(env: NodeJS.ProcessEnv = process.env): string {
  if (!env.RUNNER_TOOL_CACHE) {
    const cacheHome = env.XDG_CACHE_HOME || join(homedir(), ".cache");
    env.RUNNER_TOOL_CACHE = join(cacheHome, "ecr-mirror", "tool-cache");
  }
  if (!env.RUNNER_TEMP) env.RUNNER_TEMP = tmpdir();
  return env.RUNNER_TOOL_CACHE;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function pinNames(tool: ToolName): string {
  return `${tool}-sha256`;
}

async function download(url: string, dest: string, what: string, asset: ToolAsset): Promise<string> {
  try {
    return await tc.downloadTool(url, dest);
  } catch (error) {
    const status = error instanceof tc.HTTPError ? ` (HTTP ${error.httpStatusCode})` : "";
    const detail = error instanceof tc.HTTPError ? "" : `: ${(error as Error).message}`;
    throw new ToolInstallError(
      `${asset.tool} ${asset.version}: could not download the ${what} ${url}${status}${detail}. ` +
        (what === "checksum file"
          ? "Every archive is verified against the checksum file its project publishes; a mirror must serve it beside the archive."
          : `Check ${asset.tool}-version and the base URL.`),
    );
  }
}

/** A release archive holds one binary of tens of MiB (far above a chart file's 5 MiB); 512 MiB at most. */
const RELEASE_TAR: TarLimits = {
  maxEntries: 10_000,
  maxFileBytes: 512 * 1024 * 1024,
  what: "release archive",
  perFile: "a file in it may have",
};

/** The executable inside a release archive (gzip + tar, read in memory), or null when it holds none. */
async function binaryInArchive(archiveFile: string, path: string): Promise<Buffer | null> {
  const tar = gunzipSync(await readFile(archiveFile));
  const files = readTarFiles(tar, (p) => p.replace(/^\.\//, "") === path, RELEASE_TAR);
  return files.get(path) ?? null;
}

type CacheVerdict =
  | { ok: true; sha256: string }
  /** An entry without the verified archive beside it (written by an earlier version): downloaded again. */
  | { ok: false; incomplete: true; reason: string }
  | { ok: false; incomplete: false; reason: string };

/**
 * A tool-cache entry is trusted only after it is checked again: the archive kept in it must hash to the built-in
 * value (default versions), to a pinned one, and to the value recorded when it was verified; and the cached
 * executable must be byte for byte the one inside that archive.
 */
async function verifyCacheEntry(
  dir: string,
  asset: ToolAsset,
  expected: { builtin: string | null | undefined; pins: readonly string[] },
): Promise<CacheVerdict> {
  const binary = join(dir, asset.tool);
  const archive = join(dir, asset.archive);
  const recordFile = join(dir, ARCHIVE_SHA_FILE);
  if (!existsSync(binary) || !existsSync(archive) || !existsSync(recordFile)) {
    return { ok: false, incomplete: true, reason: `${dir} does not hold the verified ${asset.archive}` };
  }
  const recorded = (await readFile(recordFile, "utf8")).trim();
  const actual = await sha256Of(archive);
  if (typeof expected.builtin === "string" && actual !== expected.builtin) {
    return {
      ok: false,
      incomplete: false,
      reason: `the cached ${asset.archive} has SHA-256 ${actual}, not the built-in ${expected.builtin} of ${asset.tool} ${asset.version}`,
    };
  }
  if (expected.pins.length > 0 && !expected.pins.includes(actual)) {
    return {
      ok: false,
      incomplete: false,
      reason: `the tool cache holds ${asset.archive} with SHA-256 ${actual}, which matches no ${pinNames(asset.tool)} value (${expected.pins.join(", ")})`,
    };
  }
  if (actual !== recorded) {
    return {
      ok: false,
      incomplete: false,
      reason: `the cached ${asset.archive} has SHA-256 ${actual}, not the ${recorded} recorded when it was verified`,
    };
  }
  let inArchive: Buffer | null;
  try {
    inArchive = await binaryInArchive(archive, asset.binaryInArchive);
  } catch (error) {
    return {
      ok: false,
      incomplete: false,
      reason: `the cached ${asset.archive} cannot be read: ${(error as Error).message}`,
    };
  }
  if (!inArchive?.equals(await readFile(binary))) {
    return {
      ok: false,
      incomplete: false,
      reason: `the cached ${binary} is not the ${asset.binaryInArchive} inside the verified ${asset.archive}: it was changed after it was installed`,
    };
  }
  return { ok: true, sha256: actual };
}

/**
 * The tool from the tool cache when its entry verifies; null when there is none or it is incomplete (then
 * it is downloaded again). Throws on an entry that fails verification.
 */
async function fromToolCache(
  tool: ToolName,
  version: string,
  asset: ToolAsset,
  checks: { builtin: string | null | undefined; pins: readonly string[] },
  log: (message: string) => void,
): Promise<InstalledTool | null> {
  const cached = tc.find(CACHE_NAME[tool], version, asset.cacheArch);
  if (!cached) return null;
  const verdict = await verifyCacheEntry(cached, asset, checks);
  if (verdict.ok) {
    const binary = join(cached, tool);
    log(
      `${tool} ${version}: tool-cache hit (${binary}), archive re-hashed and binary compared, nothing downloaded`,
    );
    return { tool, version, path: binary, cacheHit: true, archiveSha256: verdict.sha256 };
  }
  if (!verdict.incomplete) {
    throw new ToolInstallError(
      `${tool} ${version}: refusing the tool-cache entry: ${verdict.reason}. Nothing was run. ` +
        `Delete ${cached} to download and verify ${tool} again${checks.pins.length > 0 ? ", or check the pinned value for this platform" : ""}.`,
    );
  }
  log(`${tool} ${version}: ${verdict.reason}; downloading it again`);
  return null;
}

async function installTool(tool: ToolName, options: InstallOptions): Promise<InstalledTool> {
  const log = options.log ?? (() => {});
  const version = normaliseVersion(tool, options.version || DEFAULT_VERSIONS[tool]);
  const pins = parsePinnedChecksums(tool, options.sha256);
  const asset = assetFor(
    tool,
    version,
    options.platform ?? process.platform,
    options.arch ?? process.arch,
    options.baseUrl || undefined,
  );
  const binaryName = tool;
  const cacheName = CACHE_NAME[tool];
  const builtin = builtinChecksum(asset);
  if (builtin === null && pins.length === 0) {
    throw new ToolInstallError(
      `${tool} ${version}: ecr-mirror has no built-in SHA-256 for ${asset.archive}, and the checksum file beside ` +
        `it proves nothing if the server is compromised. Pin the archive's SHA-256 with ${pinNames(tool)} ` +
        "(from the project's release page), or choose another version.",
    );
  }

  const hit = await fromToolCache(tool, version, asset, { builtin, pins }, log);
  if (hit) return hit;

  const work = await mkdtemp(join(process.env.RUNNER_TEMP || tmpdir(), `ecr-mirror-install-${tool}-`));
  try {
    // The checksum first: a mirror without it fails before the (larger) archive is fetched.
    const checksumFile = await download(asset.checksumUrl, join(work, "checksums"), "checksum file", asset);
    const expected = publishedChecksum(
      parseChecksumFile(await readFile(checksumFile, "utf8")),
      asset.archive,
    );
    if (!expected) {
      throw new ToolInstallError(
        `${tool} ${version}: the checksum file ${asset.checksumUrl} has no entry for ${asset.archive}; ` +
          "refusing to install an archive that cannot be verified.",
      );
    }
    const archiveFile = await download(asset.archiveUrl, join(work, asset.archive), "archive", asset);
    const actual = await sha256Of(archiveFile);
    if (actual !== expected) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} from ${asset.archiveUrl} has SHA-256 ${actual}, but the published ` +
          `checksum is ${expected}. The download is corrupt or was tampered with; nothing was installed or run.`,
      );
    }
    if (typeof builtin === "string" && actual !== builtin) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} from ${asset.archiveUrl} has SHA-256 ${actual} (it matches the ` +
          `checksum file served beside it), but the SHA-256 built into ecr-mirror for this release is ${builtin}. ` +
          "The server does not serve the released archive; nothing was installed or run.",
      );
    }
    if (pins.length > 0 && !pins.includes(actual)) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} has SHA-256 ${actual} (it matches the published checksum), but no ` +
          `${pinNames(tool)} value (${pins.join(", ")}). Nothing was installed or run. ` +
          "Update the pin only after checking why the archive changed.",
      );
    }
    let binary: Buffer | null;
    try {
      binary = await binaryInArchive(archiveFile, asset.binaryInArchive);
    } catch (error) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} is not a gzip tar archive: ${(error as Error).message}`,
      );
    }
    if (!binary) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} does not contain ${asset.binaryInArchive}.`,
      );
    }
    // The cache entry keeps the verified archive: every later hit is checked against it.
    const staging = join(work, "staging");
    await mkdir(staging);
    await writeFile(join(staging, binaryName), binary, { mode: 0o755 });
    await chmod(join(staging, binaryName), 0o755);
    await copyFile(archiveFile, join(staging, asset.archive));
    await writeFile(join(staging, ARCHIVE_SHA_FILE), `${actual}\n`);
    const dir = await tc.cacheDir(staging, cacheName, version, asset.cacheArch);
    const path = join(dir, binaryName);
    const against = [
      ...(typeof builtin === "string" ? ["the SHA-256 built into ecr-mirror"] : []),
      asset.checksumUrl,
      ...(pins.length > 0 ? [pinNames(tool)] : []),
    ];
    log(
      `${tool} ${version}: downloaded ${asset.archiveUrl}, SHA-256 verified against ${against.join(" and ")}; cached at ${dir}`,
    );
    return { tool, version, path, cacheHit: false, archiveSha256: actual };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
