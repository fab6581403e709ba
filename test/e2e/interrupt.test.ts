// `ecr-mirror sync` stopped by Ctrl-C (SIGINT), `kill` (SIGTERM) or a closed terminal (SIGHUP) while a copy
// hangs: it exits with the shell's 128 + signal number and leaves no credential folder (ECR token, upstream
// passwords) behind in TMPDIR. The copy hangs on an "upstream" that accepts connections and never answers.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSION_DIR_PREFIX } from "../../src/tools/credentials.js";
import { processesNaming } from "../harness/processes.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS, standInEnv } from "../stand-ins/stand-ins.js";

const cli = join(import.meta.dirname, "..", "..", "dist", "cli.js");
const action = join(import.meta.dirname, "..", "..", "dist", "index.js");

let target: RunningRegistry;
let silent: Server;
let port: number;
const sockets = new Set<Socket>();
const connected: (() => void)[] = [];
let root: string;
let cache: string;

beforeAll(async () => {
  target = await startRegistry();
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    for (const wake of connected.splice(0)) wake();
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  port = (silent.address() as { port: number }).port;
  root = await mkdtemp(join(tmpdir(), "interrupt-"));
  cache = join(root, "cache");
  await plantToolCache(cache, "crane");
  await writeFile(
    join(root, "mirrors.yaml"),
    `version: 1\nupstreams:\n  docker.io:\n    endpoint: http://127.0.0.1:${port}\nimages:\n  - redis:7.0\n`,
  );
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy(); // the orphaned copies end with a reset
  await new Promise((resolve) => silent?.close(resolve));
  await target?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const sessions = (dir: string) => readdirSync(dir).filter((name) => name.startsWith(SESSION_DIR_PREFIX));

async function until(condition: () => boolean, what: string, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (child.exitCode !== null)
      throw new Error(`the sync ended (${child.exitCode}) before ${what}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within 20 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `node script args` in `cwd`, waits until its credential folder is in `temp` and its copy reaches the
 * silent upstream, sends `signal`, and checks what the user sees: exit `code`, "stopped by SIGNAL", no
 * credential folder left, no crane from this test's tool cache still running.
 */
async function interruptWhileCopying(
  run: { script: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv; temp: string },
  signal: NodeJS.Signals,
  code: number,
) {
  let output = "";
  let copying = false;
  connected.push(() => {
    copying = true;
  });
  const child = spawn(process.execPath, [run.script, ...run.args], {
    cwd: run.cwd,
    env: run.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  await until(
    () => sessions(run.temp).length === 1,
    "credential folder",
    child,
    () => output,
  );
  await until(
    () => copying,
    "copy reaching the upstream",
    child,
    () => output,
  );
  child.kill(signal);
  expect(await exited, output).toBe(code);
  expect(output).toContain(`stopped by ${signal}`);
  expect(sessions(run.temp)).toEqual([]);
  // The hanging crane copy went with it (the exit handler kills the children still running).
  await new Promise((r) => setTimeout(r, 200));
  expect(processesNaming(cache)).toEqual([]);
}

describe("ecr-mirror sync, interrupted while a copy hangs", () => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const)("%s: exits %i and removes the credential folder", async (signal, code) => {
    const temp = await mkdtemp(join(root, "tmp-"));
    const env = standInEnv({
      TMPDIR: temp,
      RUNNER_TEMP: undefined,
      RUNNER_TOOL_CACHE: cache,
      ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane,
      ECR_MIRROR_DOCKER_HUB_USERNAME: "someone",
      ECR_MIRROR_DOCKER_HUB_TOKEN: "dckr_pat_interruptTestToken",
    });
    await interruptWhileCopying(
      { script: cli, args: ["sync", "mirrors.yaml", "--registry-url", target.url], cwd: root, env, temp },
      signal,
      code,
    );
  });
});

describe("the action, cancelled while a copy hangs", () => {
  // The runner cancels a step with SIGINT, then SIGTERM; a SIGKILL after that is what the post step is for.
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)(
    "%s: exits %i, removes the credential folder from RUNNER_TEMP and stops crane",
    async (signal, code) => {
      const temp = await mkdtemp(join(root, "runner-temp-"));
      const workspace = await mkdtemp(join(root, "workspace-"));
      await writeFile(join(workspace, "mirrors.yaml"), readFileSync(join(root, "mirrors.yaml")));
      await Promise.all([writeFile(join(temp, "output"), ""), writeFile(join(temp, "summary.md"), "")]);
      const env = standInEnv({
        GITHUB_ACTIONS: "true",
        GITHUB_WORKSPACE: workspace,
        GITHUB_OUTPUT: join(temp, "output"),
        GITHUB_STEP_SUMMARY: join(temp, "summary.md"),
        RUNNER_TEMP: temp,
        RUNNER_TOOL_CACHE: cache,
        INPUT_MODE: "sync",
        "INPUT_MIRROR-FILE": "mirrors.yaml",
        "INPUT_REGISTRY-URL": target.url,
        "INPUT_RENDER-DIR": "",
        "INPUT_CRANE-VERSION": STAND_IN_TOOL_VERSIONS.crane,
        "INPUT_DOCKER-HUB-USERNAME": "someone",
        "INPUT_DOCKER-HUB-TOKEN": "dckr_pat_interruptTestToken",
      });
      await interruptWhileCopying({ script: action, args: [], cwd: workspace, env, temp }, signal, code);
    },
  );
});
