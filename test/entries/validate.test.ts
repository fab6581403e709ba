// The bundled entries, run as processes the way a user and the runner run them.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runNode } from "../e2e/bundle.js";

const repo = join(import.meta.dirname, "..", "..");
const cli = join(repo, "dist", "cli.js");
const action = join(repo, "dist", "index.js");

/** `node args` in `cwd` (this one unless given) with `env` (this process's unless given). */
const node = ([script, ...args]: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  runNode(script!, args, options.env ?? process.env, options.cwd ?? process.cwd());

describe("ecr-mirror validate (dist/cli.js)", () => {
  it("prints one JSON document for the example and exits 0", async () => {
    const r = await node([cli, "validate", "examples/mirrors.yaml", "--json"], { cwd: repo });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.images[0]).toEqual({
      source: "docker.io/library/redis:7.4",
      repository: "mirrors/library/redis",
      tag: "7.4",
      digest: null,
    });
    expect(doc.charts.map((c: { repository: string }) => c.repository)).toEqual([
      "charts/ingress-nginx",
      "charts/prometheus-node-exporter",
    ]);
  });

  it("reports located errors on stderr (and with --json as JSON on stdout), exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecr-mirror-cli-"));
    writeFileSync(join(dir, "mirrors.yaml"), "images:\n  - Redis:7.0\n  - nginx\n");
    const r = await node([cli, "validate", "--json"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).problems.map((p: { line: number }) => p.line)).toEqual([2, 3]);
    const lines = r.stderr.split("\n").filter((l) => /^mirrors\.yaml:\d+:\d+: /.test(l));
    expect(lines).toEqual([
      expect.stringMatching(/^mirrors\.yaml:2:5: error: invalid image reference "Redis:7.0"/),
      expect.stringMatching(/^mirrors\.yaml:3:5: error: "nginx" names no tag or digest/),
    ]);
    expect(r.stderr).toContain("hint: ");
    expect(r.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
  });

  it("says clearly when the file is missing", async () => {
    const r = await node([cli, "validate", "nope.yaml"], { cwd: tmpdir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nope.yaml:1:1: error: cannot read the mirror list: no such file");
  });

  it("rejects unknown commands and options with usage and exit 2", async () => {
    expect((await node([cli, "frobnicate"])).code).toBe(2);
    const r = await node([cli, "validate", "--jsno"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Usage: ecr-mirror");
  });

  it("names the command or flag it did not know, and the one meant, instead of Node's parser text", async () => {
    const typo = await node([cli, "sycn"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr.split("\n")[0]).toBe('ecr-mirror: unknown command "sycn"; did you mean "sync"?');
    const flag = await node([cli, "validate", "--jsno"]);
    expect(flag.stderr.split("\n")[0]).toBe("ecr-mirror validate: unknown flag --jsno; did you mean --json?");
    expect(flag.stderr).not.toMatch(/To specify a positional argument/);
    const value = await node([cli, "plan", "--region"]);
    expect(value.code).toBe(2);
    expect(value.stderr.split("\n")[0]).toBe("ecr-mirror plan: --region needs a value");
    expect((await node([cli, "frobnicate"])).stderr.split("\n")[0]).toBe(
      'ecr-mirror: unknown command "frobnicate"',
    );
  });
});

describe("the action (dist/index.js) in validate mode", () => {
  function runnerEnv(workspace: string, inputs: Record<string, string>) {
    const output = join(workspace, "github_output");
    writeFileSync(output, "");
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GITHUB_WORKSPACE: workspace,
      GITHUB_OUTPUT: output,
    };
    for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    return { env, output };
  }

  it("annotates each bad entry on its line and fails the step", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ecr-mirror-action-"));
    writeFileSync(join(ws, "list.yaml"), "images:\n  - redis:7.0\n  - Redis:7.0\n");
    const { env } = runnerEnv(ws, { "mirror-file": "list.yaml", mode: "validate" });
    const r = await node([action], { cwd: ws, env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^::error title=Invalid mirror list,file=list\.yaml,line=3,col=5::invalid image reference "Redis:7\.0"/m,
    );
    expect(r.stdout).toMatch(/^::error::list\.yaml has 1 error; nothing was copied or committed\.$/m);
    expect(r.stdout).not.toMatch(/\s+at .*\.js:\d+:\d+/);
  });

  it("caps annotations at GitHub's ten errors and counts the rest in a notice", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ecr-mirror-action-"));
    const bad = Array.from({ length: 13 }, (_, i) => `  - Bad${i}:1`).join("\n");
    writeFileSync(join(ws, "mirrors.yaml"), `images:\n${bad}\n`);
    const { env } = runnerEnv(ws, {});
    const r = await node([action], { cwd: ws, env });
    expect(r.stdout.match(/^::error title=Invalid mirror list/gm)).toHaveLength(10);
    expect(r.stdout).toMatch(
      /^::notice title=More mirror-list problems,file=mirrors\.yaml::3 more errors not annotated/m,
    );
  });

  it("sets outputs for a valid list", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ecr-mirror-action-"));
    writeFileSync(
      join(ws, "mirrors.yaml"),
      "images:\n  - redis:7.0\n  - source: nginx\n    tags: ['1', '2']\n",
    );
    const { env, output } = runnerEnv(ws, {});
    const r = await node([action], { cwd: ws, env });
    expect(r.code).toBe(0);
    const out = readFileSync(output, "utf8");
    expect(out).toMatch(/^images<<ghadelimiter_[\w-]+\n3\n/m);
  });
});

describe("the runtime", () => {
  it("is Node 24, what action.yml declares (runs.using: node24)", () => {
    expect(readFileSync(join(repo, "action.yml"), "utf8")).toMatch(/^ {2}using: node24$/m);
    expect(process.versions.node.split(".")[0]).toBe("24");
  });
});

describe("the action's post step (dist/post.js)", () => {
  it("removes credential folders an interrupted run left in RUNNER_TEMP, and nothing else", async () => {
    const temp = mkdtempSync(join(tmpdir(), "ecr-mirror-post-"));
    const left = join(temp, "ecr-mirror-credentials-abc123");
    mkdirSync(join(left, "docker"), { recursive: true });
    writeFileSync(join(left, "docker", "config.json"), '{"auths":{"r":{"auth":"QVdTOnNlY3JldA=="}}}');
    writeFileSync(join(temp, "ecr-mirror-report.json"), "{}");
    const r = await node([join(repo, "dist", "post.js")], {
      env: { PATH: process.env.PATH, RUNNER_TEMP: temp },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Removed 1 credential folder(s)");
    expect(readdirSync(temp)).toEqual(["ecr-mirror-report.json"]);
  });
});
