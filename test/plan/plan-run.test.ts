// plan against the harness: a real registry behind the ECR-like gate, the local ECR API reached
// through the real SDK, and an upstream registry behind a counting proxy for digest checks.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { createEcrClient } from "../../src/observe/ecr.js";
import { stepFields } from "../../src/plan/model.js";
import { connectTarget, planRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type RunningProxy, startCountingProxy } from "../harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { moveTag, pushImage, pushIndex } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

let targetRegistry: RunningRegistry;
let upstreamRegistry: RunningRegistry;
let upstream: RunningProxy;
let ecr: LocalEcr;
let client: ECRClient;
const auth = () => ({ user: "AWS", password: ecr.password });

beforeAll(async () => {
  [targetRegistry, upstreamRegistry] = await Promise.all([startRegistry(), startRegistry()]);
  upstream = await startCountingProxy({ url: upstreamRegistry.url });
  ecr = await startEcr({ registry: targetRegistry });
  client = new ECRClient({
    region: ecr.region,
    endpoint: ecr.apiUrl,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  // Upstream content: docker.io/library/redis (two tags), a two-platform nginx, quay.io/org/app.
  await pushImage(upstreamRegistry.url, "library/redis", "7.0", { seed: "redis-7.0" });
  await pushImage(upstreamRegistry.url, "library/redis", "7.2", { seed: "redis-7.2" });
  await pushIndex(upstreamRegistry.url, "library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "nginx",
  });
  // Target: redis exists with 7.0 (same content as upstream), nginx exists (immutable) with 1.27.
  await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/library/redis" }));
  await client.send(
    new CreateRepositoryCommand({ repositoryName: "mirrors/library/nginx", imageTagMutability: "IMMUTABLE" }),
  );
  await pushImage(`http://${ecr.registryHost}`, "mirrors/library/redis", "7.0", {
    seed: "redis-7.0",
    auth: auth(),
  });
  await pushIndex(`http://${ecr.registryHost}`, "mirrors/library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "nginx",
    auth: auth(),
  });
});

afterAll(async () => {
  await ecr?.stop();
  await upstream?.stop();
  await Promise.all([targetRegistry?.stop(), upstreamRegistry?.stop()]);
});

function list(): MirrorList {
  const r = parseMirrorList(
    `upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
  - redis:7.0
  - redis:7.2
  - nginx:1.27
  - quay.io/org/app:1
`,
    "mirrors.yaml",
  );
  return r.list!;
}

async function plan(resync: "missing" | "digest") {
  const l = list();
  const target = await connectTarget(l, {
    mask: new SecretMask(() => {}),
    ecrClient: client,
    region: ecr.region,
  });
  return planRun(l, target, { resync, upstreamCredentials: [] });
}

describe("plan against the local ECR", () => {
  it("says exactly what to create and copy, at O(repositories) ECR calls and no upstream request", async () => {
    ecr.resetCounts();
    upstream.resetCounts();
    const { plan: p, cost } = await plan("missing");
    expect(p.registry).toBe(ecr.registryHost);
    expect(
      p.steps.map(stepFields).map((s) => `${s.action} ${s.repository}${s.tag ? `:${s.tag}` : ""}`),
    ).toEqual([
      "create-repository mirrors/quay.io/org/app",
      "present mirrors/library/redis:7.0",
      "copy mirrors/library/redis:7.2",
      "present mirrors/library/nginx:1.27",
      "copy mirrors/quay.io/org/app:1",
    ]);
    // One token call (registry address), one page of repositories, one DescribeImages per existing repository
    // (tags, digests and storage status at once).
    expect(cost.ecr).toEqual({ GetAuthorizationToken: 1, DescribeRepositories: 1, DescribeImages: 2 });
    expect(ecr.calls).toMatchObject({ GetAuthorizationToken: 1, DescribeRepositories: 1, DescribeImages: 2 });
    expect(upstream.requests()).toEqual([]);
    expect(ecr.gateRequests()).toEqual([]);
  });

  it("in digest mode, finds a moved tag with HEAD requests only, and blocks it in an immutable repository", async () => {
    await moveTag(upstreamRegistry.url, "library/redis", "7.0", { seed: "redis-7.0-b" });
    await moveTag(upstreamRegistry.url, "library/nginx", "1.27", {
      seed: "nginx-b",
      platforms: ["linux/amd64", "linux/arm64"],
    });
    upstream.resetCounts();
    const { plan: p, cost } = await plan("digest");
    const byTarget = Object.fromEntries(p.steps.map((s) => [`${s.repository}:${stepFields(s).tag}`, s]));
    expect(byTarget["mirrors/library/redis:7.0"]).toMatchObject({ action: "update" });
    expect(byTarget["mirrors/library/nginx:1.27"]).toMatchObject({
      action: "blocked",
      reason: expect.stringContaining("immutable"),
    });
    // Only the two present tags were asked about, and only with HEAD.
    const methods = upstream.requests().map((r) => `${r.method} ${r.path}`);
    expect(methods.sort()).toEqual([
      "HEAD /v2/library/nginx/manifests/1.27",
      "HEAD /v2/library/redis/manifests/7.0",
    ]);
    expect(cost.upstream).toEqual({ "manifest-head": 2 });
  });
});

