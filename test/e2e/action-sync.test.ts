// End to end: the bundled action (dist/index.js, rebuilt first when src/ moved on: fresh-bundle.ts)
// run the way the runner runs it (INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP,
// RUNNER_TOOL_CACHE) against an upstream registry with single- and multi-platform images and the gated local ECR,
// with crane (the stand-in, or the real one under ECR_MIRROR_REAL_TOOLS=1) waiting in the tool cache.
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHART_IMAGES_FILE, formatChartImagesRecord, valuesSha256 } from "../../src/render/chart-images.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { git } from "../harness/git.js";
import { moveTag, type PushedIndex, pushImage, pushIndex, tagDigest } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { REAL_TOOLS, readInvocationLog } from "../stand-ins/stand-ins.js";
import {
  type ActionRun,
  type ActionRunner,
  listFiles,
  prepareRunner,
  runStep,
  SCHEDULED_ON_MAIN,
} from "./bundle.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let runner: ActionRunner;
let workspace: string;
let redisDigest: string;
let nginx: PushedIndex;
let alpineDigest: string;

const LIST = (extra: string[] = []) => `version: 1
target:
  type: ecr
  repositorySettings:
    imageTagMutability: IMMUTABLE_WITH_EXCLUSION
    imageTagMutabilityExclusionFilters: ["7.0"]
upstreams:
  docker.io:
    endpoint: http://${upstream.host}
images:
  - redis:7.0
  - nginx:1.27
  - source: nginx
    tags: ["1.27-arm64"]
    platforms: [linux/arm64]
${extra.map((e) => `  - ${e}`).join("\n")}
`;

const runs: ActionRun[] = [];

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "e2e-action-"));
  // The tool cache as @actions/tool-cache lays it out, holding crane under ecr-mirror's own cache name.
  runner = await prepareRunner(root);
  workspace = runner.workspace;

  redisDigest = (await pushImage(upstream.url, "library/redis", "7.0", { seed: "redis-7.0" })).digest;
  nginx = await pushIndex(upstream.url, "library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "nginx-1.27",
  });
  await pushIndex(upstream.url, "library/nginx", "1.27-arm64", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "nginx-1.27",
  });
  alpineDigest = (await pushImage(upstream.url, "library/alpine", "3.20", { seed: "alpine" })).digest;
  await writeFile(join(workspace, "mirrors.yaml"), LIST());
  await writeFile(join(workspace, "mirrors-failing.yaml"), LIST(["alpine:3.20", "redis:no-such-tag"]));
});

