// A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on a free
// loopback port, with its own temporary storage and a parsed access log.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestCertificate } from "./tls.js";
import { answersOverTls } from "./tls.js";

const REGISTRY_BINARY = "/usr/bin/docker-registry";

/** One request as the registry's access log (Apache combined format on stdout) reports it. */
export interface AccessLogEntry {
  method: string;
  /** Request URI, query string included, e.g. `/v2/library/redis/manifests/7.0`. */
  path: string;
  status: number;
  userAgent: string;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, as an image reference's registry part. */
  host: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`) */
  url: string;
  /** Storage root (filesystem driver): `<dir>/docker/registry/v2/repositories/...`. */
  dir: string;
  /** The requests logged so far, oldest first. */
  accessLog(): AccessLogEntry[];
  /** Waits until a logged request matches (the registry logs just after answering). */
  waitForAccessLog(match: (entry: AccessLogEntry) => boolean, timeoutMs?: number): Promise<AccessLogEntry>;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Require HTTP Basic auth with this single user (bcrypt htpasswd file). */
  htpasswd?: { user: string; password: string };
  /** Serve HTTPS only, with this certificate (PEM files; test/harness/tls.ts makes one for 127.0.0.1). */
  tls?: TestCertificate;
}

const running = new Set<ChildProcess>();
const workDirs = new Set<string>();
let exitHookInstalled = false;

/** Kills registries (and removes their storage) a crashed test left behind when the process exits. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
    for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A port the kernel just handed out on 127.0.0.1 (closed again before the registry binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `user:$2y$...` via `htpasswd -niB`, the password passed on stdin, never in argv. */
async function bcryptLine(user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("htpasswd", ["-niB", user], (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout.trim());
    });
    child.stdin?.end(password);
  });
}

function registryConfig(storage: string, port: number, htpasswdPath?: string, tls?: TestCertificate): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  formatter: json",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storage)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: test-harness-upload-secret",
  ];
  if (tls) {
    lines.push(
      "  tls:",
      `    certificate: ${JSON.stringify(tls.certificatePath)}`,
      `    key: ${JSON.stringify(tls.keyPath)}`,
    );
  }
  if (htpasswdPath) {
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: test-registry",
      `    path: ${JSON.stringify(htpasswdPath)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

// 127.0.0.1 - - [28/Nov/2026:12:39:16 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
/** The readiness probe's user agent: its requests are left out of `accessLog()`. */
const PROBE_AGENT = "ecr-mirror-test-harness-probe";

const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

export function parseAccessLog(text: string): AccessLogEntry[] {
  const entries: AccessLogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = ACCESS_LINE.exec(line);
    if (m && m[4] !== PROBE_AGENT)
      entries.push({ method: m[1]!, path: m[2]!, status: Number(m[3]), userAgent: m[4]! });
  }
  return entries;
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      headers: { "user-agent": PROBE_AGENT },
      signal: AbortSignal.timeout(500),
    });
    await response.body?.cancel();
    return response.status === 200 || response.status === 401;
  } catch {
    return false;
  }
}

/** Starts a registry; several may run at once. Always `stop()` it (afterAll / finally). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  installExitHook();
  const work = await mkdtemp(join(tmpdir(), "ecr-mirror-registry-"));
  workDirs.add(work);
  const storage = join(work, "storage");
  let htpasswdPath: string | undefined;
  if (opts.htpasswd) {
    htpasswdPath = join(work, "htpasswd");
    await writeFile(htpasswdPath, `${await bcryptLine(opts.htpasswd.user, opts.htpasswd.password)}\n`, {
      mode: 0o600,
    });
  }
  // The port may be taken between freePort() and the registry's bind: retry with another one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configPath = join(work, "config.yml");
    await writeFile(configPath, registryConfig(storage, port, htpasswdPath, opts.tls));
    const accessLogPath = join(work, `access-${attempt}.log`);
    const out = openSync(accessLogPath, "w");
    const err = openSync(join(work, `registry-${attempt}.log`), "w");
    const child = spawn(REGISTRY_BINARY, ["serve", configPath], { stdio: ["ignore", out, err] });
    closeSync(out);
    closeSync(err);
    running.add(child);
    let exited = false;
    const exit = new Promise<void>((resolve) => {
      child.once("exit", () => {
        exited = true;
        running.delete(child);
        resolve();
      });
    });
    const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    const probe = (u: string) => (opts.tls ? answersOverTls(u, opts.tls, PROBE_AGENT) : answers(u));
    while (!exited && Date.now() < deadline && !(await probe(`${url}/v2/`))) await sleep(15);
    if (exited || Date.now() >= deadline) {
      child.kill("SIGKILL");
      await exit;
      if (attempt < 3) continue;
      const log = readFileSync(join(work, `registry-${attempt}.log`), "utf8");
      await rm(work, { recursive: true, force: true });
      workDirs.delete(work);
      throw new Error(`docker-registry did not start on ${url}:\n${log}`);
    }
    const accessLog = () => parseAccessLog(readFileSync(accessLogPath, "utf8"));
    return {
      host: `127.0.0.1:${port}`,
      url,
      dir: storage,
      accessLog,
      async waitForAccessLog(match, timeoutMs = 2000) {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const found = accessLog().find(match);
          if (found) return found;
          if (Date.now() > until) throw new Error(`no access log entry matched within ${timeoutMs} ms`);
          await sleep(10);
        }
      },
      async stop() {
        if (!exited) {
          child.kill("SIGTERM");
          const killTimer = setTimeout(() => child.kill("SIGKILL"), 2000);
          await exit;
          clearTimeout(killTimer);
        }
        await rm(work, { recursive: true, force: true });
        workDirs.delete(work);
      },
    };
  }
}
