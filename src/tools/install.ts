/**
 * Installs crane and helm through the Actions tool cache: find -> download -> verify -> extract -> cache.
 * Every download is checked against the checksum file the project publishes beside it and, when given,
 * against the SHA-256 values the user pinned. A mismatch fails before anything is extracted or run.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import * as tc from "@actions/tool-cache";
import {
  assetFor,
  DEFAULT_VERSIONS,
  normaliseVersion,
  parseChecksumFile,
  parsePinnedChecksums,
  publishedChecksum,
  type ToolAsset,
  ToolInstallError,
  type ToolName,
} from "./assets.js";

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
/** Written beside the binary in the cache: the verified archive's SHA-256, checked against pins on a hit. */
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

  const cached = tc.find(cacheName, version, asset.cacheArch);
  if (cached) {
    const binary = join(cached, binaryName);
    const recorded = existsSync(join(cached, ARCHIVE_SHA_FILE))
      ? (await readFile(join(cached, ARCHIVE_SHA_FILE), "utf8")).trim()
      : "";
    if (existsSync(binary) && /^[0-9a-f]{64}$/.test(recorded)) {
      if (pins.length > 0 && !pins.includes(recorded)) {
        throw new ToolInstallError(
          `${tool} ${version}: the tool cache holds ${asset.archive} with SHA-256 ${recorded}, which matches no ` +
            `${pinNames(tool)} value (${pins.join(", ")}). Nothing was run. Check the pinned value for this platform.`,
        );
      }
      log(`${tool} ${version}: tool-cache hit (${binary}), nothing downloaded`);
      return { tool, version, path: binary, cacheHit: true, archiveSha256: recorded };
    }
  }

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
    if (pins.length > 0 && !pins.includes(actual)) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} has SHA-256 ${actual} (it matches the published checksum), but no ` +
          `${pinNames(tool)} value (${pins.join(", ")}). Nothing was installed or run. ` +
          "Update the pin only after checking why the archive changed.",
      );
    }
    const extracted = await tc.extractTar(archiveFile, join(work, "extracted"));
    const binaryInArchive = join(extracted, asset.binaryInArchive);
    if (!existsSync(binaryInArchive)) {
      throw new ToolInstallError(
        `${tool} ${version}: ${asset.archive} does not contain ${asset.binaryInArchive}.`,
      );
    }
    const staging = join(work, "staging");
    await mkdir(staging);
    await copyFile(binaryInArchive, join(staging, binaryName));
    await chmod(join(staging, binaryName), 0o755);
    await writeFile(join(staging, ARCHIVE_SHA_FILE), `${actual}\n`);
    const dir = await tc.cacheDir(staging, cacheName, version, asset.cacheArch);
    const path = join(dir, binaryName);
    log(
      `${tool} ${version}: downloaded ${asset.archiveUrl}, SHA-256 verified against ${asset.checksumUrl}` +
        `${pins.length > 0 ? ` and ${pinNames(tool)}` : ""}; cached at ${dir}`,
    );
    return { tool, version, path, cacheHit: false, archiveSha256: actual };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
