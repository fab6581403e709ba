// executePlan with the real adapters: ECR changes through the real SDK against the local ECR endpoint, copies
// through the crane stand-in (real bytes) from a real upstream registry into the gated ECR registry. The plans are
// written by hand here (the planner has its own tests); what is asserted is what lands in the target.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCopier } from "../../src/execute/copier.js";
import {
  createEcrRepository,
  createRepositoryInput,
  deleteEcrTags,
  ecrTargetChanges,
} from "../../src/execute/ecr-changes.js";
import { executePlan } from "../../src/execute/execute.js";
import type { ImageEntry, MirrorList, RepositorySettings } from "../../src/list/model.js";
import { syntheticTag } from "../../src/list/naming.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { CopyStep, Plan, Step, StepAction } from "../../src/plan/model.js";
import { textProgress } from "../../src/report/progress.js";
import { Crane } from "../../src/tools/crane.js";
import { type CredentialSession, openCredentialSession, SecretMask } from "../../src/tools/credentials.js";
import { fetchEcrAuthorization } from "../../src/tools/ecr-authorization.js";
import { InvocationCounter } from "../../src/tools/runner.js";
import { type RunningProxy, startProxy } from "../harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { startFaultProxy } from "../harness/fault-proxy.js";
import { getManifest, type PushedIndex, pushImage, pushIndex, tagDigest } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { REAL_TOOLS, readInvocationLog, toolBinary } from "../stand-ins/stand-ins.js";

const SETTINGS: RepositorySettings = {
  imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
  imageTagMutabilityExclusionFilters: ["latest", "dev-*"],
  scanOnPush: true,
  encryption: { type: "KMS", kmsKey: "alias/ecr" },
  tags: { team: "platform", "managed-by": "ecr-mirror" },
  lifecyclePolicy: '{"rules":[]}',
  repositoryPolicy: '{"Version":"2012-10-17","Statement":[]}',
};

let upstream: RunningRegistry;
let flaky: RunningProxy; // in front of the upstream: answers 503 to the first manifest GETs of one repository
let backing: RunningRegistry;
let ecr: LocalEcr;
let client: ECRClient;
let work: string;
let session: CredentialSession;
let counter: InvocationCounter;
let standInLog: string;
let nginx: PushedIndex;
let busybox: PushedIndex;
let redisDigest: string;
let appDigest: string;
let flakyFailuresLeft = 2;

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  flaky = await startProxy(upstream.url, (_req, { kind, repository }) => {
    if (repository === "library/flaky" && kind === "manifest-get" && flakyFailuresLeft > 0) {
      flakyFailuresLeft -= 1;
      return { authorized: true, answer: { refusal: "unsupported", status: 503, body: { errors: [] } } };
    }
    return { authorized: true };
  });
  client = new ECRClient({
    endpoint: ecr.apiUrl,
    region: ecr.region,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  work = await mkdtemp(join(tmpdir(), "execute-harness-"));
  standInLog = join(work, "invocations.jsonl");
  redisDigest = (await pushImage(upstream.url, "library/redis", "7.0", { seed: "redis-7.0" })).digest;
  nginx = await pushIndex(upstream.url, "library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "nginx-1.27",
  });
  busybox = await pushIndex(upstream.url, "library/busybox", "1.37", {
    platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"],
    seed: "busybox-1.37",
  });
  // The same index under a second tag, mirrored with another platform selection.
  await pushIndex(upstream.url, "library/busybox", "1.37-multi", {
    platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"],
    seed: "busybox-1.37",
  });
  appDigest = (await pushImage(upstream.url, "org/app", "build-7", { seed: "app" })).digest;
  await pushImage(upstream.url, "library/flaky", "1", { seed: "flaky" });
  const mask = new SecretMask(() => {});
  const auth = await fetchEcrAuthorization(client, mask);
  session = await openCredentialSession({ credentials: [auth], mask, tempRoot: work });
});