describe("a platform subset in resync mode digest", () => {
  it("compares the kept platforms' manifests, and finds a moved one", async () => {
    // Upstream: three platforms; the target holds the amd64+arm64 subset (same child manifests).
    await pushIndex(upstreamRegistry.url, "library/busybox", "1.37", {
      platforms: ["linux/amd64", "linux/arm64", "linux/s390x"],
      seed: "bb",
    });
    await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/library/busybox" }));
    await pushIndex(`http://${ecr.registryHost}`, "mirrors/library/busybox", "1.37", {
      platforms: ["linux/amd64", "linux/arm64"],
      seed: "bb",
      auth: auth(),
    });
    const l = parseMirrorList(
      `upstreams:\n  docker.io: { endpoint: "${upstream.url}" }\nimages:\n  - { source: busybox, tags: ["1.37"], platforms: [linux/amd64, linux/arm64] }\n`,
      "m.yaml",
    ).list!;
    const run = async () => {
      const target = await connectTarget(l, {
        mask: new SecretMask(() => {}),
        ecrClient: client,
        region: ecr.region,
      });
      return planRun(l, target, { resync: "digest", upstreamCredentials: [] });
    };
    const same = await run();
    expect(same.plan.steps.map((s) => s.action)).toEqual(["present"]);
    expect(same.cost.ecr.BatchGetImage).toBe(1);
    await moveTag(upstreamRegistry.url, "library/busybox", "1.37", {
      seed: "bb-2",
      platforms: ["linux/amd64", "linux/arm64", "linux/s390x"],
    });
    const moved = await run();
    expect(moved.plan.steps[0]).toMatchObject({
      action: "update",
      reason: expect.stringContaining("linux/amd64, linux/arm64 moved upstream"),
    });
  });
});

describe("throttling", () => {
  it("is retried by the SDK's adaptive mode, and the plan still comes out", async () => {
    ecr.resetCounts();
    ecr.failNext("DescribeRepositories", "ThrottlingException", 1);
    ecr.failNext("DescribeImages", "ThrottlingException", 1);
    const throttledClient = createEcrClient(ecr.region, {
      endpoint: ecr.apiUrl,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    const l = list();
    const target = await connectTarget(l, {
      mask: new SecretMask(() => {}),
      ecrClient: throttledClient,
      region: ecr.region,
    });
    const { plan: p, cost } = await planRun(l, target, { resync: "missing", upstreamCredentials: [] });
    expect(p.summary.copy).toBeGreaterThan(0);
    expect(cost.ecr.DescribeRepositories).toBe(1); // our calls; the SDK's retries are underneath
    expect(ecr.calls).toMatchObject({ DescribeRepositories: 2, DescribeImages: 3 }); // what the endpoint saw
  });
});

describe("ecr-mirror plan (dist/cli.js)", () => {
  it("prints the plan JSON with every entry, present ones included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecr-mirror-plan-"));
    writeFileSync(join(dir, "mirrors.yaml"), `images:\n  - redis:7.0\n  - redis:7.2\n`);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, "..", "..", "dist", "cli.js"), "plan", "--json"],
      { cwd: dir, env: { PATH: process.env.PATH, ...ecr.env() } },
    );
    const doc = JSON.parse(stdout);
    expect(
      doc.steps.map((s: { action: string; source: string; repository: string; tag: string }) => [
        s.action,
        s.source,
        s.repository,
        s.tag,
      ]),
    ).toEqual([
      ["present", "docker.io/library/redis:7.0", "mirrors/library/redis", "7.0"],
      ["copy", "docker.io/library/redis:7.2", "mirrors/library/redis", "7.2"],
    ]);
    expect(doc.summary).toEqual({
      "create-repository": 0,
      "reconcile-settings": 0,
      copy: 1,
      update: 0,
      restore: 0,
      blocked: 0,
      present: 1,
      delete: 0,
    });
    expect(doc.steps[1].reason).toBe("missing in the target");
  });
});

