/**
 * Runs crane and helm: argv arrays only (never a shell), an allow-listed environment, bounded time and output,
 * failures turned into errors a person can read, every process counted (a no-op run must spawn none).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { MirrorError } from "../errors.js";
import type { ToolName } from "./assets.js";
import { childEnv } from "./child-env.js";

/** Processes spawned, per tool and subcommand (`crane copy`, `helm registry login`). */
export class InvocationCounter {
  readonly #counts = new Map<string, number>();

  record(tool: ToolName, subcommand: string): void {
    const key = `${tool} ${subcommand}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Count for one `tool subcommand`, one tool, or everything. */
  count(tool?: ToolName, subcommand?: string): number {
    let total = 0;
    for (const [key, n] of this.#counts) {
      if (tool && !(subcommand ? key === `${tool} ${subcommand}` : key.startsWith(`${tool} `))) continue;
      total += n;
    }
    return total;
  }

  /** `{ "crane copy": 3, "helm push": 1 }` for reports and benchmarks. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/**
 * How a tool process failed: it exited non-zero ("exit"), could not be started ("spawn"), showed no
 * progress for the stall timeout ("stalled"), ran past its overall limit ("timeout"), or printed more
 * than the captured-output limit ("output-limit"). Retries key on it (a stalled copy is retried once).
 */
export type ToolFailure = "exit" | "spawn" | "stalled" | "timeout" | "output-limit";

/** A tool failed: what was attempted, where, what the tool said, and what to try. */
export class ToolError extends MirrorError {
  override name = "ToolError";

  constructor(
    readonly tool: ToolName,
    readonly subcommand: string,
    /** `crane copy docker.io/library/redis:7.0 -> 123….amazonaws.com/mirrors/library/redis:7.0` */
    readonly action: string,
    readonly exitCode: number | null,
    /** The last lines the tool printed (secrets redacted). */
    readonly output: string,
    override readonly hint: string | null,
    readonly failure: ToolFailure = exitCode === null ? "spawn" : "exit",
    /** Why the product stopped the process (`stalled: no progress for 120 s (limit tool-stall-timeout)`). */
    reason?: string,
  ) {
    const how = reason ? ` ${reason}` : ` failed${exitCode === null ? "" : ` (exit ${exitCode})`}`;
    // The first line is the whole reason (the terminal, the summary and the annotation show it); the
    // rest of what the tool printed follows, then the hint.
    const cause = output ? `: ${failureKind(output)}${errorLine(output)}` : "";
    const rest = output ? otherLines(output) : "";
    super(`${action}${how}${cause}${rest ? `\n${rest}` : ""}${hint ? `\nhint: ${hint}` : ""}`, { hint });
  }
}

/** Go's log prefix (`2026/12/01 23:11:53 `), which crane puts before each stderr line. */
const GO_LOG_STAMP = /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? /;

/**
 * The line that says what went wrong: crane and helm print `Error: …` last (cobra), after their progress
 * lines (`Copying from …`); else the last line.
 */
export function errorLine(output: string): string {
  const lines = output
    .split("\n")
    .map((l) => l.replace(GO_LOG_STAMP, "").trim())
    .filter(Boolean);
  return [...lines].reverse().find((l) => /^Error:/i.test(l)) ?? lines.at(-1) ?? "";
}

function otherLines(output: string): string {
  const reason = errorLine(output);
  return output
    .split("\n")
    .filter((l) => l.replace(GO_LOG_STAMP, "").trim() !== reason && l.trim() !== "")
    .join("\n");
}

const KINDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/toomanyrequests|too many requests|\b429\b|rate limit/i, "rate limited"],
  [/authorization token has expired|token.*expired/i, "token expired"],
  [/\b401\b|unauthorized|authentication required|no basic auth credentials/i, "unauthorized"],
  [/\b403\b|denied|forbidden|not authorized to perform/i, "denied"],
  [
    /already exists and cannot be overwritten|ImageTagAlreadyExistsException|tag invalid.*immutable|immutable/i,
    "immutable tag",
  ],
  [
    /RepositoryNotFoundException|repository with name .* does not exist|NAME_UNKNOWN|name unknown/i,
    "repository missing",
  ],
  [/MANIFEST_UNKNOWN|manifest unknown|not found: manifest|\b404\b|not found/i, "not found"],
  [/server gave HTTP response to HTTPS client/i, "plain HTTP"],
  [/x509|certificate/i, "TLS"],
  [/i\/o timeout|context deadline exceeded|timed out|timeout/i, "timeout"],
  [/no such host|connection refused|dial tcp|network is unreachable/i, "unreachable"],
];

/** `not found: `, `rate limited: `, …: the kind of failure, named before the tool's own words (or nothing). */
function failureKind(output: string): string {
  const kind = KINDS.find(([pattern]) => pattern.test(output))?.[1];
  return kind && !errorLine(output).toLowerCase().startsWith(kind.toLowerCase()) ? `${kind}: ` : "";
}

const HINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [
    /toomanyrequests|too many requests|\b429\b|rate limit/i,
    "the upstream registry is rate limiting: give Docker Hub credentials (docker-hub-username, docker-hub-token) " +
      "or fetch through an upstream endpoint such as a pull-through cache",
  ],
  [
    /authorization token has expired|token.*expired/i,
    "the ECR token expired (valid 12 hours); rerun so a fresh one is requested",
  ],
  [
    /\b401\b|unauthorized|authentication required|no basic auth credentials/i,
    "the registry refused the credentials: for ECR check the role's ecr:* permissions and the registry address; " +
      "for an upstream check its username and token",
  ],
  [
    /\b403\b|denied|forbidden|not authorized to perform/i,
    "the registry denied the request: check the role's permissions (ecr:BatchCheckLayerAvailability, " +
      "ecr:InitiateLayerUpload, ecr:PutImage, ...) and any registry or repository policy",
  ],
  [
    /already exists and cannot be overwritten|ImageTagAlreadyExistsException|tag invalid.*immutable|immutable/i,
    "the target tag is immutable and already points elsewhere: use a new tag, or exclude it in the list " +
      "(repositorySettings.imageTagMutabilityExclusionFilters) with target.reconcileSettings: true, so sync sets the filter on the existing repository",
  ],
  [
    /RepositoryNotFoundException|repository with name .* does not exist|NAME_UNKNOWN|name unknown/i,
    "the repository does not exist: the target repository must be created before the copy (or covered by a " +
      "CREATE_ON_PUSH creation template); upstream, check the image name in the mirror list",
  ],
  [
    /MANIFEST_UNKNOWN|manifest unknown|not found: manifest|\b404\b|not found/i,
    "the tag, digest or chart version was not found: check the mirror-list entry against the upstream",
  ],
  [
    /no child with platform|no matching manifest|platform .* not found/i,
    "the image has no manifest for the requested platform: check the entry's platforms",
  ],
  [
    /server gave HTTP response to HTTPS client/i,
    "the registry speaks plain HTTP: crane does so only for loopback and private (RFC 1918) addresses; reach it by such an address with an http:// endpoint, or serve it over https",
  ],
  [/x509|certificate/i, "TLS certificate problem: the registry's certificate is not trusted by this runner"],
  [
    /no such host|connection refused|i\/o timeout|dial tcp|network is unreachable|context deadline exceeded/i,
    "the registry could not be reached from this runner: check the network path (VPC endpoints, proxy, air gap) " +
      "or set an upstream endpoint",
  ],
];

/** A hint for what a tool printed, or null. Pure; the first matching rule wins. */
export function hintFor(output: string): string | null {
  for (const [pattern, hint] of HINTS) if (pattern.test(output)) return hint;
  return null;
}

/** The last `max` non-empty lines, at most 2000 characters. */
export function lastLines(text: string, max = 8): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "");
  const tail = lines.slice(-max).join("\n");
  return tail.length > 2000 ? `…${tail.slice(-2000)}` : tail;
}

/**
 * Bounds on one tool process. A copy of a big image is not stopped for being big: only for showing no
 * progress (no output, and on Linux no read or write in `/proc/<pid>/io`, which counts socket traffic)
 * for `stallTimeoutMs`, or for running past `timeoutMs`.
 */
export interface ToolLimits {
  /** No output and no I/O for this long stops the process (default 120 s). Linux only (`/proc`). */
  stallTimeoutMs?: number;
  /** Overall limit for transfers (copy, push, pull, index filter; default 60 min). */
  timeoutMs?: number;
  /** Overall limit for quick commands (version, digest, registry login, template; default 5 min). */
  shortTimeoutMs?: number;
  /** stdout kept (default 8 MiB; `helm template` 64 MiB); more stops the process. */
  maxStdoutBytes?: number;
  /** SIGTERM, then SIGKILL after this (default 5 s). */
  killGraceMs?: number;
  /** How often progress is sampled (default: a quarter of the stall timeout, at most 5 s). */
  pollMs?: number;
}

export const DEFAULT_LIMITS = {
  stallTimeoutMs: 120_000,
  timeoutMs: 60 * 60_000,
  shortTimeoutMs: 5 * 60_000,
  maxStdoutBytes: 8 * 1024 * 1024,
  templateMaxStdoutBytes: 64 * 1024 * 1024,
  killGraceMs: 5_000,
} as const;

/** Only the tail of stderr is kept: the error a tool prints comes last. */
const STDERR_TAIL_BYTES = 256 * 1024;

/** Subcommands that move no image or chart: they get the short overall limit. */
const QUICK = new Set(["version", "digest", "registry login", "template"]);

export interface ToolProcessOptions {
  /** Absolute path of the executable (from the installer) or a name on PATH. */
  binary: string;
  /**
   * What the product sets for the child (config folders, credentials files), on top of the allow-listed
   * environment (`childEnv`); this process's environment is not changed and never passed whole.
   */
  env?: Record<string, string>;
  counter?: InvocationCounter;
  /** Receives the command line and the tool's output, secrets redacted (`core.debug`, a CLI's verbose log). */
  log?: (line: string) => void;
  /** Scrubs secrets from anything kept or logged (`SecretMask.redact`). */
  redact?: (text: string) => string;
  limits?: ToolLimits;
}

export interface Invocation {
  /** `copy`, `registry login`: the counter's key. */
  subcommand: string;
  args: readonly string[];
  /** What a person reads in an error: `crane copy A -> B`. */
  action: string;
  /** Sent on stdin (helm's `--password-stdin`). */
  input?: Buffer;
}

export interface ToolOutput {
  stdout: string;
  stderr: string;
}

/** Children still running: killed when this process exits (a cancelled job, Ctrl-C, a crash). */
const running = new Set<ChildProcess>();
let exitHook = false;

/** Registers a child to be killed if this process exits first (SIGKILL: an exit handler cannot wait). */
export function killOnExit(child: ChildProcess): void {
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const c of running) signalGroup(c, "SIGKILL");
    });
  }
  running.add(child);
  child.once("exit", () => running.delete(child));
}

/** The child's process group when it leads one (it went `setsid`), else the child itself. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** rchar + wchar of a process (every read and write, sockets included), or null where `/proc` has none. */
async function ioCounter(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/io`, "utf8");
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
    const total = field("rchar") + field("wchar");
    return Number.isFinite(total) ? total : null;
  } catch {
    return null;
  }
}

