// Issue 14, platforms: entries with `platforms:` synced into the gated local ECR from a real upstream registry (behind
// a counting proxy) with the crane stand-in (or the real crane under ECR_MIRROR_REAL_TOOLS=1) from the tool cache.
// The upstream images have Docker Hub's shapes: arm64 labelled linux/arm64/v8, an index child without a platform,
// a single-platform image. What is asserted is what a user sees: the plan, what lands in ECR, what went upstream.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MirrorError } from "../../src/errors.js";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { stepFields } from "../../src/plan/model.js";
import { describeFailure } from "../../src/report/failure.js";
import { connectTarget, type SyncRunResult, syncRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type RunningProxy, startCountingProxy } from "../harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import {
  buildImage,
  getManifest,
  type IndexChildSpec,
  pushImage,
  pushIndexOf,
  tagDigest,
} from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, readInvocationLog, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstreamRegistry: RunningRegistry;
let upstream: RunningProxy;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let log: string;
let restoreEnv: (() => void) | undefined;

beforeAll(async () => {
  [upstreamRegistry, backing] = await Promise.all([startRegistry(), startRegistry()]);
  upstream = await startCountingProxy({ url: upstreamRegistry.url });
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "platforms-sync-"));
  log = join(root, "standin.jsonl");
  await plantToolCache(join(root, "tool-cache"), "crane");
  restoreEnv = setEnv({
    RUNNER_TOOL_CACHE: join(root, "tool-cache"),
    RUNNER_TEMP: root,
    STANDIN_LOG: log,
  });
});

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await upstream?.stop();
  await Promise.all([upstreamRegistry?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

const LINUX_AMD64 = { os: "linux", architecture: "amd64" };
const LINUX_ARM64_V8 = { os: "linux", architecture: "arm64", variant: "v8" };
const LINUX_ARM_V7 = { os: "linux", architecture: "arm", variant: "v7" };

function listText(images: string): string {
  return `version: 1
target:
  region: ${ecr.region}
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
${images}`;
}

function parse(text: string): MirrorList {
  const { list, problems } = parseMirrorList(text, "mirrors.yaml");
  if (!list || problems.length > 0) throw new Error(JSON.stringify(problems));
  return list;
}

async function sync(text: string, resync: "missing" | "digest"): Promise<SyncRunResult> {
  const list = parse(text);
  const mask = new SecretMask(() => {});
  const client = ecr.client();
  const target = await connectTarget(list, { mask, ecrClient: client });
  return syncRun(list, target, {
    resync,
    upstreamCredentials: [],
    mask,
    log: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
  });
}

const actions = (r: SyncRunResult) =>
  r.plan.steps.map(stepFields).map((s) => `${s.action} ${s.repository}${s.tag ? `:${s.tag}` : ""}`);
const processes = (r: SyncRunResult) => Object.values(r.processes).reduce((a, b) => a + b, 0);
const upstreamRequests = () => upstream.requests().map((r) => `${r.method} ${r.kind} ${r.repository}`);
const children = async (repository: string, tag: string) =>
  (
    (await getManifest(backing.url, repository, tag)).json as { manifests: { digest: string }[] }
  ).manifests.map((m) => m.digest);

describe("platforms: [linux/arm64] on Docker Hub's linux/arm64/v8 children", () => {
  const hub = (seed: string): IndexChildSpec[] => [
    { image: buildImage(`${seed}-amd64`, "linux/amd64"), platform: LINUX_AMD64 },
    { image: buildImage(`${seed}-arm64`, "linux/arm64/v8"), platform: LINUX_ARM64_V8 },
  ];
  const text = () => listText('  - source: hub\n    tags: ["1"]\n    platforms: [linux/arm64]\n');

  it("copies the v8 child, stays quiet when nothing moved, and re-copies a drifted upstream in resync digest", async () => {
    const first = hub("hub-a");
    await pushIndexOf(upstreamRegistry.url, "library/hub", "1", first);
    const copied = await sync(text(), "digest");
    expect(copied.report.ok).toBe(true);
    expect(actions(copied)).toEqual(["create-repository mirrors/library/hub", "copy mirrors/library/hub:1"]);
    // The plan read the index: the copy step names the arm64/v8 child, and the copy is verified against it.
    expect(copied.plan.steps[1]).toMatchObject({ action: "copy", digest: first[1]!.image.digest });
    expect(await tagDigest(backing.url, "mirrors/library/hub", "1")).toBe(first[1]!.image.digest);

    // resync missing, nothing to do: no process, nothing sent upstream.
    upstream.resetCounts();
    const quiet = await sync(text(), "missing");
    expect(actions(quiet)).toEqual(["present mirrors/library/hub:1"]);
    expect(processes(quiet)).toBe(0);
    expect(upstream.requests()).toEqual([]);

    // resync digest, nothing moved: the arm64/v8 child is the one compared; one manifest GET, no process.
    upstream.resetCounts();
    const same = await sync(text(), "digest");
    expect(same.plan.steps[0]).toMatchObject({
      action: "present",
      reason: "present and identical to the upstream",
    });
    expect(processes(same)).toBe(0);
    expect(upstreamRequests()).toEqual(["GET manifest-get library/hub"]);

    // The upstream moves the tag: noticed and re-copied (before: "present" forever, the mirror stale).
    const moved = hub("hub-b");
    await pushIndexOf(upstreamRegistry.url, "library/hub", "1", moved);
    const updated = await sync(text(), "digest");
    expect(updated.plan.steps[0]).toMatchObject({ action: "update", digest: moved[1]!.image.digest });
    expect(updated.report.ok).toBe(true);
    expect(await tagDigest(backing.url, "mirrors/library/hub", "1")).toBe(moved[1]!.image.digest);
  }, 60_000);
});

describe("a platform the upstream image does not have", () => {
  it("fails the plan at that platform's line, naming the image's platform, and copies nothing", async () => {
    const only = await pushImage(upstreamRegistry.url, "library/only", "1", { seed: "amd64-only" });
    const text = listText('  - source: only\n    tags: ["1"]\n    platforms:\n      - linux/arm64\n');
    const lines = text.split("\n");
    const line = lines.findIndex((l) => l.includes("- linux/arm64")) + 1;
    const column = lines[line - 1]!.indexOf("linux/arm64") + 1;
    upstream.resetCounts();
    ecr.resetCounts();
    const before = readInvocationLog(log).length;

    const error = await sync(text, "missing").then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MirrorError);
    const shown = describeFailure(error, new SecretMask(() => {}));
    expect(shown).toContain(
      `mirrors.yaml:${line}:${column}: error: docker.io/library/only:1 is a single-platform image (linux/amd64), not linux/arm64`,
    );
    expect(shown).toContain(
      "hint: crane would copy this image as it is, whatever platform is asked for; list platforms: [linux/amd64]",
    );
    expect(shown).not.toMatch(/\n\s+at /); // no stack trace

    // Nothing copied: no repository, no push through the gate, no crane process; upstream, the manifest and its config.
    expect(ecr.calls.CreateRepository).toBeUndefined();
    expect(ecr.gateRequests().filter((r) => r.kind !== "ping")).toEqual([]);
    expect(await tagDigest(backing.url, "mirrors/library/only", "1")).toBeNull();
    expect(readInvocationLog(log).slice(before)).toEqual([]);
    expect(upstreamRequests().sort()).toEqual(["GET blob-get library/only", "GET manifest-get library/only"]);
    expect(only.digest).toMatch(/^sha256:/);
  }, 60_000);
});

describe("an index child without a platform", () => {
  const old = (seed: string): IndexChildSpec[] => [
    { image: buildImage(`${seed}-amd64`, "linux/amd64"), platform: null },
    { image: buildImage(`${seed}-arm64`, "linux/arm64/v8"), platform: LINUX_ARM64_V8 },
  ];
  const text = () => listText('  - { source: old, tags: ["1"], platforms: [linux/amd64] }\n');

  it("is linux/amd64 to crane: copied, compared, and re-copied when it moves", async () => {
    const first = old("old-a");
    await pushIndexOf(upstreamRegistry.url, "library/old", "1", first);
    const copied = await sync(text(), "digest");
    expect(copied.report.ok).toBe(true);
    expect(await tagDigest(backing.url, "mirrors/library/old", "1")).toBe(first[0]!.image.digest);
    const same = await sync(text(), "digest");
    expect(same.plan.steps[0]).toMatchObject({
      action: "present",
      reason: "present and identical to the upstream",
    });
    expect(processes(same)).toBe(0);

    const moved = old("old-b");
    await pushIndexOf(upstreamRegistry.url, "library/old", "1", moved);
    const updated = await sync(text(), "digest");
    expect(updated.plan.steps[0]).toMatchObject({ action: "update", digest: moved[0]!.image.digest });
    expect(await tagDigest(backing.url, "mirrors/library/old", "1")).toBe(moved[0]!.image.digest);
  }, 60_000);
});

describe("an index filter with two platforms", () => {
  const multi = (amd64Seed: string, arm64Seed: string): IndexChildSpec[] => [
    { image: buildImage(amd64Seed, "linux/amd64"), platform: LINUX_AMD64 },
    { image: buildImage(arm64Seed, "linux/arm64/v8"), platform: LINUX_ARM64_V8 },
    { image: buildImage("multi-armv7", "linux/arm/v7"), platform: LINUX_ARM_V7 },
  ];
  const text = () => listText('  - { source: multi, tags: ["1"], platforms: [linux/amd64, linux/arm64] }\n');

  it("keeps amd64 and the arm64/v8 child, and notices when only the arm64 child moves", async () => {
    const first = multi("multi-amd64", "multi-arm64-a");
    await pushIndexOf(upstreamRegistry.url, "library/multi", "1", first);
    const copied = await sync(text(), "digest");
    expect(copied.report.ok).toBe(true);
    expect(await children("mirrors/library/multi", "1")).toEqual([
      first[0]!.image.digest,
      first[1]!.image.digest,
    ]);

    upstream.resetCounts();
    const same = await sync(text(), "digest");
    expect(same.plan.steps[0]).toMatchObject({
      action: "present",
      reason: "present; the kept platforms match the upstream",
    });
    expect(processes(same)).toBe(0);
    expect(upstreamRequests()).toEqual(["GET manifest-get library/multi"]);

    // Only the arm64/v8 child moves (amd64 and arm/v7 stay): linux/arm64 must be seen to have moved.
    const moved = multi("multi-amd64", "multi-arm64-b");
    await pushIndexOf(upstreamRegistry.url, "library/multi", "1", moved);
    const updated = await sync(text(), "digest");
    expect(updated.plan.steps[0]).toMatchObject({
      action: "update",
      reason: expect.stringContaining("linux/arm64 moved upstream"),
    });
    expect(updated.report.ok).toBe(true);
    expect(await children("mirrors/library/multi", "1")).toEqual([
      moved[0]!.image.digest,
      moved[1]!.image.digest,
    ]);
  }, 60_000);
});
