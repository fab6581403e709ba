// Archived mirror tags (ECR's archive storage class) through the whole run: plan, sync, rerun, against the local
// ECR (which hides archived images from ListImages/DescribeImages unless asked, refuses their pulls, refuses a
// push onto an immutable tag, and restores through ACTIVATING), with crane and helm stand-ins in the tool cache.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { stepFields } from "../../src/plan/model.js";
import { formatPlan, planToJson } from "../../src/report/plan.js";
import { planMarkdown } from "../../src/report/plan-markdown.js";
import { progressLines } from "../../src/report/progress.js";
import { syncSummaryMarkdown } from "../../src/report/sync-summary.js";
import { connectTarget, digestInTarget, planRun, type SyncRunResult, syncRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { type PushedIndex, pushImage, pushIndex, tagDigest } from "../harness/images.js";
import { validList } from "../harness/list.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let redis: string;
let nginx: PushedIndex;
let restoreEnv: (() => void) | undefined;

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  // A restore stays ACTIVATING until the test completes it (ECR: typically up to 20 minutes).
  ecr = await startEcr({ registry: backing, restoreDelayMs: 3_600_000 });
  root = await mkdtemp(join(tmpdir(), "archived-"));
  for (const tool of ["crane", "helm"] as const) await plantToolCache(join(root, "tool-cache"), tool);
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root });
  redis = (await pushImage(upstream.url, "library/redis", "7.0", { seed: "archived-redis" })).digest;
  nginx = await pushIndex(upstream.url, "library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "archived-nginx",
  });
  // The mirror holds both (a mutable and an immutable repository), then a lifecycle rule archives them.
  const first = await sync(mirrorList());
  expect(first.report.counts.copied).toBe(2);
  ecr.archive("mirrors/library/redis", "7.0");
  ecr.archive("mirrors/library/nginx", "1.27");
}, 60_000);

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

function client(): ECRClient {
  return ecr.client();
}

function mirrorList(extra = ""): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
  repositorySettings:
    imageTagMutability: IMMUTABLE_WITH_EXCLUSION
    imageTagMutabilityExclusionFilters: ["7.*"]
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
  - redis:7.0
  - nginx:1.27
