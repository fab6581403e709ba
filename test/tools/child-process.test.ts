// Every external process: an allow-listed environment, a stall timeout that stops a copy from an upstream that
// never answers (and leaves no process behind), an overall limit, bounded output. Real children only: the crane
// stand-in against a TCP server that accepts and never answers, small scripts, real git.
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Git } from "../../src/git/git.js";
import { childEnv, extraEnvNames } from "../../src/tools/child-env.js";
import { Crane } from "../../src/tools/crane.js";
import { Helm } from "../../src/tools/helm.js";
import { runTool, ToolError } from "../../src/tools/runner.js";
import { toolBinary } from "../stand-ins/stand-ins.js";

const PLANTED: Record<string, string> = {
  AWS_ACCESS_KEY_ID: "AKIAPLANTEDPLANTED00",
  AWS_SECRET_ACCESS_KEY: "planted-aws-secret-access-key",
  AWS_SESSION_TOKEN: "planted-aws-session-token",
  "INPUT_GITHUB-TOKEN": "ghs_plantedgithubinputtoken",
  "INPUT_DOCKER-HUB-TOKEN": "dckr_pat_planted",
  "INPUT_DOCKER-HUB-USERNAME": "planted-user",
  GITHUB_TOKEN: "ghs_plantedgithubtoken",
  ACTIONS_RUNTIME_TOKEN: "planted-actions-runtime-token",
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: "planted-oidc-request-token",
  ACTIONS_ID_TOKEN_REQUEST_URL: "http://127.0.0.1:1/planted-oidc",
  DOCKER_CONFIG: "/planted/home/.docker",
  HELM_REGISTRY_CONFIG: "/planted/helm/registry.json",
};

let dir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ecr-mirror-child-process-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    delete saved[k];
  }
});

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!(k in saved)) saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** The names in `env -0` output. */
function names(envOutput: string): string[] {
  return envOutput
    .split("\n")
    .map((l) => l.split("=")[0] ?? "")
    .filter((n) => n !== "");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a child's environment is allow-listed", () => {
  it("crane, helm and git see none of the credentials in this process's environment", async () => {
    setEnv({ ...PLANTED, ECR_MIRROR_TOOL_ENV: undefined });
    const printEnv = await script("print-env", "env");
    const { stdout: craneEnv } = await runTool(
      "crane",
      { binary: printEnv, env: { DOCKER_CONFIG: join(dir, "session", "docker") } },
      { subcommand: "copy", args: [], action: "crane copy a -> b" },
    );
    const { stdout: helmEnv } = await runTool(
      "helm",
      { binary: printEnv, env: { HELM_CONFIG_HOME: join(dir, "session", "helm", "config") } },
      { subcommand: "pull", args: [], action: "helm pull a" },
    );
    await writeFile(join(dir, "README"), "x");
    execFileSync("git", ["init", "-q", dir]);
    const git = new Git(dir, { serverUrl: "https://github.com", token: "ghs_plantedgithubtoken" }, (t) => t);
    const gitEnv = await git.output(["-c", "alias.printenv=!env", "printenv"]);
    for (const [who, text] of [
      ["crane", craneEnv],
      ["helm", helmEnv],
      ["git", gitEnv],
    ] as const) {
      const seen = names(text);
      for (const name of Object.keys(PLANTED)) {
        if (name === "DOCKER_CONFIG" && who !== "git") continue; // checked below: the session's, not this one
        expect(seen, `${who} sees ${name}`).not.toContain(name);
      }
      for (const value of Object.values(PLANTED)) expect(text, who).not.toContain(value);
      expect(seen, who).toContain("PATH");
      expect(seen, who).toContain("HOME");
    }
    // The product's own settings do arrive; helm's DOCKER_CONFIG points into its session, never at ~/.docker.
    expect(craneEnv).toContain(`DOCKER_CONFIG=${join(dir, "session", "docker")}\n`);
    expect(helmEnv).toContain(`DOCKER_CONFIG=${join(dir, "session", "helm", "config", "docker")}\n`);
    expect(gitEnv).toContain("GIT_TERMINAL_PROMPT=0");
  });

  it("passes the names listed in ECR_MIRROR_TOOL_ENV, and refuses secret-looking ones with a hint", async () => {
    const printEnv = await script("print-env-2", "env");
    setEnv({ ECR_MIRROR_TOOL_ENV: "GODEBUG, MY_SETTING", GODEBUG: "http2debug=1", MY_SETTING: "on" });
    const { stdout } = await runTool(
      "crane",
      { binary: printEnv },
      { subcommand: "version", args: [], action: "crane version" },
    );
    expect(stdout).toContain("GODEBUG=http2debug=1\n");
    expect(stdout).toContain("MY_SETTING=on\n");

    for (const name of [
      "AWS_SECRET_ACCESS_KEY",
      "INPUT_GITHUB-TOKEN",
      "GITHUB_TOKEN",
      "ACTIONS_RUNTIME_TOKEN",
      "MY_API_KEY",
      "DB_PASSWORD",
    ]) {
      expect(() => extraEnvNames(`GODEBUG,${name}`), name).toThrow(
        /looks like a credential|not an environment/,
      );
    }
    setEnv({ ECR_MIRROR_TOOL_ENV: "GODEBUG,AWS_SESSION_TOKEN", AWS_SESSION_TOKEN: "planted" });
    const error = (await runTool(
      "crane",
      { binary: printEnv },
      { subcommand: "version", args: [], action: "crane version" },
    ).catch((e) => e)) as ToolError;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(
      /ECR_MIRROR_TOOL_ENV lists AWS_SESSION_TOKEN, which looks like a credential/,
    );
    expect(error.hint).toMatch(/remove the name from ECR_MIRROR_TOOL_ENV/);
    expect(error.message).not.toContain("planted");
  });

  it("childEnv takes nothing but the allow-list from the parent", () => {
    const env = childEnv("crane", {
      ...PLANTED,
      PATH: "/bin",
      https_proxy: "http://proxy:3128",
      LC_ALL: "C",
    });
    expect(env).toEqual({ PATH: "/bin", https_proxy: "http://proxy:3128", LC_ALL: "C" });
  });
});

