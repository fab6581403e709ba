// Manifest PUTs shaped to ECR's PutImage quota. The pace is driven by a fake clock here (what it books in
// each window); the process-level test below runs real copies through the local ECR, whose gate throttles
// manifest PUTs above its quota as ECR does, and counts every PUT it receives.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManifestPace, putThrottled } from "../../src/execute/pace.js";
import type { MirrorList } from "../../src/list/model.js";
import { connectTarget, type SyncRunResult, syncRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { pushImage, pushIndex } from "../harness/images.js";
import { validList } from "../harness/list.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
}

/** Whether every booking starts no earlier than the manifests booked before it allow at `rate` a second. */
function withinRate(bookings: { at: number; n: number }[], rate: number): boolean {
  let before = 0;
  for (const b of bookings) {
    if (b.at + 1e-9 < (before * 1000) / rate) return false;
    before += b.n;
  }
  return true;
}

describe("the manifest pace", () => {
  it("never books more manifests in a second than the rate, an index counting its children and itself", async () => {
    const clock = fakeClock();
    const pace = new ManifestPace(10, clock);
    const bookings: { at: number; n: number }[] = [];
    const sizes = [1, 1, 3, 1, 5, 1, 1, 1, 3, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1];
    for (const n of sizes) {
      await pace.acquire(n);
      bookings.push({ at: clock.now(), n });
    }
    expect(bookings).toHaveLength(sizes.length);
    expect(withinRate(bookings, 10)).toBe(true);
    // 30 manifests at 10 a second: the last copy starts 2.9 seconds in (after the 29 before it), not at once.
    expect(bookings.at(-1)!.at).toBe(2900);
  });

  it("halves the rate when ECR throttles and climbs back as copies go through", async () => {
    const clock = fakeClock();
    const pace = new ManifestPace(10, clock);
    pace.throttled();
    expect(pace.report.rate).toBe(5);
    const bookings: { at: number; n: number }[] = [];
    for (let i = 0; i < 10; i++) {
      await pace.acquire(1);
      bookings.push({ at: clock.now(), n: 1 });
    }
    expect(withinRate(bookings, 5)).toBe(true);
    expect(bookings.at(-1)!.at).toBe(1800);
    for (let i = 0; i < 20; i++) pace.succeeded();
    expect(pace.report).toMatchObject({ quota: 10, rate: 10, throttled: 1 });
  });

  it("tells a throttled manifest PUT to the target from an upstream's rate limit", () => {
    const target = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    const put = new Error(
      `crane copy a -> b failed (exit 1): Error: PUT https://${target}/v2/mirrors/x/manifests/1: TOOMANYREQUESTS: Rate exceeded`,
    );
    const upstream = new Error(
      "crane copy a -> b failed (exit 1): GET https://registry-1.docker.io/v2/library/x/manifests/1: TOOMANYREQUESTS: You have reached your pull rate limit",
    );
    expect(putThrottled(put, target)).toBe(true);
    expect(putThrottled(upstream, target)).toBe(false);
  });
});

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let restoreEnv: (() => void) | undefined;
const QUOTA = 4;
const NAMES = Array.from({ length: 10 }, (_, i) => `paced${i}`);

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing, putImageRate: QUOTA });
  root = await mkdtemp(join(tmpdir(), "pace-"));
  await plantToolCache(join(root, "tool-cache"), "crane");
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root });
  for (const name of NAMES) await pushImage(upstream.url, `library/${name}`, "1", { seed: name });
  await pushIndex(upstream.url, "library/multi", "1", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "multi",
  });
}, 60_000);

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

function mirrorList(prefix: string): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
  imagePrefix: ${prefix}
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
${[...NAMES, "multi"].map((n) => `  - ${n}:1`).join("\n")}
`;
  return validList(text);
}

async function sync(list: MirrorList, putImageRate: number, on: LocalEcr = ecr): Promise<SyncRunResult> {
  const mask = new SecretMask(() => {});
  const ecrClient = on.client();
  const target = await connectTarget(list, { mask, ecrClient });
  return syncRun(list, target, {
    resync: "missing",
    upstreamCredentials: [],
    mask,
    log: () => {},
    progress: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
    concurrency: 8,
    putImageRate,
  });
}

describe("manifest PUTs against ECR's PutImage quota", () => {
  it("are paced across 8 copies in flight: ECR throttles far fewer than when they are not, and every copy lands", async () => {
    ecr.resetCounts();
    const unpaced = await sync(mirrorList("unpaced"), 1000);
    const throttledUnpaced = ecr.gateCounts().throttled ?? 0;
    ecr.resetCounts();
    const paced = await sync(mirrorList("paced"), QUOTA);
    const throttledPaced = ecr.gateCounts().throttled ?? 0;
    // crane PUTs at the end of each copy and copies' durations vary, so pacing the starts leaves a little to
    // ECR's burst allowance and crane's own retries; without it 8 copies in flight run into the quota at once.
    expect(throttledPaced).toBeLessThanOrEqual(2);
    expect(throttledUnpaced).toBeGreaterThan(throttledPaced);
    for (const result of [unpaced, paced]) {
      expect(result.report.ok).toBe(true);
      expect(result.report.counts.copied).toBe(NAMES.length + 1);
    }
    const puts = ecr.gateRequests().filter((r) => r.kind === "manifest-put" && r.status === 201);
    // 10 single manifests and one index with its two children.
    expect(puts).toHaveLength(NAMES.length + 3);
    expect(paced.pace).toMatchObject({ quota: QUOTA });
  }, 120_000);

  it("slows down when ECR keeps throttling: a copy crane gave up on is tried again at a lower rate", async () => {
    // An account whose quota is 1 PutImage a second, and a pace set 10 times higher: crane's own retries
    // (1 s, then 3 s) run out for some copies, and ecr-mirror tries those again, slower.
    const backing2 = await startRegistry();
    const strict = await startEcr({ registry: backing2, putImageRate: 1 });
    try {
      const result = await sync(mirrorList("throttled"), 10, strict);
      expect(result.report.ok).toBe(true);
      expect(result.report.counts.copied).toBe(NAMES.length + 1);
      expect(result.pace?.throttled ?? 0).toBeGreaterThan(0);
      expect(result.pace?.rate ?? Number.POSITIVE_INFINITY).toBeLessThan(10);
    } finally {
      await strict.stop();
      await backing2.stop();
    }
  }, 180_000);
});
