/**
 * Counted pulls as a budget beside bytes. Docker Hub counts a GET of a platform manifest as a pull (a HEAD is
 * free; a multi-platform image counts once per platform copied). Given what each upstream says is left, this
 * decides, without I/O, what a sync can do within it: everything with layer sharing (whose manifest reads are
 * pulls too); everything without sharing; or the copies that fit, in order, the rest left for the next run.
 */

export interface BudgetedCopy<S> {
  step: S;
  /** The upstream the copy pulls from (one budget each). */
  upstream: string;
  /** Pulls crane's copy counts. */
  pulls: number;
  /** Pulls reading its layers for sharing would count (0 when already read). */
  sharingReads: number;
}

export interface UpstreamBudget {
  upstream: string;
  /** Pulls left, as the upstream said. */
  remaining: number;
  limit: number | null;
  windowSeconds: number | null;
  /** Pulls the copies need (crane's), and the sharing reads on top. */
  needed: number;
  sharingReads: number;
  /** Whether layer sharing was given up for this upstream's copies to stay within the budget. */
  sharingGivenUp: boolean;
  /** Copies left for the next run, and the pulls they need. */
  deferred: number;
  deferredPulls: number;
}

export interface BudgetDecision<S> {
  /** Copies not carried out in this run (their pulls do not fit). */
  deferred: Set<S>;
  /** Copies whose layers are not read (sharing given up for them). */
  noSharing: Set<S>;
  upstreams: UpstreamBudget[];
}

/** Fits the copies into each upstream's budget (`null` or absent: no budget stated, nothing to fit). */
export function fitPullBudget<S>(
  copies: readonly BudgetedCopy<S>[],
  budgets: ReadonlyMap<string, { remaining: number; limit: number | null; windowSeconds: number | null }>,
): BudgetDecision<S> {
  const decision: BudgetDecision<S> = { deferred: new Set(), noSharing: new Set(), upstreams: [] };
  for (const [upstream, budget] of budgets) {
    const mine = copies.filter((c) => c.upstream === upstream);
    const needed = mine.reduce((sum, c) => sum + c.pulls, 0);
    const sharingReads = mine.reduce((sum, c) => sum + c.sharingReads, 0);
    const figures: UpstreamBudget = {
      upstream,
      ...budget,
      needed,
      sharingReads,
      sharingGivenUp: false,
      deferred: 0,
      deferredPulls: 0,
    };
    decision.upstreams.push(figures);
    if (needed + sharingReads <= budget.remaining) continue;
    if (sharingReads > 0) {
      figures.sharingGivenUp = true;
      for (const c of mine) decision.noSharing.add(c.step);
    }
    if (needed <= budget.remaining) continue;
    let used = 0;
    for (const c of mine) {
      if (used + c.pulls <= budget.remaining) {
        used += c.pulls;
        continue;
      }
      decision.deferred.add(c.step);
      figures.deferred += 1;
      figures.deferredPulls += c.pulls;
    }
  }
  return decision;
}
