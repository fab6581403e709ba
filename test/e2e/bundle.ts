// Runs the bundles (dist/index.js, dist/cli.js) the way the runner runs a step: a child process whose
// environment is exactly what is given (INPUT_* variables for the action), stdout and stderr captured whole,
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as files. A stale bundle is rebuilt before the tests (fresh-bundle.ts).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
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
export function runNode(script: string, args: string[], given: Record<string, string>, cwd: string) {
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

/** A small environment, as a runner gives a step: node, git and the basics on PATH, no stand-ins. */
export function baseEnv(): Record<string, string> {
  const path = (process.env.PATH ?? "")
    .split(":")
    .filter((d) => !d.includes("stand-ins"))
    .join(":");
  return { PATH: path, HOME: process.env.HOME ?? "/tmp", LANG: "C.UTF-8" };
}

export interface ActionRun extends ProcessRun {
  outputs: Record<string, string>;
  summary: string;
  outputFile: string;
  summaryFile: string;
}

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
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    "INPUT_CRANE-VERSION": STAND_IN_TOOL_VERSIONS.crane,
    ...env,
  };
  for (const [name, value] of Object.entries(inputs)) full[`INPUT_${name.toUpperCase()}`] = value;
  const run = await runNode(ACTION, [], full, cwd);
  return {
    ...run,
    outputs: parseOutputs(readFileSync(outputFile, "utf8")),
    summary: readFileSync(summaryFile, "utf8"),
    outputFile,
    summaryFile,
  };
}
