// The sharded sync end to end, as the reusable workflow runs it: the bundled action as separate processes (the
// plan job, the seed shard, three sync shards at once, the merge job) against a real upstream registry holding
// layered images and the gated local ECR, with crane (the stand-in) from the tool cache and a bare "origin" the
// workspace was cloned from. Then a shard killed half-way through and run again.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { git } from "../harness/git.js";
import { type LayeredImage, pushLayered, uniqueBlobBytes } from "../harness/layered-images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { readInvocationLog, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";
import {
  type ActionRun,
  type ActionRunner,
  CLI,
  prepareRunner,
  runStep,
  SCHEDULED_ON_MAIN,
} from "./bundle.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let runner: ActionRunner;
let origin: string;
const images: LayeredImage[] = [];

/** 12 application images over 3 base images, 3 of them for two platforms; and the node configurator's image. */
const CORPUS = Array.from({ length: 12 }, (_, i) => ({
  repo: `team/app${i}`,
  base: ["debian", "alpine", "ubuntu"][i % 3]!,
  ...(i % 4 === 1 ? { platforms: ["linux/amd64", "linux/arm64"] } : {}),
}));

const list = (prefix: string) => `version: 1
target:
  type: ecr
  imagePrefix: ${prefix}
upstreams:
  docker.io: { endpoint: "http://${upstream.host}" }
  public.ecr.aws: { endpoint: "http://${upstream.host}" }
images:
${CORPUS.map((c) => `  - ${c.repo}:1`).join("\n")}
`;

const env = () => ({ ...ecr.env(), ...SCHEDULED_ON_MAIN });

/** crane copies into repositories under `prefix`, by destination. */
function copiesInto(prefix: string): string[] {
  return readInvocationLog(runner.standInLog)
    .filter((r) => r.argv[0] === "copy")
    .map((r) => r.argv[2] ?? "")
    .filter((dst) => dst.includes(`/${prefix}/`));
}

/** Blob bytes the gate received for repositories under `prefix`. */
function bytesInto(prefix: string): number {
  return ecr
    .gateRequests()
    .filter((r) => r.kind === "blob-upload" && (r.method === "PUT" || r.method === "PATCH"))
    .filter((r) => r.path.includes(`/${prefix}/`))
    .reduce((n, r) => n + r.bytes, 0);
}

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing, blobMounting: "ENABLED" });
  root = await mkdtemp(join(tmpdir(), "e2e-sharded-"));
  runner = await prepareRunner(root);
  for (const c of CORPUS)
    images.push(
      await pushLayered(upstream.url, c.repo, "1", {
        base: c.base,
        app: c.repo,
        ...(c.platforms ? { platforms: c.platforms } : {}),
      }),
    );
  await pushLayered(upstream.url, "aws-cli/aws-cli", "2.15.62", { base: "amazonlinux", app: "aws-cli" });
  const workspace = runner.workspace;
  for (const prefix of ["single", "sharded", "killed"])
    await writeFile(join(workspace, `${prefix}.yaml`), list(prefix));
  origin = join(root, "origin.git");
  await git(root, "init", "-q", "--bare", "-b", "main", origin);
  await git(workspace, "init", "-q", "-b", "main");
  await git(workspace, "add", "-A");
  await git(workspace, "commit", "-q", "-m", "mirror lists");
  await git(workspace, "remote", "add", "origin", origin);
  await git(workspace, "push", "-q", "origin", "main");
}, 120_000);

