// Runs the bundles (dist/index.js, dist/cli.js) the way the runner runs a step: a child process, stdout and
// stderr captured whole, INPUT_* variables for the action's inputs, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as
// files. `runAction` gives the action exactly the environment it is given; `runStep` runs it on a runner's
// folders (`prepareRunner`) with this process's environment. A stale bundle is rebuilt before the tests
// (fresh-bundle.ts).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

export const ACTION = fileURLToPath(new URL("../../dist/index.js", import.meta.url));
export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bundle; crane is the planted stand-in's version unless `env` says otherwise. */
export function runNode(script: string, args: string[], given: NodeJS.ProcessEnv, cwd: string) {
  const env = { ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane, ...given };
  return new Promise<ProcessRun>((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c ?? -1, stdout, stderr }));
  });
}

/** `name<<delimiter\nvalue\ndelimiter` blocks, as @actions/core writes GITHUB_OUTPUT. */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    out[m[1]!] = value.join("\n");
  }
  return out;
}

export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/**
 * The tool cache holding the crane stand-in as the installer leaves it (verified on the hit); the bundles are
 * told its version (`crane-version`, ECR_MIRROR_CRANE_VERSION) by `runAction` and `runNode`.
 */
export async function toolCacheWithCrane(toolCache: string): Promise<void> {
  await plantToolCache(toolCache, "crane");
}

/** PATH without the stand-ins' folder: a bundle must take crane from the tool cache. */
function pathWithoutStandIns(): string {
  return (process.env.PATH ?? "")
    .split(":")
    .filter((d) => !d.includes("stand-ins"))
    .join(":");
}

/** A small environment, as a runner gives a step: node, git and the basics on PATH, no stand-ins. */
export function baseEnv(): Record<string, string> {
  return { PATH: pathWithoutStandIns(), HOME: process.env.HOME ?? "/tmp", LANG: "C.UTF-8" };
}

/** The parts of the action's report (`report-path`) the tests read. */
export interface ActionReport {
  ok: boolean;
  counts: Record<string, number>;
  processes: Record<string, number>;
  steps: { source: string | null; outcome: string; error: string | null; digest: string | null }[];
}

export interface ActionRun extends ProcessRun {
  outputs: Record<string, string>;
  summary: string;
  /** The report `report-path` names, read back; null when there is none. */
  report: ActionReport | null;
  outputFile: string;
  summaryFile: string;
}

/**
 * Runs dist/index.js in `cwd` with exactly `env` (plus GITHUB_ACTIONS and crane-version, which `env` and
 * `inputs` may override), GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as files in `dir`; asynchronously, since the
 * registries live in this process.
 */
export async function runAction(
  dir: string,
  inputs: Record<string, string>,
  env: Record<string, string>,
  cwd: string,
): Promise<ActionRun> {
  await mkdir(dir, { recursive: true });
  const outputFile = join(dir, "output");
  const summaryFile = join(dir, "summary.md");
  await Promise.all([writeFile(outputFile, ""), writeFile(summaryFile, "")]);
  const full: Record<string, string> = {
    GITHUB_ACTIONS: "true",
    "INPUT_CRANE-VERSION": STAND_IN_TOOL_VERSIONS.crane,
    ...env,
    // The files read back below, whatever the environment of this process says.
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
  };
  for (const [name, value] of Object.entries(inputs)) full[`INPUT_${name.toUpperCase()}`] = value;
  const run = await runNode(ACTION, [], full, cwd);
  const outputs = parseOutputs(readFileSync(outputFile, "utf8"));
  const reportPath = outputs["report-path"];
  return {
    ...run,
    outputs,
    summary: readFileSync(summaryFile, "utf8"),
    report: reportPath && existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, "utf8")) : null,
    outputFile,
    summaryFile,
  };
}

/** The variables the runner sets for a scheduled workflow run on main of github.com/org/platform. */
export const SCHEDULED_ON_MAIN: Readonly<Record<string, string>> = {
  GITHUB_EVENT_NAME: "schedule",
  GITHUB_REF_NAME: "main",
  GITHUB_REF_TYPE: "branch",
  GITHUB_REPOSITORY: "org/platform",
  GITHUB_SERVER_URL: "https://github.com",
  GITHUB_API_URL: "https://api.github.com",
};

/** A runner's folders: the workspace (the step's working directory), RUNNER_TEMP, the tool cache. */
export interface ActionRunner {
  root: string;
  workspace: string;
  runnerTemp: string;
  toolCache: string;
  /** STANDIN_LOG: the stand-ins' invocation log. */
  standInLog: string;
}

/** A runner's folders under `root`, the tool cache holding crane. */
export async function prepareRunner(root: string): Promise<ActionRunner> {
  const runner = {
    root,
    workspace: join(root, "workspace"),
    runnerTemp: join(root, "runner-temp"),
    toolCache: join(root, "tool-cache"),
    standInLog: join(root, "standin.jsonl"),
  };
  await Promise.all([mkdir(runner.runnerTemp), mkdir(runner.workspace)]);
  // A stand-in version: the default ones are verified against SHA-256 values built into the product.
  await toolCacheWithCrane(runner.toolCache);
  return runner;
}

/**
 * Runs the action as a step on `runner`: this process's environment (without its INPUT_* variables), the
 * runner's folders, no stand-ins on PATH, then `extraEnv`; GITHUB_OUTPUT and the summary in a new `run-*`
 * folder under the runner's root.
 */
export async function runStep(
  runner: ActionRunner,
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {},
): Promise<ActionRun> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("INPUT_")) env[k] = v;
  Object.assign(env, {
    GITHUB_WORKSPACE: runner.workspace,
    RUNNER_TEMP: runner.runnerTemp,
    RUNNER_TOOL_CACHE: runner.toolCache,
    STANDIN_LOG: runner.standInLog,
    PATH: pathWithoutStandIns(),
    ...extraEnv,
  });
  return runAction(await mkdtemp(join(runner.root, "run-")), inputs, env, runner.workspace);
}
