// How tests reach the crane and helm stand-ins: the folder to put first on PATH, a runner,
// and the invocation log they append to (env STANDIN_LOG).
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assetFor } from "../../src/tools/assets.js";

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
  /** The environment the process got: each name with the first 16 hex of the SHA-256 of its value. */
  env: Record<string, string>;
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

/**
 * The versions tests install the stand-ins as. The default versions carry SHA-256 values built into the product,
 * which no stand-in archive matches (that is the point): a test that plants a tool in the cache names one of these
 * (`crane-version` / `helm-version`, `ECR_MIRROR_CRANE_VERSION` / `ECR_MIRROR_HELM_VERSION`, or `{ version }`).
 */
export const STAND_IN_TOOL_VERSIONS = { crane: "0.22.1-standin", helm: "4.3.0-standin" } as const;

/**
 * A tool-cache entry as the installer leaves it, holding the stand-in (or with REAL_TOOLS the real tool): the
 * archive with the executable inside, the executable (a symlink, so the stand-in finds its modules; its bytes are
 * the archive's), the archive's recorded SHA-256. The installer re-verifies all of it on the hit. Returns the
 * entry's folder.
 */
export async function plantToolCache(cacheRoot: string, tool: "crane" | "helm"): Promise<string> {
  const version = STAND_IN_TOOL_VERSIONS[tool];
  const asset = assetFor(tool, version, process.platform, process.arch);
  const dir = join(cacheRoot, `ecr-mirror-${tool}`, version, asset.cacheArch);
  await mkdir(dir, { recursive: true });
  const stage = await mkdtemp(join(tmpdir(), "stand-in-archive-"));
  try {
    await mkdir(join(stage, dirname(asset.binaryInArchive)), { recursive: true });
    await copyFile(toolBinary(tool), join(stage, asset.binaryInArchive));
    execFileSync("tar", ["-czf", join(dir, asset.archive), "-C", stage, asset.binaryInArchive]);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  await symlink(toolBinary(tool), join(dir, tool));
  const sha = createHash("sha256")
    .update(await readFile(join(dir, asset.archive)))
    .digest("hex");
  await writeFile(join(dir, "archive.sha256"), `${sha}\n`);
  await writeFile(`${dir}.complete`, "");
  return dir;
}
