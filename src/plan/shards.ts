/**
 * The sharded sync, decided without I/O: a plan split into a seed shard and N sync shards that GitHub Actions
 * runs as matrix jobs.
 *
 * - Shard 0, the seed, runs first and alone. It creates the repositories and reconciles their settings (once, so
 *   the sync shards never race on them), carries the entries the target already holds (present, blocked), and
 *   copies the first image of every layer that two or more copies share. Every later copy then finds its shared
 *   layers in the registry, to be mounted, not uploaded, whichever shard it runs in.
 * - Shards 1..N carry the other copies, updates and restores, balanced by the bytes each moves: after the seed,
 *   each of their blobs belongs to that copy alone, so the bytes of a shard are what it uploads. Largest first,
 *   each onto the lightest shard.
 * - Deletions (prune) belong to neither: the merge runs them once every shard has reported.
 *
 * Every step of the plan lands in exactly one place.
 */
import type { MirrorList } from "../list/model.js";
import { type EntryStep, isEntryStep, type Plan, STEP_ACTIONS, type Step, type StepAction } from "./model.js";
import { targetTag } from "./plan.js";
import { type CopyContent, orderForSharing } from "./sharing.js";

/** Where an entry step runs: the key of its target tag (`mirrors/library/redis:7.0`). */
export function stepKey(step: { repository: string; tag: string }): string {
  return `${step.repository}:${step.tag}`;
}

export interface ShardAssignment {
  /** 0: the seed; 1..N: the sync shards. */
  shard: number;
  /** The entry steps it carries out, in plan order. */
  steps: EntryStep[];
  /** Bytes its copies upload (layers of copies whose content is known; shared layers count in the seed only). */
  bytes: number;
}

export interface ShardSet {
  /** Create-repository and reconcile-settings steps: the seed runs them before any shard copies. */
  prepare: Step[];
  /** The seed (shard 0), always present, then the sync shards 1..N (none empty). */
  shards: ShardAssignment[];
  /** Deletions: run by the merge, after every shard. */
  final: Step[];
  /** Blobs the seed brings, with the repository its copy puts each in: the sync shards mount them from there. */
  held: Map<string, string>;
}

/** `auto` sizing: one sync shard per this many copies, or per this many bytes, whichever asks more. */
export const AUTO_SHARD = { copies: 250, bytes: 20 * 1024 ** 3, max: 16 };

/**
 * The number of sync shards `auto` chooses: one per 250 copies (updates and restores count as copies) or per
 * 20 GiB to upload, whichever is more, at least 1 and at most 16.
 */
export function autoShardCount(copies: number, bytes: number): number {
  const wanted = Math.max(Math.ceil(copies / AUTO_SHARD.copies), Math.ceil(bytes / AUTO_SHARD.bytes));
  return Math.min(AUTO_SHARD.max, Math.max(1, wanted));
}

/** Steps the shards carry: those that move or restore something. */
function isShardWork(step: Step): step is EntryStep {
  return step.action === "copy" || step.action === "update" || step.action === "restore";
}

/** The image a referrer step belongs to (its `source`), or null for any other step. */
function referrerOf(step: EntryStep): string | null {
  return "referrer" in step && step.referrer ? step.referrer.of : null;
}

function blobBytes(content: CopyContent | null, skip: ReadonlySet<string>): number {
  return (content?.blobs ?? []).filter((b) => !skip.has(b.digest)).reduce((n, b) => n + b.size, 0);
}

/**
 * Splits `plan` into the seed and `count` sync shards (or `auto`: `autoShardCount`). `contentOf` gives each
 * copy's blobs when they were read upstream (null: unknown; such a copy weighs as much as the average known one,
 * or 1 when none is known).
 */
export function planShards(
  plan: Plan,
  count: number | "auto",
  contentOf: (step: EntryStep) => CopyContent | null,
): ShardSet {
  const prepare = plan.steps.filter(
    (s) => s.action === "create-repository" || s.action === "reconcile-settings",
  );
  const final = plan.steps.filter((s) => s.action === "delete");
  const entries = plan.steps.filter(isEntryStep);
  // A referrer (signature, SBOM) goes where its image goes: the shard that plans the image again finds it.
  const work = entries.filter((s) => isShardWork(s) && !referrerOf(s));
  const held = entries.filter((s) => !isShardWork(s) && !referrerOf(s));

  const { seeds, holders } = seedCopies(work, contentOf);
  const sharedAfterSeed = new Set(holders.keys());

  const rest = work.filter((s) => !seeds.has(s));
  const known = rest.filter((s) => contentOf(s) !== null);
  const knownBytes = known.reduce((n, s) => n + blobBytes(contentOf(s), sharedAfterSeed), 0);
  const unknownWeight = known.length > 0 ? Math.max(1, Math.round(knownBytes / known.length)) : 1;
  const weightOf = (s: EntryStep) =>
    s.action === "restore" ? 0 : contentOf(s) ? blobBytes(contentOf(s), sharedAfterSeed) : unknownWeight;
  const n = count === "auto" ? autoShardCount(rest.length, knownBytes) : count;

  const bins = balance(rest, weightOf, n);

  const withReferrers = (set: ReadonlySet<EntryStep>) => {
    const images = new Set([...set].map((s) => `${s.repository} ${s.source}`));
    const referrers = entries.filter((s) => {
      const of = referrerOf(s);
      return of !== null && images.has(`${s.repository} ${of}`);
    });
    return new Set([...set, ...referrers]);
  };
  const inPlanOrder = (set: ReadonlySet<EntryStep>) => {
    const all = withReferrers(set);
    return entries.filter((s) => all.has(s));
  };
  const seedBytes = [...seeds].reduce((n, s) => n + blobBytes(contentOf(s), new Set()), 0);
  const shards: ShardAssignment[] = [
    { shard: 0, steps: inPlanOrder(new Set([...held, ...seeds])), bytes: seedBytes },
  ];
  for (const bin of bins.filter((b) => b.steps.size > 0))
    shards.push({ shard: shards.length, steps: inPlanOrder(bin.steps), bytes: bin.bytes });
  return { prepare, shards, final, held: holders };
}

