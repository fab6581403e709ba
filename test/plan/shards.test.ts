// The shard planner as pure functions: a real plan (planMirror on a parsed list and an observed target) split
// into the seed and N sync shards; balance by bytes, the shared-layer order, every step exactly once, the
// repository creations once and first, deletions never in a shard.
import { describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import type { ObservedRepository, ObservedTarget } from "../../src/observe/model.js";
import { type EntryStep, isEntryStep, type Plan, plannedList, type Step } from "../../src/plan/model.js";
import { planMirror } from "../../src/plan/plan.js";
import {
  autoShardCount,
  onlyEntries,
  planShards,
  restrictPlan,
  shardKeeps,
  stepKey,
} from "../../src/plan/shards.js";
import type { CopyContent } from "../../src/plan/sharing.js";

const MiB = 1024 * 1024;

function planOf(names: string[], held: ObservedRepository[] = [], prune = false): Plan {
  const yaml = `version: 1
target:
  region: eu-west-1
  prune: ${prune}
images:
${names.map((n) => `  - ${n}`).join("\n")}
`;
  const r = parseMirrorList(yaml, "mirrors.yaml");
  if (!r.list) throw new Error(r.problems.map((p) => p.message).join("\n"));
  const target: ObservedTarget = {
    registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    repositories: new Map(held.map((h) => [h.name, h])),
  };
  return planMirror(plannedList(r.list), target, { resync: "missing", dockerHubCredentials: true });
}

function repo(name: string, tags: Record<string, string | null>): ObservedRepository {
  return {
    name,
    imageTagMutability: "MUTABLE",
    imageTagMutabilityExclusionFilters: [],
    tags: new Map(Object.entries(tags)),
  };
}

const blob = (name: string, size: number) => ({ digest: `sha256:${name.padEnd(64, "0")}`, size });
const BASE = blob("ba5e", 30 * MiB);

/** Where every step of the set went, by `action key`. */
function placements(set: ReturnType<typeof planShards>): Map<string, string[]> {
  const at = new Map<string, string[]>();
  const put = (s: Step, where: string) => {
    const key = `${s.action} ${s.repository}${"tag" in s ? `:${s.tag}` : ""}`;
    at.set(key, [...(at.get(key) ?? []), where]);
  };
  for (const s of set.prepare) put(s, "prepare");
  for (const s of set.final) put(s, "final");
  for (const shard of set.shards) for (const s of shard.steps) put(s, `shard ${shard.shard}`);
  return at;
}

describe("planShards", () => {
  it("puts every step of the plan in exactly one place: creations in prepare, deletions in final", () => {
    const plan = planOf(
      ["redis:7.0", "redis:7.2", "nginx:1.27", "busybox:1.37", "alpine:3.20", "quay.io/org/app:1"],
      [repo("mirrors/library/redis", { "7.0": "sha256:x", old: "sha256:y" })],
      true,
    );
    const set = planShards(plan, 3, () => null);
    const at = placements(set);
    expect([...at.values()].every((w) => w.length === 1)).toBe(true);
    expect(at.size).toBe(plan.steps.length);
    expect(at.get("delete mirrors/library/redis:old")).toEqual(["final"]);
    expect(at.get("create-repository mirrors/library/nginx")).toEqual(["prepare"]);
    // What the target already holds is the seed's (so the merged report holds it once).
    expect(at.get("present mirrors/library/redis:7.0")).toEqual(["shard 0"]);
    // No sync shard carries a creation or a deletion.
    for (const shard of set.shards) expect(shard.steps.every(isEntryStep)).toBe(true);
    expect(set.shards.map((s) => s.shard)).toEqual([0, 1, 2, 3]);
  });

  it("balances the shards by bytes: largest first, onto the lightest shard", () => {
    const names = Array.from({ length: 12 }, (_, i) => `team/app${i}:1`);
    const plan = planOf(names);
    const sizes = [90, 10, 10, 10, 40, 40, 20, 20, 30, 30, 50, 10];
    const content = (s: EntryStep): CopyContent => {
      const i = Number(/app(\d+)/.exec(s.repository)![1]);
      return { blobs: [blob(`a${i}f`, sizes[i]! * MiB)], manifests: 1 };
    };
    const set = planShards(plan, 3, content);
    const bytes = set.shards.slice(1).map((s) => s.bytes / MiB);
    expect(bytes.reduce((a, b) => a + b, 0)).toBe(360);
    // 360 MiB over 3: the greedy split is within the largest copy of even.
    expect(Math.max(...bytes) - Math.min(...bytes)).toBeLessThanOrEqual(10);
    expect(set.shards[0]!.steps).toEqual([]);
  });

  it("puts the first copy of every shared layer in the seed, and the rest mount it from there", () => {
    const names = ["team/a:1", "team/b:1", "team/c:1", "team/d:1", "team/e:1"];
    const plan = planOf(names);
    const content = (s: EntryStep): CopyContent => ({
      // a, b and c share BASE; d and e have nothing in common with anyone.
      blobs: ["a", "b", "c"].some((x) => s.repository.endsWith(`/${x}`))
        ? [BASE, blob(s.repository.slice(-1), MiB)]
        : [blob(s.repository.slice(-1), 5 * MiB)],
      manifests: 1,
    });
    const set = planShards(plan, 2, content);
    const seed = set.shards[0]!.steps.filter((s) => s.action === "copy").map((s) => s.repository);
    expect(seed).toEqual(["mirrors/team/a"]);
    expect(set.held.get(BASE.digest)).toBe("mirrors/team/a");
    // b and c weigh only their own layer: the shared base counts once, in the seed.
    expect(set.shards[0]!.bytes).toBe(31 * MiB);
    expect(set.shards.slice(1).reduce((n, s) => n + s.bytes, 0)).toBe(12 * MiB);
    const rest = set.shards.slice(1).flatMap((s) => s.steps.map((x) => x.repository));
    expect(rest.sort()).toEqual(["mirrors/team/b", "mirrors/team/c", "mirrors/team/d", "mirrors/team/e"]);
  });

  it("drops empty shards and balances unknown contents by count", () => {
    const plan = planOf(["team/a:1", "team/b:1", "team/c:1", "team/d:1", "team/e:1"]);
    const set = planShards(plan, 8, () => null);
    expect(set.shards.length).toBe(6);
    expect(set.shards.slice(1).every((s) => s.steps.length === 1)).toBe(true);
    const two = planShards(plan, 2, () => null);
    expect(two.shards.slice(1).map((s) => s.steps.length)).toEqual([3, 2]);
  });

  it("sizes auto from copies and bytes", () => {
    expect(autoShardCount(10, 0)).toBe(1);
    expect(autoShardCount(2000, 0)).toBe(8);
    expect(autoShardCount(100, 100 * 1024 ** 3)).toBe(5);
    expect(autoShardCount(100_000, 0)).toBe(16);
    const plan = planOf(Array.from({ length: 600 }, (_, i) => `team/app${i % 40}:${i}`));
    expect(planShards(plan, "auto", () => null).shards.length).toBe(1 + 3);
  });
});

describe("a shard's own steps", () => {
  const plan = planOf(
    ["redis:7.0", "redis:7.2", "nginx:1.27"],
    [repo("mirrors/library/redis", { "7.0": "sha256:x", gone: "sha256:z" })],
    true,
  );
  const set = planShards(plan, 2, () => null);

  it("the seed keeps the creations, the settings and its entries; a sync shard its entries; none a deletion", () => {
    const seedKeys = new Set(set.shards[0]!.steps.map(stepKey));
    const seed = restrictPlan(plan, shardKeeps({ shard: 0, keys: seedKeys }));
    expect(seed.steps.map((s) => s.action).sort()).toEqual(["create-repository", "present"]);
    expect(seed.summary.delete).toBe(0);
    const one = set.shards[1]!;
    const kept = restrictPlan(plan, shardKeeps({ shard: 1, keys: new Set(one.steps.map(stepKey)) }));
    expect(kept.steps.filter(isEntryStep).map(stepKey)).toEqual(one.steps.map(stepKey));
    expect(kept.summary.copy).toBe(one.steps.length);
  });

  it("onlyEntries keeps the list's entries of one shard", () => {
    const r = parseMirrorList(
      "version: 1\nimages:\n  - redis:7.0\n  - redis:7.2\n  - nginx:1.27\n",
      "m.yaml",
    );
    const only = onlyEntries(r.list!, new Set(["mirrors/library/redis:7.2"]));
    expect(only.images.map((i) => i.source)).toEqual(["docker.io/library/redis:7.2"]);
  });
});

describe("planShards with referrers", () => {
  it("puts an image's signatures and SBOMs in its shard, where that shard's plan finds them again", () => {
    const plan = planOf(["redis:7.0", "nginx:1.27", "busybox:1.37", "alpine:3.20"]);
    // The referrer steps planReferrers adds after an image's copy: cosign's signature tag and an SBOM.
    const image = plan.steps.find((s) => s.action === "copy" && s.repository === "mirrors/library/nginx");
    if (image?.action !== "copy") throw new Error("no nginx copy");
    const referrer = (tag: string, kind: "signature" | "sbom") => ({
      ...image,
      tag,
      referrer: {
        of: image.source,
        subject: "sha256:1".padEnd(71, "1"),
        kind,
        artifactType: null,
        tagged: true,
      },
    });
    const steps = [...plan.steps];
    steps.splice(
      steps.indexOf(image) + 1,
      0,
      referrer("sha256-1.sig", "signature"),
      referrer("sha256-1.sbom", "sbom"),
    );
    const set = planShards({ ...plan, steps }, 4, () => null);
    const at = placements(set);
    expect([...at.values()].every((w) => w.length === 1)).toBe(true);
    const where = at.get("copy mirrors/library/nginx:1.27");
    expect(at.get("copy mirrors/library/nginx:sha256-1.sig")).toEqual(where);
    expect(at.get("copy mirrors/library/nginx:sha256-1.sbom")).toEqual(where);
  });
});

describe("planShards keeps a repository in one sync shard", () => {
  it("never splits one repository's copies over two shards that run at once", () => {
    const names = Array.from({ length: 12 }, (_, i) => [`app${i}:1.0`, `app${i}:1.1`, `app${i}:1.2`]).flat();
    const set = planShards(planOf(names), 4, () => null);
    const shardOf = new Map<string, number>();
    for (const shard of set.shards.filter((s) => s.shard > 0))
      for (const step of shard.steps) {
        expect(shardOf.get(step.repository) ?? shard.shard, step.repository).toBe(shard.shard);
        shardOf.set(step.repository, shard.shard);
      }
    expect(new Set(shardOf.values()).size).toBe(4);
  });
});
