/**
 * The deletion guard: a run deletes at most `target.maxDeletions` tags (default 20), unless the action's
 * `max-deletions` input or the CLI's `--max-deletions` raises it for one run. Above the limit the plan fails
 * and a sync fails before anything is deleted. Pure.
 */
import { MirrorError } from "../errors.js";
import type { MirrorList } from "../list/model.js";
import type { Plan } from "./model.js";

/** How many deletions a plan makes, the limit that applies to it and whether the plan stays within it. */
export interface DeletionCheck {
  deletions: number;
  limit: number;
  /** Where the limit comes from, in words: `target.maxDeletions` or the run's override. */
  limitFrom: string;
  exceeded: boolean;
}

/** The limit of this run: the override when given, else the list's `target.maxDeletions`. */
export function checkDeletions(
  plan: Plan,
  list: Pick<MirrorList, "target">,
  override: { limit: number; from: string } | null = null,
): DeletionCheck {
  const deletions = plan.steps.filter((s) => s.action === "delete").length;
  const limit = override?.limit ?? list.target.maxDeletions;
  const limitFrom = override?.from ?? "target.maxDeletions";
  return { deletions, limit, limitFrom, exceeded: deletions > limit };
}

/** A plan that deletes more than its limit: located on `target.prune` (or `target.maxDeletions`) in the list. */
export class DeletionLimitError extends MirrorError {
  override name = "DeletionLimitError";
  constructor(
    readonly check: DeletionCheck,
    list: Pick<MirrorList, "target">,
    readonly plan: Plan,
  ) {
    super(
      `the plan deletes ${check.deletions} tags, more than the limit of ${check.limit} (${check.limitFrom}); nothing was deleted`,
      {
        hint:
          `if these deletions are intended, raise target.maxDeletions in the mirror list to ${check.deletions} ` +
          "(or pass max-deletions / --max-deletions for one run); else put the entries back in the list or turn prune off",
        location: list.target.pruneLocation,
      },
    );
  }
}

/** Throws a DeletionLimitError when the plan deletes more than the limit. */
export function guardDeletions(
  plan: Plan,
  list: Pick<MirrorList, "target">,
  override: { limit: number; from: string } | null = null,
): DeletionCheck {
  const check = checkDeletions(plan, list, override);
  if (check.exceeded) throw new DeletionLimitError(check, list, plan);
  return check;
}