afterAll(async () => {
  await session?.dispose();
  await Promise.all([flaky?.stop(), ecr?.stop()]);
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The images of most tests: YAML list items, under `images:`. */
const allImages = () => `  - redis:7.0
  - nginx:1.27
  - source: busybox
    tags: ["1.37"]
    platforms: [linux/arm64]
  - source: docker.io/library/busybox
    tags: ["1.37-multi"]
    platforms: [linux/amd64, linux/arm/v7]
  - docker.io/org/app@${appDigest}
  - redis:missing
  - flaky:1
`;

/** The mirror list to the local ECR with docker.io at `upstreamHost`; it must parse without a problem. */
function listFor(upstreamHost: string, images = allImages()): MirrorList {
  const yaml = `version: 1
target:
  type: ecr
  registry: ${ecr.registryHost}
upstreams:
  docker.io:
    endpoint: http://${upstreamHost}
images:
${images}`;
  const { list, problems } = parseMirrorList(yaml, "mirrors.yaml");
  if (!list || problems.length > 0) throw new Error(JSON.stringify(problems));
  return list;
}

/** Every entry missing: one creation per repository, one copy per entry (what the planner says on an empty target). */
function missingPlan(
  list: MirrorList,
  overrides: Partial<Record<string, { action: "update"; digest: string }>> = {},
): Plan {
  const steps: Step[] = [];
  for (const repository of new Set(list.images.map((i) => i.repository))) {
    steps.push({
      action: "create-repository",
      kind: "repository",
      repository,
      reason: "missing",
      location: list.images.find((i) => i.repository === repository)!.location,
    });
  }
  for (const entry of list.images) {
    const tag = entry.reference.tag ?? syntheticTag(entry.reference.digest!);
    const step: CopyStep = {
      action: "copy",
      kind: "image",
      source: entry.source,
      repository: entry.repository,
      tag,
      digest: entry.reference.digest,
      targetDigest: null,
      platforms: entry.platforms,
      reason: "missing",
      location: entry.location,
      entry,
    };
    const override = overrides[entry.source];
    steps.push(override ? { ...step, ...override, targetDigest: null } : step);
  }
  const summary: Record<StepAction, number> = {
    "create-repository": 0,
    "reconcile-settings": 0,
    copy: 0,
    update: 0,
    restore: 0,
    blocked: 0,
    present: 0,
    delete: 0,
  };
  for (const s of steps) summary[s.action] += 1;
  return { registry: ecr.registryHost, resync: "missing", steps, summary, warnings: [] };
}

function depsFor(list: MirrorList) {
  const crane = new Crane({
    binary: toolBinary("crane"),
    env: { ...session.craneEnv(), STANDIN_LOG: standInLog },
    counter,
    redact: (t) => session.mask.redact(t),
  });
  return {
    ...ecrTargetChanges(client),
    ...createCopier({
      crane,
      upstreams: list.upstreams,
      registry: ecr.registryHost,
      targetPlainHttp: async () => true,
      workDir: work,
    }),
  };
}

describe("ECR changes through the SDK", () => {
  it("creates a repository with every setting of the list, policies included", async () => {
    expect(await createEcrRepository(client, "settings/probe", SETTINGS)).toBe("created");
    const repo = ecr.repositories().find((r) => r.repositoryName === "settings/probe")!;
    expect(repo).toMatchObject({
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [
        { filterType: "WILDCARD", filter: "latest" },
        { filterType: "WILDCARD", filter: "dev-*" },
      ],
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: "KMS", kmsKey: "alias/ecr" },
      tags: [
        { Key: "team", Value: "platform" },
        { Key: "managed-by", Value: "ecr-mirror" },
      ],
      lifecyclePolicyText: '{"rules":[]}',
      policyText: '{"Version":"2012-10-17","Statement":[]}',
    });
  });

  it("leaves an existing repository as it is", async () => {
    const calls = { ...ecr.calls };
    expect(
      await createEcrRepository(client, "settings/probe", { ...SETTINGS, lifecyclePolicy: '{"rules":[1]}' }),
    ).toBe("exists");
    expect(ecr.calls.PutLifecyclePolicy ?? 0).toBe(calls.PutLifecyclePolicy ?? 0);
    expect(ecr.repositories().find((r) => r.repositoryName === "settings/probe")!.lifecyclePolicyText).toBe(
      '{"rules":[]}',
    );
  });

  it("sends no exclusion filters for the plain modes (ECR refuses them there)", () => {
    expect(createRepositoryInput("a/b", { ...SETTINGS, imageTagMutability: "MUTABLE" })).not.toHaveProperty(
      "imageTagMutabilityExclusionFilters",
    );
  });

  it("deletes tags with BatchDeleteImage; a tag already gone is not a failure", async () => {
    await createEcrRepository(client, "prune/probe", { ...SETTINGS, imageTagMutability: "MUTABLE" });
    const auth = { user: "AWS", password: ecr.password };
    await pushImage(ecr.proxyEndpoint, "prune/probe", "keep", { seed: "keep", auth });
    await pushImage(ecr.proxyEndpoint, "prune/probe", "old", { seed: "old", auth });
    expect(await deleteEcrTags(client, "prune/probe", ["old", "never-there"])).toEqual([]);
    expect(await tagDigest(backing.url, "prune/probe", "old")).toBeNull();
    expect(await tagDigest(backing.url, "prune/probe", "keep")).not.toBeNull();
  });
});

describe("executePlan against the gated ECR with the crane stand-in", () => {
  it("copies what is missing with the upstream's digests, filters platforms, tags digest-only entries, survives a 503 through crane's own retries, and fails only the missing tag", async () => {
    counter = new InvocationCounter();
    const list = listFor(flaky.host);
    const lines: string[] = [];
    const report = await executePlan(missingPlan(list), depsFor(list), {
      repositorySettings: {
        ...SETTINGS,
        imageTagMutability: "MUTABLE",
        encryption: { type: "AES256", kmsKey: null },
      },
      retry: { sleep: async () => {} },
      progress: textProgress((l) => lines.push(l)),
    });
    const outcome = (source: string) => report.steps.find((s) => s.source === source)!;

    // Digests identical to the upstream: a single image, a whole index, a digest-only entry under its synthetic tag.
    expect(await tagDigest(backing.url, "mirrors/library/redis", "7.0")).toBe(redisDigest);
    expect(await tagDigest(backing.url, "mirrors/library/nginx", "1.27")).toBe(nginx.digest);
    expect(await tagDigest(backing.url, "mirrors/org/app", syntheticTag(appDigest))).toBe(appDigest);
    // One platform: that platform's manifest itself.
    expect(await tagDigest(backing.url, "mirrors/library/busybox", "1.37")).toBe(
      busybox.platforms["linux/arm64"],
    );
    // Several platforms: a new index holding exactly those children, byte-identical.
    const multi = await getManifest(backing.url, "mirrors/library/busybox", "1.37-multi");
    const children = (multi.json as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    expect(children).toEqual([busybox.platforms["linux/amd64"], busybox.platforms["linux/arm/v7"]]);
    expect(outcome("docker.io/library/busybox:1.37-multi").digest).toBe(multi.digest);
    // The flaky upstream answered 503 twice; crane retried them itself (as the real crane does), so
    // the step took one attempt here: retries are not stacked on crane's own.
    expect(outcome("docker.io/library/flaky:1")).toMatchObject({ outcome: "copied", attempts: 1 });
    expect(flakyFailuresLeft).toBe(0);
    expect(
      flaky
        .requests()
        .filter((r) => r.repository === "library/flaky" && r.kind === "manifest-get")
        .map((r) => r.status),
    ).toEqual([503, 503, 200]);
    // The missing tag fails alone, with what crane said.
    expect(outcome("docker.io/library/redis:missing")).toMatchObject({ outcome: "failed", attempts: 1 });
    expect(outcome("docker.io/library/redis:missing").error).toMatch(/MANIFEST_UNKNOWN|manifest unknown/);
    expect(report.counts).toMatchObject({ created: 5, copied: 6, failed: 1 });
    expect(report.ok).toBe(false);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^\[\d+\/12\] copy docker\.io\/library\/redis:7\.0 -> mirrors\/library\/redis:7\.0 \(\d+\.\d s\)$/,
      ),
    );
    // Verification read the target only: no extra `crane digest` of an upstream when crane reported the digest.
    if (!REAL_TOOLS) {
      const digests = readInvocationLog(standInLog).filter((r) => r.argv[0] === "digest");
      expect(digests.length).toBe(6);
      expect(digests.every((r) => r.argv[1]!.startsWith(ecr.registryHost))).toBe(true);
      // An http:// endpoint and a plain-HTTP target, and still no --insecure: crane would apply it to the push too.
      const crane = readInvocationLog(standInLog).filter((r) => r.tool === "crane");
      expect(crane.length).toBeGreaterThan(6);
      expect(crane.filter((r) => r.argv.includes("--insecure"))).toEqual([]);
    }
    expect(counter.count("crane", "index filter")).toBe(1);
  });

  it("a plan with nothing to do starts no crane process and sends no manifest PUT", async () => {
    counter = new InvocationCounter();
    ecr.resetCounts();
    const list = listFor(flaky.host);
    const present: Plan = {
      ...missingPlan(list),
      steps: missingPlan(list)
        .steps.filter((s) => s.action === "copy")
        .map((s) => ({ ...s, action: "present" as const })),
    };
    const report = await executePlan(present, depsFor(list), {
      repositorySettings: SETTINGS,
      progress: () => {},
    });
    expect(report.counts.present).toBe(7);
    expect(counter.count()).toBe(0);
    expect(ecr.gateCounts()["manifest-put"] ?? 0).toBe(0);
  });

  it("a digest the target does not hold after the copy is a failure", async () => {
    counter = new InvocationCounter();
    const list = listFor(flaky.host);
    const redis = list.images.find((i: ImageEntry) => i.source === "docker.io/library/redis:7.0")!;
    const wrong = `sha256:${"0".repeat(64)}`;
    const plan = missingPlan(
      { ...list, images: [redis] },
      { [redis.source]: { action: "update", digest: wrong } },
    );
    const report = await executePlan(plan, depsFor(list), {
      repositorySettings: SETTINGS,
      progress: () => {},
    });
    expect(report.steps.at(-1)).toMatchObject({ outcome: "failed" });
    expect(report.steps.at(-1)!.error).toMatch(
      /digest mismatch: .* holds sha256:[0-9a-f]{64}, the source is sha256:0{64}/,
    );
  });

  it("a connection reset mid-blob is survived by crane's own retry; one that keeps resetting fails once, not three times over; the rerun completes with nothing lost", async () => {
    const first = await pushImage(upstream.url, "library/resetme", "1", { seed: "resetme-1" });
    const faulty = await startFaultProxy(upstream.url);
    try {
      // Blob downloads reset after 5 bytes: the next `times`, or all of them.
      const resetBlobs = (times?: number) =>
        faulty.addFault({
          path: /\/library\/resetme\/blobs\/sha256:/,
          method: "GET",
          fault: { kind: "reset", afterBytes: 5 },
          times,
        });
      const list = listFor(faulty.host, "  - resetme:1\n");
      resetBlobs(1);
      counter = new InvocationCounter();
      const ok = await executePlan(missingPlan(list), depsFor(list), {
        repositorySettings: SETTINGS,
        progress: () => {},
      });
      expect(ok.steps.at(-1)).toMatchObject({ outcome: "copied", attempts: 1 });
      expect(faulty.requests().filter((r) => r.fault === "reset")).toHaveLength(1);

      const second = await pushImage(upstream.url, "library/resetme", "2", { seed: "resetme-2" });
      const again = listFor(faulty.host, "  - resetme:2\n");
      resetBlobs();
      counter = new InvocationCounter();
      const failed = await executePlan(missingPlan(again), depsFor(again), {
        repositorySettings: SETTINGS,
        retry: { sleep: async () => {} },
        progress: () => {},
      });
      expect(failed.steps.at(-1)).toMatchObject({ outcome: "failed", attempts: 1 });
      expect(failed.steps.at(-1)!.error).toMatch(/unexpected EOF|reset|terminated|other side closed/i);
      if (!REAL_TOOLS) expect(counter.count("crane", "copy")).toBe(1);
      expect(await tagDigest(backing.url, "mirrors/library/resetme", "2")).toBeNull();

      // The upstream healthy again, the same plan run again completes: the failed tag lands with the
      // upstream's digest, and the tag copied before the fault still holds its own.
      faulty.clearFaults();
      const rerun = await executePlan(missingPlan(again), depsFor(again), {
        repositorySettings: SETTINGS,
        progress: () => {},
      });
      expect(rerun.ok).toBe(true);
      expect(rerun.steps.at(-1)).toMatchObject({ outcome: "copied", digest: second.digest });
      expect(await tagDigest(backing.url, "mirrors/library/resetme", "2")).toBe(second.digest);
      expect(await tagDigest(backing.url, "mirrors/library/resetme", "1")).toBe(first.digest);
    } finally {
      await faulty.stop();
    }
  }, 60_000);
});