afterAll(async () => {
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

const crane = () => readInvocationLog(runner.standInLog);

/** The action as a step on the runner, given the local ECR's endpoint. */
const step = (inputs: Record<string, string>, extraEnv: Record<string, string> = {}) =>
  runStep(runner, inputs, { ...ecr.env(), ...extraEnv });

describe("the bundled action, mode sync", () => {
  it("first run: copies exactly the missing tags, digests identical to the upstream, crane from the tool cache", async () => {
    const run = await step({ mode: "sync", "mirror-file": "mirrors.yaml", concurrency: "2" });
    runs.push(run);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs).toMatchObject({ copied: "3", failed: "0", present: "0" });
    expect(await tagDigest(backing.url, "mirrors/library/redis", "7.0")).toBe(redisDigest);
    expect(await tagDigest(backing.url, "mirrors/library/nginx", "1.27")).toBe(nginx.digest);
    expect(await tagDigest(backing.url, "mirrors/library/nginx", "1.27-arm64")).toBe(
      nginx.platforms["linux/arm64"],
    );
    expect(run.stdout).toMatch(/tool-cache hit/);
    expect(run.stdout).toMatch(
      /\[\d\/5\] copy docker\.io\/library\/redis:7\.0 -> mirrors\/library\/redis:7\.0 \(\d+\.\d s\)/,
    );
    expect(run.stdout).toMatch(/::group::/);
    expect(run.report?.counts).toMatchObject({ copied: 3, created: 2 });
    expect(run.summary).toMatch(/3 copied/);
    if (!REAL_TOOLS) expect(crane().filter((r) => r.argv[0] === "copy")).toHaveLength(3);
  });

  it("second run: copies nothing, starts no crane process, sends no manifest PUT", async () => {
    const before = crane().length;
    ecr.resetCounts();
    const run = await step({ mode: "sync", "mirror-file": "mirrors.yaml" });
    runs.push(run);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs).toMatchObject({ copied: "0", updated: "0", present: "3", failed: "0" });
    expect(run.report?.processes).toEqual({});
    if (!REAL_TOOLS) expect(crane().length).toBe(before);
    expect(ecr.gateCounts()["manifest-put"] ?? 0).toBe(0);
    expect(ecr.gateCounts()["manifest-get"] ?? 0).toBe(0);
  });

  it("resync digest: a moved tag is updated where the tag is mutable and reported blocked where it is immutable", async () => {
    const movedRedis = await moveTag(upstream.url, "library/redis", "7.0", { seed: "redis-7.0-b" });
    await moveTag(upstream.url, "library/nginx", "1.27", {
      seed: "nginx-1.27-b",
      platforms: ["linux/amd64"],
    });
    const run = await step({ mode: "sync", "mirror-file": "mirrors.yaml", resync: "digest" });
    runs.push(run);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs).toMatchObject({ updated: "1", blocked: "1", failed: "0" });
    // 7.0 is excluded from immutability: overwritten with the new upstream digest.
    expect(await tagDigest(backing.url, "mirrors/library/redis", "7.0")).toBe(movedRedis.digest);
    // 1.27 is immutable: left as it was, and said so.
    expect(await tagDigest(backing.url, "mirrors/library/nginx", "1.27")).toBe(nginx.digest);
    expect(run.stdout).toMatch(
      /blocked docker\.io\/library\/nginx:1\.27 -> mirrors\/library\/nginx:1\.27: .*immutable/,
    );
  });

  it("an entry that fails upstream fails alone: the others are copied, the run ends non-zero and names it", async () => {
    const run = await step({ mode: "sync", "mirror-file": "mirrors-failing.yaml" });
    runs.push(run);
    expect(run.code).not.toBe(0);
    expect(run.outputs).toMatchObject({ copied: "1", failed: "1" });
    expect(await tagDigest(backing.url, "mirrors/library/alpine", "3.20")).toBe(alpineDigest);
    const failed = run.report?.steps.filter((s) => s.outcome === "failed") ?? [];
    expect(failed.map((s) => s.source)).toEqual(["docker.io/library/redis:no-such-tag"]);
    expect(run.stdout).toMatch(/::error.*redis:no-such-tag/);
    expect(run.summary).toMatch(/redis:no-such-tag/);
  });

  it("leaves no secret in any output, summary, report or file under RUNNER_TEMP", () => {
    expect(runs.length).toBe(4);
    const secrets = [ecr.password, ecr.token, Buffer.from(ecr.password).toString("base64")];
    // `::add-mask::` lines are the masking protocol itself: the runner consumes them and shows none of them.
    const shown = (text: string) =>
      text
        .split("\n")
        .filter((l) => !l.startsWith("::add-mask::"))
        .join("\n");
    const texts = runs.flatMap((r) => [
      shown(r.stdout),
      r.stderr,
      JSON.stringify(r.outputs),
      r.summary,
      JSON.stringify(r.report),
    ]);
    for (const file of listFiles(runner.runnerTemp)) texts.push(readFileSync(file, "utf8"));
    for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret);
    // The credential sessions are gone; what remains is the report.
    expect(readdirSync(runner.runnerTemp).filter((f) => f.startsWith("ecr-mirror-credentials-"))).toEqual([]);
  });
});

