// Runs the bundled action (dist/index.js; rebuilt first when stale, fresh-bundle.ts) the way the runner runs it:
// INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP, RUNNER_TOOL_CACHE holding crane (the
// stand-in, or the real one under ECR_MIRROR_REAL_TOOLS=1), the local ECR's endpoint. The same steps as
// action-sync.test.ts's own runner, shared by the newer e2e files.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

const ACTION = fileURLToPath(new URL("../../dist/index.js", import.meta.url));

export interface ActionRunner {
  root: string;
  workspace: string;
  runnerTemp: string;
  toolCache: string;
  standInLog: string;
}

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  report: { ok: boolean; counts: Record<string, number> } | null;
}

/** A runner's folders under `root` (workspace, RUNNER_TEMP, a tool cache holding crane). */
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
  await plantToolCache(runner.toolCache, "crane");
  return runner;
}

/** `name<<delimiter\nvalue\ndelimiter` blocks, as @actions/core writes GITHUB_OUTPUT. */
function parseOutputs(text: string): Record<string, string> {
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

/** Runs dist/index.js with these inputs; asynchronously, since the registries live in this process. */
export async function runAction(
  runner: ActionRunner,
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {},
): Promise<ActionRun> {
  const run = await mkdtemp(join(runner.root, "run-"));
  const outputFile = join(run, "output");
  const summaryFile = join(run, "summary.md");
  await Promise.all([writeFile(outputFile, ""), writeFile(summaryFile, "")]);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("INPUT_")) env[k] = v;
  Object.assign(env, {
    GITHUB_ACTIONS: "true",
    GITHUB_WORKSPACE: runner.workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: runner.runnerTemp,
    RUNNER_TOOL_CACHE: runner.toolCache,
    STANDIN_LOG: runner.standInLog,
    // No crane on PATH: the action must take it from the tool cache.
    PATH: (process.env.PATH ?? "")
      .split(":")
      .filter((d) => !d.includes("stand-ins"))
      .join(":"),
    ...extraEnv,
  });
  const all = { "crane-version": STAND_IN_TOOL_VERSIONS.crane, ...inputs };
  for (const [name, value] of Object.entries(all)) env[`INPUT_${name.toUpperCase()}`] = value;
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, [ACTION], {
        cwd: runner.workspace,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c ?? -1, stdout: out, stderr: err }));
    },
  );
  const outputs = parseOutputs(readFileSync(outputFile, "utf8"));
  const reportPath = outputs["report-path"];
  return {
    code,
    stdout,
    stderr,
    outputs,
    summary: readFileSync(summaryFile, "utf8"),
    report: reportPath && existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, "utf8")) : null,
  };
}