function seconds(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

/** Runs one tool process; throws `ToolError` on a non-zero exit, a spawn failure, a stall, a timeout or too much output. */
export async function runTool(
  tool: ToolName,
  options: ToolProcessOptions,
  invocation: Invocation,
): Promise<ToolOutput> {
  const redact = options.redact ?? ((t: string) => t);
  const log = options.log;
  const { quick, stallMs, timeoutMs, maxStdout, graceMs, pollMs } = limitsFor(
    invocation,
    options.limits ?? {},
  );
  options.counter?.record(tool, invocation.subcommand);
  log?.(redact(`[${tool}] ${[options.binary, ...invocation.args].join(" ")}`));

  const fail = (
    failure: ToolFailure,
    said: string,
    hint: string | null,
    exitCode: number | null,
    reason?: string,
  ) => new ToolError(tool, invocation.subcommand, invocation.action, exitCode, said, hint, failure, reason);

  let env: Record<string, string>;
  try {
    env = childEnv(tool, process.env, options.env ?? {});
  } catch (error) {
    const [reason, hint] = (error as Error).message.split("\nhint: ");
    throw fail("spawn", "", hint ?? null, null, `was not started: ${reason}`);
  }

  const result = await new Promise<
    | { kind: "exited"; code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: Buffer }
    | { kind: "spawn-error"; message: string }
    | { kind: "stopped"; failure: "stalled" | "timeout" | "output-limit"; stdout: Buffer; stderr: Buffer }
  >((resolve) => {
    const child = spawn(options.binary, [...invocation.args], {
      env,
      shell: false,
      // Same process group: a Ctrl-C in a terminal reaches the tool too.
      stdio: ["pipe", "pipe", "pipe"],
    });
    killOnExit(child);
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr: Buffer[] = [];
    let stderrBytes = 0;
    let lastProgress = Date.now();
    let lastIo: number | null = null;
    let ioAvailable = true;
    let stopped: "stalled" | "timeout" | "output-limit" | null = null;
    let killTimer: NodeJS.Timeout | undefined;

    const stop = (why: "stalled" | "timeout" | "output-limit") => {
      if (stopped) return;
      stopped = why;
      signalGroup(child, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
    };
    child.stdout.on("data", (chunk: Buffer) => {
      lastProgress = Date.now();
      if (stopped) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) {
        stop("output-limit");
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      lastProgress = Date.now();
      stderr.push(chunk);
      stderrBytes += chunk.length;
      if (stderrBytes > 2 * STDERR_TAIL_BYTES) {
        const tail = Buffer.concat(stderr).subarray(-STDERR_TAIL_BYTES);
        stderr = [tail];
        stderrBytes = tail.length;
      }
    });
    const overall = setTimeout(() => stop("timeout"), timeoutMs);
    let sampling = false;
    const poll = setInterval(async () => {
      if (stopped || sampling || child.pid === undefined) return;
      sampling = true;
      try {
        if (ioAvailable) {
          const io = await ioCounter(child.pid);
          if (io === null) {
            // No /proc (macOS) or no access: only the overall limit applies.
            ioAvailable = false;
            return;
          }
          if (lastIo !== null && io !== lastIo) lastProgress = Date.now();
          lastIo = io;
          if (Date.now() - lastProgress >= stallMs) stop("stalled");
        }
      } finally {
        sampling = false;
      }
    }, pollMs);
    const done = () => {
      clearTimeout(overall);
      clearInterval(poll);
      clearTimeout(killTimer);
    };
    child.once("error", (error) => {
      done();
      resolve({ kind: "spawn-error", message: error.message });
    });
    child.once("close", (code, signal) => {
      done();
      const out = Buffer.concat(stdout);
      const err = Buffer.concat(stderr).subarray(-STDERR_TAIL_BYTES);
      if (stopped) resolve({ kind: "stopped", failure: stopped, stdout: out, stderr: err });
      else resolve({ kind: "exited", code, signal, stdout: out, stderr: err });
    });
    child.stdin.on("error", () => {
      // the tool may exit before reading its input; its exit code tells what happened.
    });
    child.stdin.end(invocation.input ?? "");
  });

  if (result.kind === "spawn-error") {
    throw fail(
      "spawn",
      redact(result.message),
      `${tool} could not be started from "${options.binary}": install it through the tool cache or put it on PATH`,
      null,
    );
  }
  const stdout = redact(result.stdout.toString("utf8"));
  const stderr = redact(result.stderr.toString("utf8"));
  if (log) for (const line of `${stdout}\n${stderr}`.split("\n")) if (line.trim()) log(`[${tool}] ${line}`);
  const said = lastLines(stderr) || lastLines(stdout);
  if (result.kind === "stopped") {
    throw stoppedError(result.failure, `${tool} ${invocation.subcommand}`, said, fail, {
      quick,
      stallMs,
      timeoutMs,
      maxStdout,
    });
  }
  if (result.code !== 0) {
    const code = result.code;
    if (code === null) {
      throw fail("exit", said, hintFor(said), null, `failed (killed by ${result.signal ?? "a signal"})`);
    }
    throw fail("exit", said, hintFor(said), code);
  }
  return { stdout, stderr };
}

/** Limits for one invocation: the user's, else the defaults (quick subcommands get the short timeout). */
function limitsFor(invocation: Invocation, limits: ToolLimits) {
  const quick = QUICK.has(invocation.subcommand);
  const stallMs = limits.stallTimeoutMs ?? DEFAULT_LIMITS.stallTimeoutMs;
  const timeoutMs = quick
    ? (limits.shortTimeoutMs ?? DEFAULT_LIMITS.shortTimeoutMs)
    : (limits.timeoutMs ?? DEFAULT_LIMITS.timeoutMs);
  const maxStdout =
    limits.maxStdoutBytes ??
    (invocation.subcommand === "template"
      ? DEFAULT_LIMITS.templateMaxStdoutBytes
      : DEFAULT_LIMITS.maxStdoutBytes);
  const graceMs = limits.killGraceMs ?? DEFAULT_LIMITS.killGraceMs;
  const pollMs = limits.pollMs ?? Math.max(10, Math.min(5_000, Math.floor(stallMs / 4)));
  return { quick, stallMs, timeoutMs, maxStdout, graceMs, pollMs };
}

/** The error for a tool ecr-mirror stopped: stalled, timed out or past its output limit. */
function stoppedError(
  failure: "stalled" | "timeout" | "output-limit",
  step: string,
  said: string,
  fail: (
    failure: ToolFailure,
    said: string,
    hint: string | null,
    exitCode: number | null,
    reason?: string,
  ) => ToolError,
  limits: { quick: boolean; stallMs: number; timeoutMs: number; maxStdout: number },
): ToolError {
  const { quick, stallMs, timeoutMs, maxStdout } = limits;
  if (failure === "stalled") {
    return fail(
      "stalled",
      said,
      `the registry or the network stopped answering. If a registry is only slow, raise the limit with the ` +
        `tool-stall-timeout input (CLI: --tool-stall-timeout SECONDS)`,
      null,
      `stalled: no output and no network or disk activity for ${seconds(stallMs)} (stall timeout, ` +
        `tool-stall-timeout); ${step} was stopped`,
    );
  }
  if (failure === "timeout") {
    return fail(
      "timeout",
      said,
      quick
        ? `${step} should take seconds: check the network path to the registry`
        : "a transfer this long is likely stuck between progress samples; raise the limit with the tool-timeout " +
            "input (CLI: --tool-timeout MINUTES)",
      null,
      `timed out: still running after ${seconds(timeoutMs)} (overall limit for ${step}); it was stopped`,
    );
  }
  return fail(
    "output-limit",
    said,
    `${step} printing this much is not what the product expects (a chart that renders to this much YAML is refused)`,
    null,
    `printed more than ${Math.round(maxStdout / 1024 / 1024)} MiB on stdout (output limit for ${step}); it was stopped`,
  );
}
