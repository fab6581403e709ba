/**
 * The pull budget of each upstream that states one (Docker Hub: `ratelimit-remaining` on manifest requests),
 * read with HEADs, which Docker Hub does not count, and the pulls each copy needs: 1 for a single manifest, one
 * per platform copied for an index (its children read through the index, whose GET counts no platform). The
 * decision itself is `plan/budget.ts`.
 */
import type { UpstreamManifests } from "../observe/manifests.js";
import { type BudgetDecision, type BudgetedCopy, fitPullBudget } from "../plan/budget.js";
import type { TransferStep } from "../plan/model.js";
import { mapWithConcurrency } from "../pool.js";

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

interface Child {
  digest: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

function matches(child: Child, wanted: string): boolean {
  const [os, architecture, variant] = wanted.split("/");
  const p = child.platform ?? { os: "linux", architecture: "amd64" };
  return p.os === os && p.architecture === architecture && (!variant || p.variant === variant);
}

/** Pulls crane's copy of `step` counts, from a HEAD (and, for an index, its GET). */
async function pullsOf(step: TransferStep, manifests: UpstreamManifests): Promise<number> {
  if (step.kind !== "image") return 0;
  const entry = step.entry;
  const reference = entry.reference.digest ?? entry.reference.tag ?? "latest";
  const head = await manifests.describe(entry, reference);
  if (!head || !INDEX_TYPES.has(head.mediaType)) return 1;
  if (step.platforms.length === 1) return 1;
  const index = await manifests.read(entry, reference);
  const children = ((index?.body as { manifests?: Child[] } | undefined)?.manifests ?? []) as Child[];
  if (step.platforms.length === 0) return Math.max(1, children.length);
  return Math.max(1, children.filter((c) => step.platforms.some((p) => matches(c, p))).length);
}

/**
 * What fits each upstream's pull budget: HEADs the first copy of every upstream (free) to learn whether it states
 * a budget, and for those that do, the pulls of each of their copies. Upstreams that state none cost one HEAD.
 */
export async function assessPullBudget(
  transfers: readonly TransferStep[],
  manifests: UpstreamManifests,
  options: {
    sharing: boolean;
    /** Copies whose layers are already known: reading them for sharing costs nothing. */
    known?: (step: TransferStep) => boolean;
    /** Shards running at once: each gets this share of what is left (a sharded sync). */
    shards?: number;
  },
): Promise<BudgetDecision<TransferStep>> {
  const images = transfers.filter((s) => s.kind === "image");
  const byUpstream = new Map<string, TransferStep[]>();
  for (const step of images) {
    if (step.kind !== "image") continue;
    const key = manifests.upstreamOf(step.entry);
    byUpstream.set(key, [...(byUpstream.get(key) ?? []), step]);
  }
  const budgets = new Map<
    string,
    { remaining: number; limit: number | null; windowSeconds: number | null }
  >();
  const copies: BudgetedCopy<TransferStep>[] = [];
  for (const [upstream, steps] of byUpstream) {
    const first = steps[0]!;
    if (first.kind !== "image") continue;
    await manifests
      .describe(first.entry, first.entry.reference.digest ?? first.entry.reference.tag ?? "latest")
      .catch(() => null);
    const stated = manifests.rateLimit(first.entry);
    if (!stated) continue;
    const share = Math.max(1, options.shards ?? 1);
    budgets.set(upstream, { ...stated, remaining: Math.floor(stated.remaining / share) });
    const pulls = await mapWithConcurrency(steps, 8, (s) => pullsOf(s, manifests).catch(() => 1));
    steps.forEach((step, i) => {
      const p = pulls[i]!;
      const reads = options.sharing && !options.known?.(step) ? p : 0;
      copies.push({ step, upstream, pulls: p, sharingReads: reads });
    });
  }
  return fitPullBudget(copies, budgets);
}