describe("the action in plan mode (dist/index.js)", () => {
  it("shows the node configurator's image in the plan when the sync will render (render-dir set)", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ecr-mirror-action-plan-"));
    writeFileSync(join(ws, "mirrors.yaml"), "images:\n  - redis:7.0\n");
    const output = join(ws, "output");
    writeFileSync(output, "");
    writeFileSync(join(ws, "summary.md"), "");
    await promisify(execFile)(process.execPath, [join(import.meta.dirname, "..", "..", "dist", "index.js")], {
      cwd: ws,
      env: {
        PATH: process.env.PATH,
        ...ecr.env(),
        GITHUB_WORKSPACE: ws,
        GITHUB_OUTPUT: output,
        GITHUB_STEP_SUMMARY: join(ws, "summary.md"),
        RUNNER_TEMP: ws,
        INPUT_MODE: "plan",
        "INPUT_RENDER-DIR": "deploy/ecr-mirror",
        "INPUT_CONFIGURATOR-IMAGE": "public.ecr.aws/aws-cli/aws-cli:2.15.62",
      },
    });
    const planFile = readFileSync(output, "utf8").match(/^plan-file<<(\S+)\n([^\n]*)\n/m)![2]!;
    const steps = JSON.parse(readFileSync(planFile, "utf8")).steps as {
      action: string;
      source: string | null;
    }[];
    expect(steps).toContainEqual(
      expect.objectContaining({ action: "copy", source: "public.ecr.aws/aws-cli/aws-cli:2.15.62" }),
    );
  });

  it("writes the plan file, outputs per action and a job summary, and changes nothing", async () => {
    const ws = mkdtempSync(join(tmpdir(), "ecr-mirror-action-plan-"));
    writeFileSync(join(ws, "mirrors.yaml"), "images:\n  - redis:7.0\n  - redis:7.2\n  - quay.io/org/app:1\n");
    const output = join(ws, "output");
    const summary = join(ws, "summary.md");
    writeFileSync(output, "");
    writeFileSync(summary, "");
    ecr.resetCounts();
    const before = ecr.repositories().length;
    const r = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, "..", "..", "dist", "index.js")],
      {
        cwd: ws,
        env: {
          PATH: process.env.PATH,
          ...ecr.env(),
          GITHUB_WORKSPACE: ws,
          GITHUB_OUTPUT: output,
          GITHUB_STEP_SUMMARY: summary,
          RUNNER_TEMP: ws,
          INPUT_MODE: "plan",
          "INPUT_MIRROR-FILE": "mirrors.yaml",
        },
      },
    );
    expect(r.stdout).toContain("Plan for 127.0.0.1:");
    const outputs = readFileSync(output, "utf8");
    const value = (name: string) =>
      outputs.match(new RegExp(`^${name}<<(\\S+)\\n([^\\n]*)\\n\\1$`, "m"))?.[2];
    expect([value("create-repository"), value("copy"), value("present")]).toEqual(["1", "2", "1"]);
    const planJson = JSON.parse(readFileSync(value("plan-file")!, "utf8"));
    expect(planJson.steps).toHaveLength(4);
    expect(readFileSync(summary, "utf8")).toContain(
      "#### New tags (1)\n\n| repository | from | tags |\n| --- | --- | --- |\n| `mirrors/library/redis` | `docker.io/library/redis` | `7.2` |",
    );
    // Nothing changed: no repository created, nothing pushed through the gate.
    expect(ecr.repositories()).toHaveLength(before);
    expect(ecr.calls.CreateRepository).toBeUndefined();
    expect(ecr.gateRequests()).toEqual([]);
    // The runner swallows ::add-mask:: commands (that is how masking works); everything else is shown.
    const shown = r.stdout.split("\n").filter((l) => !l.startsWith("::add-mask::"));
    expect(r.stdout).toContain(`::add-mask::${ecr.password}`);
    expect(shown.join("\n") + outputs + readFileSync(summary, "utf8")).not.toContain(ecr.password);
  });
});