${extra}`;
  return validList(text);
}

async function sync(list: MirrorList): Promise<SyncRunResult> {
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: client() });
  return syncRun(list, target, {
    resync: "missing",
    upstreamCredentials: [],
    mask,
    log: () => {},
    progress: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
    helm: { version: STAND_IN_TOOL_VERSIONS.helm },
  });
}

async function plan(list: MirrorList, resync: "missing" | "digest" = "missing") {
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: client() });
  return planRun(list, target, { resync, upstreamCredentials: [] });
}

const steps = (p: Awaited<ReturnType<typeof plan>>["plan"]) =>
  p.steps.map(stepFields).map((s) => `${s.action} ${s.repository}:${s.tag}`);

describe("archived mirror tags", () => {
  it("are planned as restores, not copies, in both resync modes", async () => {
    ecr.resetCounts();
    const { plan: p, cost, list } = await plan(mirrorList());
    expect(steps(p)).toEqual(["restore mirrors/library/redis:7.0", "restore mirrors/library/nginx:1.27"]);
    // What the nodes will pull (the configurator image's pin, for one): the digest the archived tag keeps.
    expect(digestInTarget(list.images[0]!, p)).toBe(redis);
    expect(p.summary).toMatchObject({ copy: 0, restore: 2, present: 0 });
    // One DescribeImages per repository sees every tag with its status: no extra call for the archive.
    expect(cost.ecr).toEqual({ GetAuthorizationToken: 1, DescribeRepositories: 1, DescribeImages: 2 });
    expect(ecr.gateRequests()).toEqual([]);

    const text = formatPlan(p);
    expect(text).toContain("2 to restore");
    expect(text).toMatch(
      /restore +docker\.io\/library\/nginx:1\.27 -> mirrors\/library\/nginx:1\.27 {2}\(archived in ECR: restored to the standard storage class, not copied again\)/,
    );
    const md = planMarkdown(p);
    expect(md).toContain("| restore |");
    expect(md).toContain("#### Restores from the ECR archive (2)");
    const json = planToJson(p).steps.find((s) => s.repository === "mirrors/library/redis");
    expect(json).toMatchObject({ action: "restore", digest: redis, targetDigest: redis });

    // Resync digest: the upstream has not moved, so the archived tag is restored, not updated.
    const digestMode = await plan(mirrorList(), "digest");
    expect(steps(digestMode.plan)).toEqual([
      "restore mirrors/library/redis:7.0",
      "restore mirrors/library/nginx:1.27",
    ]);
  });

  it("are restored by sync through UpdateImageStorageClass, copying nothing, even in an immutable repository", async () => {
    ecr.resetCounts();
    const result = await sync(mirrorList());
    expect(result.report.failures).toEqual([]);
    expect(result.report.ok).toBe(true);
    expect(result.report.counts).toMatchObject({ restored: 2, copied: 0, updated: 0, failed: 0 });
    expect(result.processes).toEqual({}); // no crane, no helm
    expect(result.tools).toEqual([]);
    expect(ecr.gateCounts()["manifest-put"] ?? 0).toBe(0);
    expect(ecr.calls.UpdateImageStorageClass).toBe(2);
    // Verified: the image is being restored, holding the digest the mirror had.
    const nginxReport = result.report.steps.find((s) => s.repository === "mirrors/library/nginx");
    expect(nginxReport).toMatchObject({ action: "restore", outcome: "restored", digest: nginx.digest });
    expect(ecr.imageStatus("mirrors/library/redis", "7.0")).toBe("ACTIVATING");
    expect(ecr.imageStatus("mirrors/library/nginx", "1.27")).toBe("ACTIVATING");

    const summary = syncSummaryMarkdown(result.report);
    expect(summary).toContain("**2 restored**");
    expect(summary).toContain(
      "| restored | restore docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 |",
    );
    const lines = progressLines({ kind: "done", report: result.report });
    expect(lines[0]).toMatch(/^Sync: 0 copied, 0 updated, 0 present, 0 failed, 2 restored in /);
  });

  it("while ACTIVATING are shown as being restored, and a rerun is a no-op", async () => {
    ecr.resetCounts();
    const { plan: p } = await plan(mirrorList());
    expect(steps(p)).toEqual(["present mirrors/library/redis:7.0", "present mirrors/library/nginx:1.27"]);
    expect(p.steps.map((s) => s.reason)).toEqual([
      "being restored from the ECR archive (ACTIVATING): pullable once ECR finishes, usually within 20 minutes",
      "being restored from the ECR archive (ACTIVATING): pullable once ECR finishes, usually within 20 minutes",
    ]);
    expect(p.warnings.map((w) => w.message)).toEqual([
      "2 tags are still being restored from the ECR archive: nodes cannot pull them until ECR finishes (usually within 20 minutes)",
    ]);

    ecr.resetCounts();
    const again = await sync(mirrorList());
    expect(again.report.counts).toMatchObject({ present: 2, restored: 0, copied: 0, failed: 0 });
    expect(again.processes).toEqual({});
    expect(ecr.calls).toEqual({ GetAuthorizationToken: 1, DescribeRepositories: 1, DescribeImages: 2 });
    expect(ecr.gateRequests()).toEqual([]);

    ecr.completeRestores();
    ecr.resetCounts();
    const restored = await sync(mirrorList());
    expect(restored.plan.steps.map((s) => s.reason)).toEqual([
      "present (resync missing: the upstream is not asked)",
      "present (resync missing: the upstream is not asked)",
    ]);
    expect(restored.plan.warnings).toEqual([]);
    expect(ecr.calls).toEqual({ GetAuthorizationToken: 1, DescribeRepositories: 1, DescribeImages: 2 });
    // Pullable again, with the digests the mirror had before the archive.
    const auth = { user: "AWS", password: ecr.password };
    expect(await tagDigest(`http://${ecr.registryHost}`, "mirrors/library/redis", "7.0", auth)).toBe(redis);
    expect(await tagDigest(`http://${ecr.registryHost}`, "mirrors/library/nginx", "1.27", auth)).toBe(
      nginx.digest,
    );
  });

  it("are kept by prune when listed, and deleted only when the list no longer names them", async () => {
    await pushImage(`http://${ecr.registryHost}`, "mirrors/library/redis", "6.2", {
      seed: "archived-redis-6.2",
      auth: { user: "AWS", password: ecr.password },
    });
    ecr.archive("mirrors/library/redis", "6.2");
    ecr.archive("mirrors/library/redis", "7.0");
    const pruning = parseMirrorList(
      `version: 1
target:
  region: ${ecr.region}
  prune: true
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
  - redis:7.0
`,
      "mirrors.yaml",
    ).list!;
    const { plan: p } = await plan(pruning);
    expect(p.steps.map((s) => `${s.action} ${s.repository}:${"tag" in s ? s.tag : ""}`)).toEqual([
      "restore mirrors/library/redis:7.0",
      "delete mirrors/library/nginx:1.27",
      "delete mirrors/library/redis:6.2",
    ]);
    expect(p.steps.find((s) => s.action === "delete" && s.tag === "6.2")?.reason).toBe(
      "no longer in the mirror list (prune is on); archived: ECR bills archived images for at least 90 days",
    );
  });

  it("fail naming the IAM permission when the role may not restore, and nothing else is touched", async () => {
    // redis:7.0 is archived again (previous test); nginx:1.27 is active.
    ecr.failNext("UpdateImageStorageClass", "AccessDeniedException", 1);
    ecr.resetCounts();
    const denied = await sync(mirrorList());
    expect(denied.report.ok).toBe(false);
    expect(denied.report.counts).toMatchObject({ failed: 1, present: 1, copied: 0, restored: 0 });
    const [failure] = denied.report.failures;
    expect(failure).toMatchObject({ action: "restore", repository: "mirrors/library/redis", tag: "7.0" });
    expect(failure?.error).toMatch(
      /^ECR denied ecr:UpdateImageStorageClass on mirrors\/library\/redis:7\.0: /,
    );
    expect(failure?.error).toContain("ecr:UpdateImageStorageClass (to restore archived tags)");
    expect(ecr.gateCounts()["manifest-put"] ?? 0).toBe(0);
    expect(ecr.imageStatus("mirrors/library/redis", "7.0")).toBe("ARCHIVED");

    const allowed = await sync(mirrorList());
    expect(allowed.report.counts).toMatchObject({ restored: 1, present: 1, failed: 0 });
  });
});