describe("bounds on every tool process", () => {
  let server: Server;
  let port: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // An upstream that accepts connections and never answers: a stalled registry.
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("stops a crane copy from an upstream that never answers after the stall timeout, and leaves no process", async () => {
    const pidFile = join(dir, "stalled.pid");
    // The stand-in crane, started through a wrapper that records its pid (exec: the same process).
    const wrapper = await script("crane-pid", `echo $$ > "${pidFile}"\nexec "${toolBinary("crane")}" "$@"`);
    const crane = new Crane({
      binary: wrapper,
      limits: { stallTimeoutMs: 600, pollMs: 50, killGraceMs: 500 },
    });
    const started = Date.now();
    const error = (await crane
      .copy(`127.0.0.1:${port}/library/redis:7.0`, "127.0.0.1:1/mirrors/library/redis:7.0")
      .catch((e) => e)) as ToolError;
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.failure).toBe("stalled");
    expect(error.message).toMatch(
      /^crane copy 127\.0\.0\.1:\d+\/library\/redis:7\.0 -> .* stalled: no output and no network or disk activity for 0\.6 s \(stall timeout, tool-stall-timeout\); crane copy was stopped/,
    );
    expect(error.hint).toMatch(/tool-stall-timeout input \(CLI: --tool-stall-timeout SECONDS\)/);
    expect(sockets.length).toBeGreaterThan(0); // it did reach the upstream
    expect(elapsed).toBeLessThan(10_000);
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    expect(alive(pid)).toBe(false);
  });

  it("does not stop a process that keeps making progress past the stall timeout", async () => {
    // Silent on stdout and stderr, but writing to a file every 50 ms: I/O the stall detection sees.
    const busy = await script(
      "busy",
      `exec node -e 'const fs=require("fs");let n=0;const t=setInterval(()=>{fs.writeFileSync("${join(dir, "busy.out")}", String(n++));if(n>=30){clearInterval(t);}},50)'`,
    );
    const started = Date.now();
    await runTool(
      "crane",
      { binary: busy, limits: { stallTimeoutMs: 400, pollMs: 50 } },
      { subcommand: "copy", args: [], action: "crane copy big -> target" },
    );
    expect(Date.now() - started).toBeGreaterThan(1_000); // 1.5 s of work, well past the 0.4 s stall timeout
  });

  it("stops a process that streams output but runs past the overall limit", async () => {
    const chatty = await script("chatty", "while :; do echo working; sleep 0.05; done");
    const error = (await runTool(
      "helm",
      { binary: chatty, limits: { stallTimeoutMs: 60_000, timeoutMs: 500, killGraceMs: 200 } },
      { subcommand: "pull", args: [], action: "helm pull web 1.0.0" },
    ).catch((e) => e)) as ToolError;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.failure).toBe("timeout");
    expect(error.message).toMatch(
      /^helm pull web 1\.0\.0 timed out: still running after 0\.5 s \(overall limit for helm pull\); it was stopped/,
    );
    expect(error.hint).toMatch(/tool-timeout/);
  });

  it("kills a process that ignores SIGTERM after the grace period", async () => {
    const pidFile = join(dir, "stubborn.pid");
    const stubborn = await script(
      "stubborn",
      `echo $$ > "${pidFile}"\ntrap '' TERM\nwhile :; do sleep 0.05; done`,
    );
    const started = Date.now();
    const error = (await runTool(
      "crane",
      { binary: stubborn, limits: { timeoutMs: 300, killGraceMs: 300 } },
      { subcommand: "copy", args: [], action: "crane copy a -> b" },
    ).catch((e) => e)) as ToolError;
    expect(error.failure).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(alive(Number((await readFile(pidFile, "utf8")).trim()))).toBe(false);
  });

  it("fails helm template output past the output limit, naming it", async () => {
    const flood = await script("flood", "exec yes 'kind: ConfigMap'");
    const helm = new Helm({
      binary: flood,
      registryConfig: "/dev/null",
      limits: { maxStdoutBytes: 1024 * 1024 },
    });
    const error = (await helm.template("web", "/charts/web-1.0.0.tgz").catch((e) => e)) as ToolError;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.failure).toBe("output-limit");
    expect(error.message).toMatch(
      /^helm template web \/charts\/web-1\.0\.0\.tgz printed more than 1 MiB on stdout \(output limit for helm template\)/,
    );
  });

  it("keeps only the tail of a long stderr, with the error the tool printed last", async () => {
    const noisy = await script(
      "noisy",
      "i=0; while [ $i -lt 20000 ]; do echo 'progress line that repeats itself many times over' >&2; i=$((i+1)); done; echo 'Error: the last word' >&2; exit 3",
    );
    const error = (await runTool(
      "crane",
      { binary: noisy },
      { subcommand: "copy", args: [], action: "crane copy a -> b" },
    ).catch((e) => e)) as ToolError;
    expect(error.failure).toBe("exit");
    expect(error.exitCode).toBe(3);
    expect(error.output).toMatch(/Error: the last word$/);
  });
});
