/**
 * Installs crane and helm through the Actions tool cache: find -> verify again -> download -> verify -> extract -> cache.
 * Every download is checked against the checksum file the project publishes beside it, against the SHA-256
 * built into ecr-mirror for the default versions, and against the values the user pinned. A mismatch fails before
 * anything is extracted or run. A cache hit is verified again (archive re-hashed, binary compared) before use.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, createReadStream, existsSync } from "node:fs";
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
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
import { childEnv } from "./child-env.js";
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
  /**
   * A crane or helm already at hand (the CLI's --crane/--helm): the path of a binary (a bare name is looked up
   * on PATH; its `version` is compared with the pinned one), the path or http(s) URL of a release archive
   * (its SHA-256 must match the built-in value and the pins), or the base URL of a mirror (as `baseUrl`).
   */
  use?: string | null;
  /** How the given tool is named in messages (`--crane`); default `crane`. */
  useName?: string;
}

export interface InstalledTool {
  tool: ToolName;
  version: string;
  /** Absolute path of the executable. */
  path: string;
  /** True when the tool cache already held a verified copy (nothing was downloaded). */
  cacheHit: boolean;
  /** SHA-256 of the archive the binary came from; null for a binary given as it is (`use`). */
  archiveSha256: string | null;
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

/** The proxy variable that applies to `url`, if any: then the proxy, not this machine, resolves and connects. */
function proxyFor(url: URL, env: NodeJS.ProcessEnv): string | undefined {
  const names = url.protocol === "https:" ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"];
  return names.map((n) => env[n]).find((v) => v);
}

/** Connection failures that a retry seconds later does not cure: no name, no route, nobody listening. */
const UNREACHABLE = new Set([
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNREFUSED",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ETIMEDOUT",
]);

/**
 * Whether `url`'s host answers a TCP connection (5 s at most): null when it does (or a proxy is in the way),
 * else why not. The tool cache retries a failed download twice after 10 to 20 s each; offline that is half a
 * minute of waiting for a failure known at once.
 */
export async function unreachable(url: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const u = new URL(url);
  if (proxyFor(u, env)) return null;
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return new Promise((done) => {
    const socket = connect({ host, port, timeout: 5000 });
    socket.once("connect", () => {
      socket.destroy();
      done(null);
    });
    socket.once("timeout", () => {
      socket.destroy();
      done(`no answer from ${u.host} in 5 s`);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => {
      socket.destroy();
      done(e.code && UNREACHABLE.has(e.code) ? `${e.code} ${u.host}` : null);
    });
  });
}

async function download(url: string, dest: string, what: string, asset: ToolAsset): Promise<string> {
  const why = await unreachable(url);
  if (why) {
    throw new ToolInstallError(
      `${asset.tool} ${asset.version}: cannot reach ${new URL(url).host} (${why}) to download the ${what} ${url}: is this machine offline, or the server down?`,
      {
        hint: `use a ${asset.tool} already on this machine (CLI: --${asset.tool} PATH or ECR_MIRROR_${asset.tool.toUpperCase()}), or a mirror of the release downloads (${asset.tool}-base-url, ECR_MIRROR_${asset.tool.toUpperCase()}_BASE_URL)`,
      },
    );
  }
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

/** An archive name as the projects publish them: `….tar.gz` or `….tgz`. */
function isArchive(name: string): boolean {
  return /\.(tar\.gz|tgz)$/i.test(new URL(name, "file:///").pathname);
}

function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

async function installTool(tool: ToolName, options: InstallOptions): Promise<InstalledTool> {
  const log = options.log ?? (() => {});
  const given = options.use?.trim() || null;
  // A URL that names no archive is a mirror of the release downloads, as baseUrl.
  const baseUrl = given && isUrl(given) && !isArchive(given) ? given : options.baseUrl || undefined;
  const version = normaliseVersion(tool, options.version || DEFAULT_VERSIONS[tool]);
  const pins = parsePinnedChecksums(tool, options.sha256);
  const asset = assetFor(
    tool,
    version,
    options.platform ?? process.platform,
    options.arch ?? process.arch,
    baseUrl,
  );
  const builtin = builtinChecksum(asset);
  const name = options.useName ?? tool;
  if (given && !isUrl(given) && !isArchive(given)) return givenBinary(tool, given, name, version, log);
  if (builtin === null && pins.length === 0) {
    throw new ToolInstallError(
      `${tool} ${version}: ecr-mirror has no built-in SHA-256 for ${asset.archive}, and the checksum file beside ` +
        `it proves nothing if the server is compromised. Pin the archive's SHA-256 with ${pinNames(tool)} ` +
        "(from the project's release page), or choose another version.",
    );
  }
  if (given && isArchive(given)) {
    if (typeof builtin !== "string" && pins.length === 0)
      throw new ToolInstallError(
        `${name} ${given}: there is no SHA-256 to check this archive against (ecr-mirror has none built in for ${tool} ${version}); pin it with ${pinNames(tool)} (ECR_MIRROR_${tool.toUpperCase()}_SHA256).`,
      );
    return givenArchive(given, name, asset, { builtin, pins }, log);
  }

  const hit = await fromToolCache(tool, version, asset, { builtin, pins }, log);
  return hit ?? downloadVerified(asset, { builtin, pins }, log);
}

/**
 * The release archive downloaded and checked against the checksum file beside it, the built-in SHA-256 and the
 * pins, then cached.
 */
async function downloadVerified(
  asset: ToolAsset,
  checks: { builtin: string | null | undefined; pins: readonly string[] },
  log: (message: string) => void,
): Promise<InstalledTool> {
  const { tool, version } = asset;
  const { builtin, pins } = checks;
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
    const installed = await cacheVerified(archiveFile, actual, asset, work);
    const against = [
      ...(typeof builtin === "string" ? ["the SHA-256 built into ecr-mirror"] : []),
      asset.checksumUrl,
      ...(pins.length > 0 ? [pinNames(tool)] : []),
    ];
    log(
      `${tool} ${version}: downloaded ${asset.archiveUrl}, SHA-256 verified against ${against.join(" and ")}; cached at ${installed.dir}`,
    );
    return installed.tool;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A verified archive's binary into the tool cache, with the archive beside it (every later hit is checked against it). */
async function cacheVerified(
  archiveFile: string,
  sha256: string,
  asset: ToolAsset,
  work: string,
): Promise<{ tool: InstalledTool; dir: string }> {
  const tool = asset.tool;
  let binary: Buffer | null;
  try {
    binary = await binaryInArchive(archiveFile, asset.binaryInArchive);
  } catch (error) {
    throw new ToolInstallError(
      `${tool} ${asset.version}: ${asset.archive} is not a gzip tar archive: ${(error as Error).message}`,
    );
  }
  if (!binary) {
    throw new ToolInstallError(
      `${tool} ${asset.version}: ${asset.archive} does not contain ${asset.binaryInArchive}.`,
    );
  }
  const staging = join(work, "staging");
  await mkdir(staging);
  await writeFile(join(staging, tool), binary, { mode: 0o755 });
  await chmod(join(staging, tool), 0o755);
  await copyFile(archiveFile, join(staging, asset.archive));
  await writeFile(join(staging, ARCHIVE_SHA_FILE), `${sha256}\n`);
  const dir = await tc.cacheDir(staging, CACHE_NAME[tool], asset.version, asset.cacheArch);
  return {
    tool: { tool, version: asset.version, path: join(dir, tool), cacheHit: false, archiveSha256: sha256 },
    dir,
  };
}

/**
 * A release archive given by path or URL (--crane ./go-containerregistry_Linux_x86_64.tar.gz): its SHA-256 must
 * be the built-in value of the version (when there is one) and one of the pins (when there are some).
 */
async function givenArchive(
  given: string,
  name: string,
  asset: ToolAsset,
  expected: { builtin: string | null | undefined; pins: readonly string[] },
  log: (message: string) => void,
): Promise<InstalledTool> {
  const tool = asset.tool;
  const work = await mkdtemp(join(process.env.RUNNER_TEMP || tmpdir(), `ecr-mirror-install-${tool}-`));
  try {
    let archiveFile = given;
    if (isUrl(given)) archiveFile = await download(given, join(work, asset.archive), "archive", asset);
    else if (!existsSync(given)) throw new ToolInstallError(`${name} ${given}: no such file`);
    const actual = await sha256Of(archiveFile);
    const mismatch =
      typeof expected.builtin === "string" && actual !== expected.builtin
        ? `the SHA-256 built into ecr-mirror for ${asset.archive} of ${tool} ${asset.version} (${expected.builtin})`
        : expected.pins.length > 0 && !expected.pins.includes(actual)
          ? `any ${pinNames(tool)} value (${expected.pins.join(", ")})`
          : null;
    if (mismatch)
      throw new ToolInstallError(
        `${name} ${given}: the archive has SHA-256 ${actual}, which is not ${mismatch}. Nothing was installed or run.`,
        {
          hint: `for another version or platform set ECR_MIRROR_${tool.toUpperCase()}_VERSION and pin its archive's SHA-256 with ECR_MIRROR_${tool.toUpperCase()}_SHA256`,
        },
      );
    const installed = await cacheVerified(archiveFile, actual, asset, work);
    log(`${tool} ${asset.version}: ${given} verified (SHA-256 ${actual}); cached at ${installed.dir}`);
    return installed.tool;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `crane` or `helm` as PATH finds it; null when no folder on PATH has it. */
async function onPath(command: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, command);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** What `crane version` / `helm version --short` prints, or why it could not be run. */
function versionOutput(tool: ToolName, path: string): Promise<{ text: string } | { error: string }> {
  const argv = tool === "crane" ? ["version"] : ["version", "--short"];
  return new Promise((done) => {
    execFile(path, argv, { env: childEnv(tool, process.env), timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) done({ error: `${[path, ...argv].join(" ")} failed: ${(stderr || error.message).trim()}` });
      else done({ text: `${stdout}`.trim() });
    });
  });
}

/**
 * A binary given as it is (--crane /usr/local/bin/crane, or a name on PATH). Its bytes cannot be checked (the pins
 * are for the release archives), so its `version` is: a version other than the pinned one is a warning.
 */
async function givenBinary(
  tool: ToolName,
  given: string,
  name: string,
  pinned: string,
  log: (message: string) => void,
): Promise<InstalledTool> {
  const path = given.includes("/") ? resolve(given) : await onPath(given, process.env);
  if (!path || !(await isExecutable(path)))
    throw new ToolInstallError(`${name} ${given}: ${path ? "not an executable file" : "not found on PATH"}`, {
      hint: `give the path of a ${tool} binary, of its release archive, or a URL`,
    });
  const said = await versionOutput(tool, path);
  if ("error" in said) throw new ToolInstallError(`${name} ${given}: ${said.error}`);
  const version = /\d+\.\d+\.\d+/.exec(said.text)?.[0] ?? null;
  if (version !== pinned)
    log(
      `Warning: ${path} says ${JSON.stringify(said.text)}${version ? `: ${tool} ${version}` : ""}, not the pinned ${tool} ${pinned}; using it (a binary given as it is cannot be checked against the pinned SHA-256, which is for the release archive)`,
    );
  else
    log(
      `${tool} ${version}: using ${path} (version checked; a binary given as it is has no SHA-256 to check)`,
    );
  return { tool, version: version ?? said.text, path, cacheHit: false, archiveSha256: null };
}