describe("the bundled action, mode sync, with the node configuration committed back", () => {
  let remote: string;
  let cliDigest: string;
  const nodeInputs = {
    mode: "sync",
    "mirror-file": "mirrors-nodes.yaml",
    "render-dir": "deploy/ecr-mirror",
    "commit-back": "push",
    "github-token": "ghs_dummy",
  };

  beforeAll(async () => {
    // The configurator image, fetched from the upstream stand-in by its public.ecr.aws name.
    cliDigest = (await pushImage(upstream.url, "aws-cli/aws-cli", "2.15.62", { seed: "aws-cli" })).digest;
    // The workspace becomes a checkout of a bare "origin", as actions/checkout leaves it.
    remote = join(root, "origin.git");
    await git(root, "init", "-q", "--bare", "-b", "main", remote);
    await writeFile(
      join(workspace, "mirrors-nodes.yaml"),
      `upstreams:\n  docker.io: { endpoint: "http://${upstream.host}" }\n  public.ecr.aws: { endpoint: "http://${upstream.host}" }\nimages:\n  - redis:7.0\n`,
    );
    await git(workspace, "init", "-q", "-b", "main");
    await git(workspace, "add", "mirrors-nodes.yaml");
    await git(workspace, "commit", "-q", "-m", "mirror list");
    await git(workspace, "remote", "add", "origin", remote);
    await git(workspace, "push", "-q", "origin", "main");
  });

  it("mirrors the configurator image, renders for the target and commits the files as github-actions[bot]", async () => {
    const run = await step(nodeInputs, SCHEDULED_ON_MAIN);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs).toMatchObject({ "commit-back": "committed", "render-dir": "deploy/ecr-mirror" });
    expect(await tagDigest(backing.url, "mirrors/public.ecr.aws/aws-cli/aws-cli", "2.15.62")).toBe(cliDigest);
    expect(await git(remote, "log", "-1", "--format=%an %H", "main")).toBe(
      `github-actions[bot] ${run.outputs["commit-sha"]}`,
    );
    const files = (await git(remote, "ls-tree", "-r", "--name-only", "main", "deploy/ecr-mirror")).split(
      "\n",
    );
    expect(files).toEqual(
      expect.arrayContaining([
        "deploy/ecr-mirror/hosts/docker.io/hosts.toml",
        "deploy/ecr-mirror/ecr-mirror-node.yaml",
        "deploy/ecr-mirror/kustomization.yaml",
      ]),
    );
    // No NodeConfig unless asked for, and no redirect for the host of the configurator image alone.
    expect(files).not.toContain("deploy/ecr-mirror/nodeconfig.yaml");
    expect(files).not.toContain("deploy/ecr-mirror/hosts/public.ecr.aws/hosts.toml");
    // No chart has images: true, so there is no chart images record.
    expect(files).not.toContain("deploy/ecr-mirror/chart-images.json");
    const daemonSet = await git(remote, "show", "main:deploy/ecr-mirror/ecr-mirror-node.yaml");
    expect(daemonSet).toContain(`${ecr.registryHost}/mirrors/public.ecr.aws/aws-cli/aws-cli@${cliDigest}`);
    const hosts = await git(remote, "show", "main:deploy/ecr-mirror/hosts/docker.io/hosts.toml");
    expect(hosts).toContain(`http://${ecr.registryHost}/v2/mirrors`);
    expect(daemonSet + hosts).not.toContain(ecr.password);
    expect(run.summary).toContain(`**Commit-back: committed**, commit \`${run.outputs["commit-sha"]}\``);
  });

  it("a second run changes nothing, commits nothing and starts no crane process", async () => {
    const before = crane().length;
    const head = await git(remote, "rev-parse", "main");
    const run = await step(nodeInputs, SCHEDULED_ON_MAIN);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.outputs["commit-back"]).toBe("none");
    expect(run.summary).toMatch(/\*\*Commit-back: none\*\*: /);
    expect(await git(remote, "rev-parse", "main")).toBe(head);
    if (!REAL_TOOLS) expect(crane().length).toBe(before);
  });
});

describe("the bundled action, mode plan, with a chart images record in the render folder", () => {
  // The chart repository is unreachable and there is no helm in the tool cache: the plan can only list the
  // chart's image because it reads the record the last sync committed. The image is in the upstream: a plan
  // proves each copy with one HEAD there.
  const CHART_REPO = "http://127.0.0.1:9/charts";
  const values = { image: { tag: "1.36" } };

  beforeAll(async () => {
    await pushImage(upstream.url, "library/busybox", "1.36", { seed: "busybox" });
    await writeFile(
      join(workspace, "mirrors-charts.yaml"),
      `${LIST()}charts:
  - source: ${CHART_REPO}
    name: box
    versions: ["1.0.0"]
    images: true
    values: ${JSON.stringify(values)}
`,
    );
    await mkdir(join(workspace, "deploy/charts-record"), { recursive: true });
    await writeFile(
      join(workspace, "deploy/charts-record", CHART_IMAGES_FILE),
      formatChartImagesRecord({
        version: 1,
        charts: [
          {
            source: CHART_REPO,
            name: "box",
            version: "1.0.0",
            valuesSha256: valuesSha256({ values }),
            images: ["docker.io/library/busybox:1.36"],
            warnings: [],
          },
        ],
      }),
    );
  });

  it("plans the chart's images from the record: no helm, no chart download", async () => {
    const before = crane().length;
    const run = await step({
      mode: "plan",
      "mirror-file": "mirrors-charts.yaml",
      "render-dir": "deploy/charts-record",
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(run.outputs["plan-file"]!, "utf8"));
    const busybox = plan.steps.filter(
      (s: { repository: string; action: string }) =>
        s.repository === "mirrors/library/busybox" && s.action !== "create-repository",
    );
    expect(busybox).toMatchObject([{ action: "copy", tag: "1.36", fromCharts: ["charts/box:1.0.0"] }]);
    // The chart version itself is a copy the plan proves: its repository cannot be reached, which is a warning on
    // the chart's line (not proof that it is missing), and the image found in it is proved with one HEAD.
    expect(plan.warnings).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(
          /^could not check http:\/\/127\.0\.0\.1:9\/charts\/box:1\.0\.0 upstream \(.*\); it is copied without proving first that it exists upstream$/,
        ),
      }),
    ]);
    expect(plan.cost.upstream).toEqual({ "manifest-head": 1, index: 1 });
    expect(crane().slice(before)).toEqual([]);
  });
});
