// Repository settings as desired state (`target.reconcileSettings`) through the whole run, against the local ECR:
// repositories created with one set of settings, then a list that asks for others. Off (the default) nothing about
// existing repositories is read or changed; on, the plan shows one reconcile-settings step per repository that
// differs, sync applies it through the ECR API (reading it back), and a rerun is a no-op. A tag blocked by
// immutability becomes writable once its exclusion filter is reconciled, in the same sync.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { stepFields } from "../../src/plan/model.js";
import { formatPlan, planToJson } from "../../src/report/plan.js";
import { planMarkdown } from "../../src/report/plan-markdown.js";
import { progressLines } from "../../src/report/progress.js";
import { connectTarget, planRun, type SyncRunResult, syncRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { moveTag, pushImage } from "../harness/images.js";
import { validList } from "../harness/list.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let moved: string;
let restoreEnv: (() => void) | undefined;

const KEEP_10 = `{ rules: [{ rulePriority: 1, selection: { tagStatus: any, countType: imageCountMoreThan, countNumber: 10 }, action: { type: expire } }] }`;
const KEEP_5 = `{ rules: [{ rulePriority: 1, selection: { tagStatus: any, countType: imageCountMoreThan, countNumber: 5 }, action: { type: expire } }] }`;
const PULL_POLICY = `{ Version: "2012-10-17", Statement: [{ Sid: pull, Effect: Allow, Principal: { AWS: "arn:aws:iam::210987654321:root" }, Action: ["ecr:BatchGetImage"] }] }`;

/** The settings the repositories are created with. */
const CREATED = `    imageTagMutability: IMMUTABLE
    lifecyclePolicy: ${KEEP_10}
    repositoryPolicy: ${PULL_POLICY}
    tags: { team: platform, legacy: "yes" }`;

/** What the list asks for later: each setting but encryption differs. */
const WANTED = `    imageTagMutability: IMMUTABLE_WITH_EXCLUSION
    imageTagMutabilityExclusionFilters: ["7.*"]
    scanOnPush: true
    lifecyclePolicy: ${KEEP_5}
    tags: { team: mirrors, cost-center: "42" }`;

function mirrorList(settings: string, reconcile: boolean | null, extra = ""): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
${reconcile === null ? "" : `  reconcileSettings: ${reconcile}\n`}  repositorySettings:
${settings}
${extra}upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
  - redis:7.0
  - nginx:1.27
`;
  return validList(text);
}

function client(): ECRClient {
  return ecr.client();
}

async function plan(list: MirrorList) {
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: client() });
  return planRun(list, target, { resync: "digest", upstreamCredentials: [] });
}

async function sync(list: MirrorList, log: string[] = []): Promise<SyncRunResult> {
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: client() });
  return syncRun(list, target, {
    resync: "digest",
    upstreamCredentials: [],
    mask,
    log: () => {},
    progress: (event) => log.push(...progressLines(event)),
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
    helm: { version: STAND_IN_TOOL_VERSIONS.helm },
  });
}

const steps = (p: Awaited<ReturnType<typeof plan>>["plan"]) =>
  p.steps.map(stepFields).map((s) => `${s.action} ${s.repository}${s.tag ? `:${s.tag}` : ""}`);

const settingsOf = (name: string) => {
  const r = ecr.repositories().find((x) => x.repositoryName === name)!;
  return {
    mutability: r.imageTagMutability,
    filters: r.imageTagMutabilityExclusionFilters.map((f) => f.filter),
    scanOnPush: r.imageScanningConfiguration.scanOnPush,
    lifecycle: r.lifecyclePolicyText
      ? JSON.parse(r.lifecyclePolicyText).rules[0].selection.countNumber
      : null,
    policy: r.policyText ?? null,
    tags: Object.fromEntries(r.tags.map((t) => [t.Key, t.Value])),
  };
};

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "reconcile-"));
  for (const tool of ["crane", "helm"] as const) await plantToolCache(join(root, "tool-cache"), tool);
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root });
  await pushImage(upstream.url, "library/redis", "7.0", { seed: "reconcile-redis" });
  await pushImage(upstream.url, "library/nginx", "1.27", { seed: "reconcile-nginx" });
  const first = await sync(mirrorList(CREATED, null));
  expect(first.report.counts).toMatchObject({ created: 2, copied: 2, failed: 0 });
  // redis:7.0 moves upstream: the IMMUTABLE mirror cannot take it.
  moved = (await moveTag(upstream.url, "library/redis", "7.0", { seed: "reconcile-redis-2" })).digest;
}, 60_000);

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

describe("target.reconcileSettings", () => {
  it("is off by default: no settings are read, no step is planned, and the blocked tag's hint says how to turn it on", async () => {
    ecr.resetCounts();
    const { plan: p, cost } = await plan(mirrorList(WANTED, null));
    expect(steps(p)).toEqual(["blocked mirrors/library/redis:7.0", "present mirrors/library/nginx:1.27"]);
    expect(p.summary["reconcile-settings"]).toBe(0);
    const blocked = p.steps.find((s) => s.action === "blocked")!;
    expect(blocked.reason).toContain("set target.reconcileSettings: true");
    // The observation a plan always made: the registry's address, one DescribeRepositories page, one DescribeImages
    // per repository.
    const always = { GetAuthorizationToken: 1, DescribeRepositories: 1, DescribeImages: 2 };
    expect(ecr.calls).toEqual(always);
    expect(cost.ecr).toEqual(always);
    expect(formatPlan(p)).not.toContain("to reconcile");
    expect(formatPlan(p)).not.toContain("reconcile-settings ");
    // A sync changes no setting of an existing repository.
    ecr.resetCounts();
    const result = await sync(mirrorList(WANTED, false));
    expect(result.report.counts).toMatchObject({ blocked: 1, present: 1, reconciled: 0, failed: 0 });
    expect(Object.keys(ecr.calls).filter((k) => /^(Put|Set|Delete|Tag|Untag|Get[LR])/.test(k))).toEqual([]);
    expect(settingsOf("mirrors/library/redis")).toMatchObject({
      mutability: "IMMUTABLE",
      scanOnPush: false,
      lifecycle: 10,
    });
  });

  it("plans one reconcile-settings step per repository that differs, each difference old -> new, encryption as a warning", async () => {
    ecr.resetCounts();
    const list = mirrorList(`${WANTED}\n    encryption: { type: KMS, kmsKey: alias/mirrors }`, true);
    const { plan: p, cost } = await plan(list);
    expect(steps(p)).toEqual([
      "reconcile-settings mirrors/library/redis",
      "reconcile-settings mirrors/library/nginx",
      // Planned under the list's mutability (7.* excluded from IMMUTABLE), which the reconcile step sets first.
      "update mirrors/library/redis:7.0",
      "present mirrors/library/nginx:1.27",
    ]);
    const reconcile = p.steps.find((s) => s.action === "reconcile-settings")!;
    expect(reconcile.reason).toBe(
      "settings differ from the list: imageTagMutability IMMUTABLE -> IMMUTABLE_WITH_EXCLUSION [7.*]; scanOnPush false -> true; lifecyclePolicy set -> changed; repositoryPolicy set -> none (deleted); tags {team=platform, legacy=yes} -> {team=mirrors, cost-center=42}",
    );
    expect(reconcile.location.line).toBe(list.images[0]!.location.line);
    // Encryption cannot change on an existing repository: a warning per repository, never a step.
    expect(p.warnings.map((w) => w.message)).toEqual([
      "mirrors/library/redis is encrypted with AES256, the list asks for KMS (alias/mirrors); ECR cannot change the encryption of an existing repository, so it stays AES256",
      "mirrors/library/nginx is encrypted with AES256, the list asks for KMS (alias/mirrors); ECR cannot change the encryption of an existing repository, so it stays AES256",
    ]);
    // Three more calls per repository the list names; scanning and encryption come with DescribeRepositories.
    const expected = {
      GetAuthorizationToken: 1,
      DescribeRepositories: 1,
      DescribeImages: 2,
      GetLifecyclePolicy: 2,
      GetRepositoryPolicy: 2,
      ListTagsForResource: 2,
    };
    expect(ecr.calls).toEqual(expected);
    expect(cost.ecr).toEqual(expected);
    // Shown in the terminal, the JSON and the Markdown.
    expect(formatPlan(p).split("\n")[0]).toMatch(
      /: 0 repositories to create, 2 to reconcile, 0 to copy, 1 to update, 0 blocked, 1 present, 0 to delete\.$/,
    );
    expect(formatPlan(p)).toContain(
      "  reconcile-settings mirrors/library/redis  (settings differ from the list: imageTagMutability IMMUTABLE -> IMMUTABLE_WITH_EXCLUSION [7.*];",
    );
    expect(planToJson(p).summary["reconcile-settings"]).toBe(2);
    expect(planToJson(p).steps[0]).toMatchObject({
      action: "reconcile-settings",
      repository: "mirrors/library/redis",
      tag: null,
      reason: reconcile.reason,
      changes: [
        {
          setting: "imageTagMutability",
          from: { mode: "IMMUTABLE", filters: [] },
          to: { mode: "IMMUTABLE_WITH_EXCLUSION", filters: ["7.*"] },
        },
        { setting: "scanOnPush", from: false, to: true },
        { setting: "lifecyclePolicy", from: expect.stringContaining('"countNumber":10') },
        { setting: "repositoryPolicy", to: null },
        {
          setting: "tags",
          from: { team: "platform", legacy: "yes" },
          to: { team: "mirrors", "cost-center": "42" },
        },
      ],
    });
    const md = planMarkdown(p);
    expect(md).toContain("#### Repository settings (2)");
    expect(md).toContain(
      "| `mirrors/library/redis` | imageTagMutability IMMUTABLE -> IMMUTABLE_WITH_EXCLUSION [7.*]; scanOnPush false -> true;",
    );
    // Planning changed nothing.
    expect(settingsOf("mirrors/library/redis").mutability).toBe("IMMUTABLE");
  });

  it("a refused settings change fails its step and the update that needs it, with ECR's reason and a hint", async () => {
    ecr.failNext("PutImageTagMutability", "AccessDeniedException", 2);
    const log: string[] = [];
    const result = await sync(mirrorList(WANTED, true), log);
    expect(result.report.ok).toBe(false);
    const failed = result.report.failures.map((f) => [
      f.action,
      f.repository,
      f.tag,
      f.error?.split("\n")[0],
    ]);
    expect(failed).toEqual([
      [
        "reconcile-settings",
        "mirrors/library/redis",
        null,
        "ECR denied ecr:PutImageTagMutability on mirrors/library/redis: Injected AccessDeniedException for PutImageTagMutability",
      ],
      [
        "reconcile-settings",
        "mirrors/library/nginx",
        null,
        "ECR denied ecr:PutImageTagMutability on mirrors/library/nginx: Injected AccessDeniedException for PutImageTagMutability",
      ],
      [
        "update",
        "mirrors/library/redis",
        "7.0",
        "the settings of mirrors/library/redis could not be reconciled: ECR denied ecr:PutImageTagMutability on mirrors/library/redis: Injected AccessDeniedException for PutImageTagMutability",
      ],
    ]);
    expect(result.report.failures[0]!.error).toContain(
      "ecr:PutImageTagMutability, ecr:PutImageScanningConfiguration",
    );
    expect(settingsOf("mirrors/library/redis").mutability).toBe("IMMUTABLE");
  });

  it("sync applies the settings before the copies, so the blocked tag is updated; a rerun is a no-op", async () => {
    ecr.resetCounts();
    const log: string[] = [];
    const list = mirrorList(WANTED, true);
    const result = await sync(list, log);
    expect(result.report.failures).toEqual([]);
    expect(result.report.counts).toMatchObject({ reconciled: 2, updated: 1, present: 1, failed: 0 });
    for (const name of ["mirrors/library/redis", "mirrors/library/nginx"]) {
      expect(settingsOf(name)).toEqual({
        mutability: "IMMUTABLE_WITH_EXCLUSION",
        filters: ["7.*"],
        scanOnPush: true,
        lifecycle: 5,
        policy: null,
        tags: { team: "mirrors", "cost-center": "42" },
      });
    }
    // The tag that was blocked now holds what upstream holds.
    const redis = result.report.steps.find((s) => s.tag === "7.0")!;
    expect(redis).toMatchObject({ outcome: "updated", digest: moved });
    expect(log).toContainEqual(
      expect.stringMatching(/^\[1\/3\] reconcile the settings of mirrors\/library\/redis/),
    );
    expect(log.at(-1)).toMatch(
      /^Sync: 0 copied, 1 updated, 1 present, 0 failed, 2 repositories reconciled in /,
    );
    // Each change through its own call, each repository read back once after (DescribeRepositories by name and the
    // three reads, around the changes).
    expect(ecr.calls).toMatchObject({
      DescribeRepositories: 1 + 2 * 2,
      GetLifecyclePolicy: 2 + 2,
      PutImageTagMutability: 2,
      PutImageScanningConfiguration: 2,
      PutLifecyclePolicy: 2,
      DeleteRepositoryPolicy: 2,
      UntagResource: 2,
      TagResource: 2,
    });

    ecr.resetCounts();
    const again = await plan(list);
    expect(steps(again.plan)).toEqual([
      "present mirrors/library/redis:7.0",
      "present mirrors/library/nginx:1.27",
    ]);
    expect(again.plan.warnings).toEqual([]);
    const rerun = await sync(list);
    expect(rerun.report.counts).toMatchObject({ reconciled: 0, updated: 0, present: 2 });
    expect(Object.keys(ecr.calls).filter((k) => /^(Put|Set|Delete|Tag|Untag)/.test(k))).toEqual([]);
  });
});
