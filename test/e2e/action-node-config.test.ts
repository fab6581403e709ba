// The bundled action's node configuration step, against a bare "origin" the workspace was cloned from:
// nothing is written or committed after a failed step (commit-back says `skipped` and why), a render-dir
// ecr-mirror may not write is refused before anything is copied, and the committed folder carries the
// manifest of ecr-mirror's own files, so a later run replaces those and keeps the user's.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkOutputFolder, MANIFEST_FILE } from "../../src/git/output-folder.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { git } from "../harness/git.js";
import { pushImage, tagDigest } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { REAL_TOOLS, readInvocationLog } from "../stand-ins/stand-ins.js";
import { type ActionRunner, prepareRunner, runStep, SCHEDULED_ON_MAIN } from "./bundle.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let runner: ActionRunner;
let origin: string;

const githubEnv = () => ({ ...ecr.env(), ...SCHEDULED_ON_MAIN });

const inputs = (extra: Record<string, string> = {}) => ({
  mode: "sync",
  "mirror-file": "mirrors.yaml",
  "render-dir": "deploy/ecr-mirror",
  "commit-back": "push",
  "github-token": "ghs_dummy",
  ...extra,
});

/** Every entry below `dir` (links not followed, the runs' own output folders left out) with a content hash. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((path) => !/^run-|standin\.jsonl/.test(path))
    .sort()
    .map((path) => {
      const stat = lstatSync(join(dir, path));
      if (!stat.isFile()) return `${path}/`;
      return `${path} ${createHash("sha256")
        .update(readFileSync(join(dir, path)))
        .digest("hex")
        .slice(0, 12)}`;
    });
}

const copies = () => readInvocationLog(runner.standInLog).filter((r) => r.argv[0] === "copy").length;

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "e2e-node-config-"));
  runner = await prepareRunner(root);
  await pushImage(upstream.url, "library/redis", "7.0", { seed: "redis-7.0" });
  await pushImage(upstream.url, "aws-cli/aws-cli", "2.15.62", { seed: "aws-cli" });
  const workspace = runner.workspace;
  const upstreams = `upstreams:\n  docker.io: { endpoint: "http://${upstream.host}" }\n  public.ecr.aws: { endpoint: "http://${upstream.host}" }\n`;
  await writeFile(join(workspace, "mirrors.yaml"), `${upstreams}images:\n  - redis:7.0\n`);
  await writeFile(
    join(workspace, "mirrors-failing.yaml"),
    `${upstreams}images:\n  - redis:7.0\n  - redis:no-such-tag\n`,
  );
  await mkdir(join(workspace, "src"));
  await writeFile(join(workspace, "src", "app.ts"), "export const app = 1;\n");
  await writeFile(join(workspace, "sentinel.txt"), "keep me\n");
  origin = join(root, "origin.git");
  await git(root, "init", "-q", "--bare", "-b", "main", origin);
  await git(workspace, "init", "-q", "-b", "main");
  await git(workspace, "add", "-A");
  await git(workspace, "commit", "-q", "-m", "mirror list");
  await git(workspace, "remote", "add", "origin", origin);
  await git(workspace, "push", "-q", "origin", "main");
});

afterAll(async () => {
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the action's node configuration after a failed step", () => {
  it.each(["push", "none"])(
    "commit-back %s: writes and commits nothing, says skipped and why, and the step fails",
    async (mode) => {
      const head = await git(origin, "rev-parse", "main");
      const run = await runStep(
        runner,
        inputs({ "mirror-file": "mirrors-failing.yaml", "commit-back": mode }),
        githubEnv(),
      );
      expect(run.code).toBe(1);
      expect(run.outputs).toMatchObject({ failed: "1", "commit-back": "skipped" });
      expect(run.outputs["commit-back-reason"]).toBe(
        "1 step failed, so the node configuration in deploy/ecr-mirror was neither written nor committed",
      );
      expect(run.stdout).toContain("Node configuration skipped: 1 step failed");
      expect(run.stdout).toMatch(/::error::1 step failed: docker\.io\/library\/redis:no-such-tag/);
      expect(await git(origin, "rev-parse", "main")).toBe(head);
      expect(await git(origin, "rev-list", "--all", "--count")).toBe("1");
      expect(existsSync(join(runner.workspace, "deploy"))).toBe(false);
      expect(await git(runner.workspace, "status", "--porcelain")).toBe("");
      expect(run.outputs["commit-sha"]).toBeUndefined();
    },
  );
});

describe("the action refuses a render-dir it may not write, before anything is copied", () => {
  it.each([
    [".", /The output folder "\." is the workspace itself/],
    ["..", /The output folder "\.\." \(.*\) holds the workspace/],
    ["/", /The output folder "\/" \(\/\) holds the workspace/],
    ["../elsewhere", /is outside the workspace/],
    [".git", /is inside \.git/],
    ["src", /src is not empty and is not ecr-mirror's \(it has no \.ecr-mirror-files\)/],
  ])("render-dir: %s", async (renderDir, problem) => {
    // Interlock: only hand the folder to the action once the check itself is known to refuse it.
    await expect(checkOutputFolder(runner.workspace, renderDir)).rejects.toThrow(problem);
    const before = snapshot(root);
    const copied = copies();
    const head = await git(origin, "rev-parse", "main");
    const run = await runStep(runner, inputs({ "render-dir": renderDir }), githubEnv());
    expect(run.code).toBe(1);
    expect(run.outputs["commit-back"]).toBe("skipped");
    expect(run.outputs["commit-back-reason"]).toMatch(/^render-dir cannot be written: /);
    expect(run.outputs["commit-back-reason"]).toMatch(problem);
    expect(run.stdout).toMatch(/::error::.*Nothing was deleted or written\./);
    expect(run.stdout).toContain("Nothing was copied or committed.");
    expect(run.outputs.copied).toBeUndefined();
    if (!REAL_TOOLS) expect(copies()).toBe(copied);
    expect(snapshot(root)).toEqual(before);
    expect(readFileSync(join(runner.workspace, "sentinel.txt"), "utf8")).toBe("keep me\n");
    expect(await git(origin, "rev-parse", "main")).toBe(head);
  });
});

describe("the action's committed node configuration", () => {
  it("commits the files with their manifest, commits nothing when unchanged, and keeps a user's file in the folder", async () => {
    const first = await runStep(runner, inputs(), githubEnv());
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs).toMatchObject({ "commit-back": "committed", "commit-back-reason": "" });
    expect(await tagDigest(backing.url, "mirrors/library/redis", "7.0")).toBeTruthy();
    const manifest = await git(origin, "show", `main:deploy/ecr-mirror/${MANIFEST_FILE}`);
    expect(manifest.split("\n").filter((l) => !l.startsWith("#"))).toEqual([
      "README.md",
      "ecr-mirror-node.yaml",
      "hosts/docker.io/hosts.toml",
      "kustomization.yaml",
    ]);

    const head = await git(origin, "rev-parse", "main");
    const second = await runStep(runner, inputs(), githubEnv());
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.outputs).toMatchObject({
      "commit-back": "none",
      "commit-back-reason": "deploy/ecr-mirror is unchanged",
    });
    expect(await git(origin, "rev-parse", "main")).toBe(head);

    // A user adds their own file to the folder; the next render changes ecr-mirror's files only.
    await writeFile(join(runner.workspace, "deploy/ecr-mirror/patch.yaml"), "spec: {}\n");
    await git(runner.workspace, "add", "deploy/ecr-mirror/patch.yaml");
    await git(runner.workspace, "commit", "-q", "-m", "kustomize");
    await git(runner.workspace, "push", "-q", "origin", "main");
    const third = await runStep(runner, inputs({ "startup-taint": "true" }), githubEnv());
    expect(third.code, third.stdout + third.stderr).toBe(0);
    expect(third.outputs["commit-back"]).toBe("committed");
    expect(await git(origin, "show", "main:deploy/ecr-mirror/patch.yaml")).toBe("spec: {}");
    expect(await git(origin, "show", "main:deploy/ecr-mirror/nodeconfig.yaml")).toMatch(/taint/i);
  });
});
