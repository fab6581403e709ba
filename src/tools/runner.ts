/**
 * Runs crane and helm: argv arrays only (never a shell), output captured, failures turned into errors a
 * person can read, every process counted (a no-op run must spawn none).
 */
import { getExecOutput } from "@actions/exec";
import type { ToolName } from "./assets.js";

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

/** A tool failed: what was attempted, where, what the tool said, and what to try. */
export class ToolError extends Error {
  override name = "ToolError";

  constructor(
    readonly tool: ToolName,
    readonly subcommand: string,
    /** `crane copy docker.io/library/redis:7.0 -> 123….amazonaws.com/mirrors/library/redis:7.0` */
    readonly action: string,
    readonly exitCode: number | null,
    /** The last lines the tool printed (secrets redacted). */
    readonly output: string,
    readonly hint: string | null,
  ) {
    const said = output ? `: ${output}` : "";
    super(
      `${action} failed${exitCode === null ? "" : ` (exit ${exitCode})`}${said}${hint ? `\nhint: ${hint}` : ""}`,
    );
  }
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
    "the target tag is immutable and already points elsewhere: use a new tag, or allow it through the repository's " +
      "tag mutability exclusion filters",
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

export interface ToolProcessOptions {
  /** Absolute path of the executable (from the installer) or a name on PATH. */
  binary: string;
  /** Additions to the child's environment only (credentials); this process's environment is not changed. */
  env?: Record<string, string>;
  counter?: InvocationCounter;
  /** Receives the command line and the tool's output, secrets redacted (`core.debug`, a CLI's verbose log). */
  log?: (line: string) => void;
  /** Scrubs secrets from anything kept or logged (`SecretMask.redact`). */
  redact?: (text: string) => string;
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

/** Runs one tool process; throws `ToolError` on a non-zero exit or a spawn failure. */
export async function runTool(
  tool: ToolName,
  options: ToolProcessOptions,
  invocation: Invocation,
): Promise<ToolOutput> {
  const redact = options.redact ?? ((t: string) => t);
  const log = options.log;
  options.counter?.record(tool, invocation.subcommand);
  log?.(redact(`[${tool}] ${[options.binary, ...invocation.args].join(" ")}`));
  let result: { exitCode: number; stdout: string; stderr: string };
  try {
    result = await getExecOutput(options.binary, [...invocation.args], {
      silent: true,
      ignoreReturnCode: true,
      ...(invocation.input ? { input: invocation.input } : {}),
      env: { ...stringEnv(process.env), ...options.env },
    });
  } catch (error) {
    const message = redact((error as Error).message);
    throw new ToolError(
      tool,
      invocation.subcommand,
      invocation.action,
      null,
      message,
      `${tool} could not be started from "${options.binary}": install it through the tool cache or put it on PATH`,
    );
  }
  const stdout = redact(result.stdout);
  const stderr = redact(result.stderr);
  if (log) for (const line of `${stdout}\n${stderr}`.split("\n")) if (line.trim()) log(`[${tool}] ${line}`);
  if (result.exitCode !== 0) {
    const said = lastLines(stderr) || lastLines(stdout);
    throw new ToolError(tool, invocation.subcommand, invocation.action, result.exitCode, said, hintFor(said));
  }
  return { stdout, stderr };
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