/**
 * The seed's copies: for every blob two or more copies use, its first bringer in sharing order; and the
 * repository each such copy puts its blobs in.
 */
function seedCopies(
  work: readonly EntryStep[],
  contentOf: (step: EntryStep) => CopyContent | null,
): { seeds: Set<EntryStep>; holders: Map<string, string> } {
  const uses = new Map<string, number>();
  for (const step of work)
    for (const digest of new Set((contentOf(step)?.blobs ?? []).map((b) => b.digest)))
      uses.set(digest, (uses.get(digest) ?? 0) + 1);
  const holders = new Map<string, string>();
  const seeds = new Set<EntryStep>();
  for (const step of orderForSharing(work, contentOf)) {
    const content = contentOf(step);
    if (!content?.blobs.some((b) => (uses.get(b.digest) ?? 0) > 1 && !holders.has(b.digest))) continue;
    seeds.add(step);
    for (const b of content.blobs) if (!holders.has(b.digest)) holders.set(b.digest, step.repository);
  }
  return { seeds, holders };
}

/** Largest first, each onto the lightest bin (on a tie the one with fewer steps, then the first). */
/**
 * Largest first onto the lightest shard, a repository at a time: all of one repository's copies go to one shard,
 * so no two shards push into one repository at once (their uploads and mounts of the same layers would race).
 */
function balance(
  steps: readonly EntryStep[],
  weightOf: (step: EntryStep) => number,
  n: number,
): { steps: Set<EntryStep>; bytes: number }[] {
  const bins = Array.from({ length: Math.max(1, n) }, () => ({ steps: new Set<EntryStep>(), bytes: 0 }));
  const groups = new Map<string, { steps: EntryStep[]; index: number; weight: number }>();
  steps.forEach((step, index) => {
    const group = groups.get(step.repository) ?? { steps: [], index, weight: 0 };
    group.steps.push(step);
    group.weight += weightOf(step);
    groups.set(step.repository, group);
  });
  const weighed = [...groups.values()].sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const group of weighed) {
    let best = bins[0]!;
    for (const bin of bins)
      if (bin.bytes < best.bytes || (bin.bytes === best.bytes && bin.steps.size < best.steps.size))
        best = bin;
    for (const step of group.steps) best.steps.add(step);
    best.bytes += group.weight;
  }
  return bins;
}

/** The plan with only the steps `keep` admits, its summary counted again. */
export function restrictPlan(plan: Plan, keep: (step: Step) => boolean): Plan {
  const steps = plan.steps.filter(keep);
  const summary = Object.fromEntries(STEP_ACTIONS.map((a) => [a, 0])) as Record<StepAction, number>;
  for (const s of steps) summary[s.action]++;
  return { ...plan, steps, summary };
}

/**
 * The steps one shard carries out when its sync plans again against the target: the seed its prepare steps, its
 * entries and nothing else; a sync shard its entries (and a repository creation should one still be missing: the
 * seed's failed, or the shard runs alone). Deletions never.
 */
export function shardKeeps(shard: { shard: number; keys: ReadonlySet<string> }): (step: Step) => boolean {
  return (step) => {
    if (step.action === "delete") return false;
    if (step.action === "create-repository") return true;
    if (step.action === "reconcile-settings") return shard.shard === 0;
    return shard.keys.has(stepKey(step));
  };
}

/** The list with only the entries whose `repository:tag` is in `keys` (a sync shard's). */
export function onlyEntries<L extends MirrorList>(list: L, keys: ReadonlySet<string>): L {
  return {
    ...list,
    images: list.images.filter((i) => keys.has(stepKey({ repository: i.repository, tag: targetTag(i) }))),
    charts: list.charts.filter((c) => keys.has(stepKey(c))),
  };
}
