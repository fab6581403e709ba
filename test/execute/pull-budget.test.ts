// Docker Hub's pull budget on a first sync: the budget is read from a HEAD (free), the plan's log says how
// many counted pulls the sync needs, and when they exceed what is left the sync copies what fits, leaves the
// rest for the next run, and ends green with a warning; the next run (a new window) finishes the job. The
// upstream is a real registry behind a stand-in that keeps Docker Hub's budget headers and refuses pulls
// once the budget is spent.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { connectTarget, type SyncRunResult, syncRun } from "../../src/run.js";
import { type ShardPlan, shardSyncRun } from "../../src/sharded.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { pushLayered } from "../harness/layered-images.js";
import { validList } from "../harness/list.js";
import { type BudgetedUpstream, startBudgetedUpstream } from "../harness/pull-budget.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let hub: BudgetedUpstream;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let restoreEnv: (() => void) | undefined;
const SINGLES = ["one", "two", "three", "four", "five", "six"];

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  hub = await startBudgetedUpstream(upstream, { limit: 100, remaining: 100 });
  ecr = await startEcr({ registry: backing, blobMounting: "ENABLED" });
  root = await mkdtemp(join(tmpdir(), "pull-budget-"));
  await plantToolCache(join(root, "tool-cache"), "crane");
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root });
  for (const name of SINGLES)
    await pushLayered(upstream.url, `library/${name}`, "1", { base: "debian", app: name });
  // Listed last: a two-platform image, two pulls.
  await pushLayered(upstream.url, "library/multi", "1", {
    base: "debian",
    app: "multi",
    platforms: ["linux/amd64", "linux/arm64"],
  });
}, 60_000);

afterAll(async () => {
  restoreEnv?.();
  await Promise.all([ecr?.stop(), hub?.proxy.stop()]);
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

function mirrorList(prefix: string): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
  imagePrefix: ${prefix}
upstreams:
  docker.io: { endpoint: "${hub.proxy.url}" }
images:
${[...SINGLES, "multi"].map((n) => `  - ${n}:1`).join("\n")}
`;
  return validList(text);
}

async function sync(list: MirrorList, log: string[]): Promise<SyncRunResult> {
  const mask = new SecretMask(() => {});
  const ecrClient = ecr.client();
  const target = await connectTarget(list, { mask, ecrClient });
  return syncRun(list, target, {
    resync: "missing",
    upstreamCredentials: [],
    mask,
    log: (line) => log.push(line),
    progress: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
  });
}

describe("Docker Hub's pull budget", () => {
  it("copies what fits a short budget, leaves the rest for the next run with a warning, ends green, and the rerun finishes", async () => {
    // 6 single images (1 pull each) and a two-platform one (2): 8 pulls; 5 left.
    hub.reset(5);
    const log: string[] = [];
    const first = await sync(mirrorList("budget"), log);
    expect(first.report.ok).toBe(true);
    expect(first.report.counts).toMatchObject({ copied: 5, skipped: 2, failed: 0 });
    expect(hub.refused()).toBe(0);
    expect(hub.spent()).toBe(5);
    expect(log).toContain(`Pull budget of ${hub.proxy.url}: the sync needs 8 counted pulls; 5 left`);
    const warnings = first.plan.warnings.map((w) => w.message);
    expect(warnings).toContainEqual(
      `${hub.proxy.url}: the sync needs 8 counted pulls and 5 of 100 pulls left (window 6 h): 2 copies (3 pulls) left for the next run`,
    );
    const skipped = first.report.steps.filter((s) => s.outcome === "skipped").map((s) => s.source);
    expect(skipped).toEqual(["docker.io/library/six:1", "docker.io/library/multi:1"]);
    // No layer reads: the budget was short, so sharing was given up (and said so in the figures). The one
    // in-process GET is the two-platform image's index, to count its platforms; it spends no pull.
    expect(first.upstreamReads).toBe(1);
    expect(first.budgets?.[0]).toMatchObject({ needed: 8, remaining: 5, sharingGivenUp: true, deferred: 2 });

    // The next window: the rerun copies the two left over, and now shares their layers.
    hub.reset(100);
    const second = await sync(mirrorList("budget"), []);
    expect(second.report.ok).toBe(true);
    expect(second.report.counts).toMatchObject({ copied: 2, skipped: 0 });
    expect(second.plan.warnings).toEqual([]);
    expect(hub.refused()).toBe(0);
  }, 120_000);

  it("gives a shard of a sharded sync its share of the budget: what is left over the shards running at once", async () => {
    // 8 pulls needed and 8 left: one job copies everything; a shard of two running at once gets 4.
    hub.reset(8);
    const list = mirrorList("budget-shard");
    const mask = new SecretMask(() => {});
    const target = await connectTarget(list, { mask, ecrClient: ecr.client() });
    const shard: ShardPlan = {
      format: "ecr-mirror-shard/1",
      shard: 1,
      shards: 2,
      parallel: 2,
      registry: target.registry,
      resync: "missing",
      entries: [...SINGLES, "multi"].map((n) => ({
        action: "copy",
        source: `docker.io/library/${n}:1`,
        repository: `budget-shard/library/${n}`,
        tag: "1",
        bytes: 0,
        content: null,
      })),
      held: {},
    };
    const log: string[] = [];
    const result = await shardSyncRun(list, target, shard, {
      resync: "missing",
      upstreamCredentials: [],
      mask,
      log: (line) => log.push(line),
      progress: () => {},
      crane: { version: STAND_IN_TOOL_VERSIONS.crane },
    });
    expect(result.report.ok).toBe(true);
    expect(result.report.counts).toMatchObject({ copied: 4, skipped: 3, failed: 0 });
    expect(result.budgets?.[0]).toMatchObject({ needed: 8, remaining: 4 });
    expect(hub.spent()).toBeLessThanOrEqual(4);
  }, 120_000);
});