afterAll(async () => {
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

const commits = async () => Number((await git(origin, "rev-list", "--count", "main")).trim());

function expectGreen(run: ActionRun, what: string) {
  expect(run.code, `${what}:\n${run.stdout}\n${run.stderr}`).toBe(0);
}

describe("a sharded sync through the action (plan, seed, 3 shards at once, merge)", () => {
  it("copies every tag once, renders and commits once, and sums up as one unsharded sync does", async () => {
    // The reference: one job, the same list under another prefix.
    const single = await runStep(
      runner,
      {
        mode: "sync",
        "mirror-file": "single.yaml",
        "render-dir": "deploy/single",
        "commit-back": "none",
        "report-path": join(runner.runnerTemp, "single.json"),
      },
      env(),
    );
    expectGreen(single, "unsharded sync");

    const before = await commits();
    ecr.resetCounts();
    const plan = await runStep(
      runner,
      {
        mode: "plan",
        "mirror-file": "sharded.yaml",
        "render-dir": "deploy/ecr-mirror",
        shards: "3",
        "max-parallel": "3",
        "shard-plan": "shard-plans",
      },
      env(),
    );
    expectGreen(plan, "plan");
    const matrix = JSON.parse(plan.outputs.matrix!) as { include: { shard: number }[] };
    expect(matrix).toEqual({ include: [{ shard: 1 }, { shard: 2 }, { shard: 3 }] });
    // The plan job changes nothing in the target.
    expect(ecr.gateRequests().filter((r) => !["GET", "HEAD"].includes(r.method))).toEqual([]);

    const shard = (k: number) =>
      runStep(
        runner,
        {
          mode: "sync",
          "mirror-file": "sharded.yaml",
          "render-dir": "deploy/ecr-mirror",
          "shard-plan": "shard-plans",
          shard: String(k),
          "report-path": join(runner.runnerTemp, "reports", `shard-${k}.json`),
        },
        env(),
      );
    const seed = await shard(0);
    expectGreen(seed, "seed");
    const shards = await Promise.all(matrix.include.map((m) => shard(m.shard)));
    for (const [i, s] of shards.entries()) expectGreen(s, `shard ${i + 1}`);
    // Shards render and commit nothing: that is the merge's.
    expect(await commits()).toBe(before);
    for (const s of [seed, ...shards]) expect(s.outputs["commit-back"]).toBeUndefined();
    // The seed created every repository; no sync shard created one.
    expect(seed.report!.counts.created).toBe(CORPUS.length + 1);
    for (const s of shards) expect(s.report!.counts.created).toBe(0);

    const merge = await runStep(
      runner,
      {
        mode: "merge",
        "mirror-file": "sharded.yaml",
        "render-dir": "deploy/ecr-mirror",
        "commit-back": "push",
        "github-token": "ghs_dummy",
        "shard-reports": join(runner.runnerTemp, "reports"),
      },
      env(),
    );
    expectGreen(merge, "merge");

    // Every tag copied exactly once, across all shards.
    const copied = copiesInto("sharded");
    expect(copied.length).toBe(CORPUS.length + 1);
    expect(new Set(copied).size).toBe(copied.length);
    // One render, one commit.
    expect(await commits()).toBe(before + 1);
    expect(merge.outputs["commit-back"]).toBe("committed");
    const files = await git(origin, "show", "--stat", "--format=", "main");
    expect(files).toContain("deploy/ecr-mirror/");
    const hosts = await git(origin, "show", "main:deploy/ecr-mirror/kustomization.yaml");
    expect(hosts.length).toBeGreaterThan(0);
    // The merged report and summary say what one job says.
    const counts = (r: ActionRun) => r.report!.counts;
    expect(counts(merge)).toEqual(counts(single));
    expect(merge.report!.ok).toBe(true);
    expect(merge.summary).toContain(`**${CORPUS.length + 1} copied**`);
    expect(merge.summary).toContain(`${CORPUS.length + 1} repositories created`);
    // Shared layers crossed once for the whole set: the seed brought them, the shards mounted them.
    const floor = uniqueBlobBytes(images);
    expect(bytesInto("sharded")).toBeLessThanOrEqual(floor * 1.05 + 70_000);
  }, 240_000);
});

describe("a shard killed half-way", () => {
  it("copies only what is still missing when it runs again", async () => {
    const dir = join(runner.runnerTemp, "killed-plans");
    const plan = await runStep(
      runner,
      { mode: "plan", "mirror-file": "killed.yaml", shards: "1", "shard-plan": dir },
      env(),
    );
    expectGreen(plan, "plan");
    const seed = await runStep(
      runner,
      { mode: "sync", "mirror-file": "killed.yaml", "shard-plan": dir, shard: "0" },
      env(),
    );
    expectGreen(seed, "seed");
    const shardPlan = JSON.parse(readFileSync(join(dir, "shard-1.json"), "utf8")) as { entries: unknown[] };
    const entries = shardPlan.entries.length;
    expect(entries).toBeGreaterThanOrEqual(6);

    // One copy at a time, one manifest a second: slow enough to stop it after two copies.
    const args = [
      "sync",
      "killed.yaml",
      "--plan",
      dir,
      "--shard",
      "1",
      "--concurrency",
      "1",
      "--put-image-rate",
      "1",
    ];
    const childEnv = {
      ...process.env,
      ...ecr.env(),
      RUNNER_TOOL_CACHE: runner.toolCache,
      RUNNER_TEMP: runner.runnerTemp,
      STANDIN_LOG: runner.standInLog,
      ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane,
    };
    const child = spawn(process.execPath, [CLI, ...args], { cwd: runner.workspace, env: childEnv });
    let output = "";
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const copiedBefore = copiesInto("killed").length;
    const deadline = Date.now() + 60_000;
    while (copiesInto("killed").length - copiedBefore < 2) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no two copies:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    const done = new Set(copiesInto("killed").slice(copiedBefore));
    expect(done.size).toBeLessThan(entries);

    await mkdir(join(root, "rerun"), { recursive: true });
    const report = join(root, "rerun", "report.json");
    const rerun = await new Promise<number | null>((resolve) => {
      const again = spawn(
        process.execPath,
        [CLI, "sync", "killed.yaml", "--plan", dir, "--shard", "1", "--report", report],
        {
          cwd: runner.workspace,
          env: childEnv,
          stdio: "ignore",
        },
      );
      again.on("close", resolve);
    });
    expect(rerun).toBe(0);
    const again = copiesInto("killed").slice(copiedBefore + done.size);
    // The rerun copied the rest, none of what the killed run had finished.
    expect(again.filter((d) => done.has(d))).toEqual([]);
    const json = JSON.parse(readFileSync(report, "utf8")) as { counts: { copied: number; present: number } };
    expect(json.counts.copied + json.counts.present).toBe(entries);
    expect(json.counts.copied).toBe(again.length);
  }, 180_000);
});
