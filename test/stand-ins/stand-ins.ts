// How tests reach the crane and helm stand-ins: the folder to put first on PATH, a runner,
// and the invocation log they append to (env STANDIN_LOG).
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/** `test/stand-ins/bin`: holds executables named `crane` and `helm`. */
export const STAND_IN_BIN = fileURLToPath(new URL("./bin", import.meta.url));

/**
 * The variables the stand-ins read that the product does not set for them (their invocation log): the product
 * passes them on only because `ECR_MIRROR_TOOL_ENV` lists them (children get an allow-listed environment).
 */
export const STAND_IN_TOOL_ENV = "STANDIN_LOG";

/** An environment whose PATH finds the stand-ins before anything else. */
export function standInEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ECR_MIRROR_TOOL_ENV: STAND_IN_TOOL_ENV,
    ...extra,
    PATH: `${STAND_IN_BIN}${delimiter}${process.env.PATH ?? ""}`,
  };
}

export interface StandInResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `crane` or `helm` from STAND_IN_BIN with an argv array; `input` goes to stdin. */
export function runStandIn(
  tool: "crane" | "helm",
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<StandInResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(STAND_IN_BIN, tool),
      args,
      { env: standInEnv(opts.env), cwd: opts.cwd, timeout: opts.timeoutMs ?? 30_000, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? "");
  });
}

export interface InvocationRecord {
  tool: "crane" | "helm";
  argv: string[];
  cwd: string;
  exitCode: number;
  durationMs: number;
  startedAt: string;
}

/** The records a STANDIN_LOG file holds, oldest first (empty when the file does not exist). */
export function readInvocationLog(path: string): InvocationRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as InvocationRecord);
}

/**
 * `ECR_MIRROR_REAL_TOOLS=1` (the GitHub workflow, with the real crane and helm on PATH): product-level tests run
 * the real tools instead of the stand-ins. The stand-ins' own tests keep testing the stand-ins.
 */
export const REAL_TOOLS = process.env.ECR_MIRROR_REAL_TOOLS === "1";

/** The crane or helm a product-level test runs: the stand-in, or with REAL_TOOLS the real one found on PATH. */
export function toolBinary(tool: "crane" | "helm"): string {
  if (!REAL_TOOLS) return join(STAND_IN_BIN, tool);
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "" || dir === STAND_IN_BIN) continue;
    const candidate = join(dir, tool);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`ECR_MIRROR_REAL_TOOLS=1 but no real ${tool} on PATH`);
}
