/**
 * Carries out a plan in four phases: `createRepositories` (all of them, before anything is pushed, and
 * `reconcileSettings` of existing repositories whose settings differ from the list), then
 * `transfer` (copies and updates in a bounded pool with retries, each verified against the source digest),
 * then `restore` (archived tags back to ECR's standard storage class, each read back), then, only when
 * nothing failed, `prune` (the planned deletions). A `Ledger` holds what they share: the
 * step reports, the progress counter, the progress events and the retry settings. One failing step stops nothing
 * else; the report lists what failed.
 * The registry, ECR and the tools sit behind `ExecuteDeps`, so this file does no I/O of its own.
 */

import { MirrorError } from "../errors.js";
import type { Location, RepositorySettings } from "../list/model.js";
import {
  type CreateRepositoryStep,
  type DeleteStep,
  isTransferStep,
  type Plan,
  type ReconcileSettingsStep,
  type RestoreStep,
  type Step,
  type StepAction,
  stepFields,
  type TransferStep,
} from "../plan/model.js";
import { mapWithConcurrency as runBounded } from "../pool.js";
import { isRetryable, RetriesExhausted, type RetryOptions, withRetries } from "../registry/retry.js";

/** What a copy wrote, as far as the tool told. */
export interface CopyResult {
  /** The digest written under the target tag (from crane's or helm's output), or null when it did not say. */
  digest: string | null;
}

/** What ECR answered to a restore (UpdateImageStorageClass to STANDARD). */
export interface RestoreResult {
  /** The image ECR moved, by digest, when it said. */
  digest: string | null;
  /** The image's status after the call (ACTIVATING while ECR restores it, then ACTIVE), when it said. */
  status: string | null;
}

/** The adapters execution needs: ECR (or any registry) and the copy tools. */
export interface ExecuteDeps {
  /** Creates a repository with the list's settings; resolves `exists` when it is already there. */
  createRepository(name: string, settings: RepositorySettings): Promise<"created" | "exists">;
  /** Copies one copy/update step's source to `<registry>/<repository>:<tag>`. */
  copy(step: TransferStep): Promise<CopyResult>;
  /**
   * Checks the target after a copy: resolves the digest the target tag holds; throws `DigestMismatch` when it
   * differs from what the source holds.
   */
  verify(step: TransferStep, copied: CopyResult): Promise<string>;
  /** Restores an archived tag's image to ECR's standard storage class (ECR targets only). */
  restore(step: RestoreStep): Promise<RestoreResult>;
  /**
   * Reads the tag back after a restore: resolves the digest it holds; throws when the image is not ACTIVATING
   * or ACTIVE, or holds another digest than the plan's (`DigestMismatch`).
   */
  verifyRestore(step: RestoreStep, restored: RestoreResult): Promise<string>;
  /**
   * Brings an existing repository's settings to the list's (the step's changes), then reads them back; throws when
   * ECR refused a change or holds other settings after it (ECR targets only).
   */
  reconcileSettings(step: ReconcileSettingsStep, settings: RepositorySettings): Promise<void>;
  /** Removes tags from one repository; resolves the tags it could not remove, with ECR's reason. */
  deleteTags(repository: string, tags: string[]): Promise<{ tag: string; reason: string }[]>;
}

/** The target holds another digest than the source after a copy. */
export class DigestMismatch extends MirrorError {
  override name = "DigestMismatch";
  constructor(
    readonly target: string,
    readonly actual: string,
    readonly expected: string,
  ) {
    super(`digest mismatch: ${target} holds ${actual}, the source is ${expected}`);
  }
}

export type StepOutcome =
  | "created"
  | "exists"
  | "reconciled"
  | "copied"
  | "updated"
  | "restored"
  | "present"
  | "blocked"
  | "deleted"
  | "failed"
  | "skipped";

export const STEP_OUTCOMES: readonly StepOutcome[] = [
  "created",
  "exists",
  "reconciled",
  "copied",
  "updated",
  "restored",
  "present",
  "blocked",
  "deleted",
  "failed",
  "skipped",
];

export interface StepReport {
  action: StepAction;
  kind: Step["kind"];
  source: string | null;
  repository: string;
  tag: string | null;
  outcome: StepOutcome;
  /** The digest the target holds after the step (verified), when known. */
  digest: string | null;
  /** The digest the plan expected, when known. */
  expectedDigest: string | null;
  platforms: string[];
  attempts: number;
  durationMs: number;
  /** Why it failed, was skipped or blocked. */
  error: string | null;
  reason: string;
  location: Location | null;
}

export interface ExecutionReport {
  registry: string;
  startedAt: string;
  durationMs: number;
  counts: Record<StepOutcome, number>;
  steps: StepReport[];
  /** Failed steps, for the message a person reads first. */
  failures: StepReport[];
  /** Planned deletions that did not run because a creation, copy or update failed. */
  deletesSkipped: number;
  ok: boolean;
}

/** What a retry is for. */
export type RetrySubject =
  | { kind: "create"; repository: string }
  | { kind: "reconcile"; repository: string }
  | { kind: "transfer"; report: StepReport }
  | { kind: "restore"; report: StepReport }
  | { kind: "verify"; repository: string; tag: string }
  | { kind: "delete"; repository: string; tags: number };

/** What execution tells as it goes: data, worded by `report/progress.ts`. */
export type ProgressEvent =
  /** A copy or update starts (its first attempt); `bytes`: what it moves, where its layers are known. */
  | { kind: "start"; report: StepReport; bytes: number | null }
  /** A step finished (`counter` of `total` steps that run). */
  | { kind: "step"; counter: number; total: number; report: StepReport }
  /** An attempt failed and another follows after `delayMs`; `error` is the failure's text. */
  | { kind: "retry"; subject: RetrySubject; attempt: number; delayMs: number; error: string }
  /** A blocked step, reported and never carried out. */
  | { kind: "blocked"; report: StepReport }
  /** The planned deletions did not run because a step failed. */
  | { kind: "pruning-skipped"; deletions: number }
  /** Everything ran. */
  | { kind: "done"; report: ExecutionReport };

export interface ExecuteOptions {
  /** Steps in flight at once (default 4). */
  concurrency?: number;
  /** Further attempts after a retryable failure (default 3). */
  retries?: number;
  /** Time for all attempts of one step, in milliseconds: no new attempt starts after it (default 15 minutes). */
  budgetMs?: number;
  /** Settings for repositories the plan creates. */
  repositorySettings: RepositorySettings;
  /** Backoff tuning and the injectable sleep/random (tests). */
  retry?: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs" | "sleep" | "random">;
  /** Milliseconds clock (default `performance.now`). */
  now?: () => number;
  /** Told what happens, as it happens (`report/progress.ts` words it for the log). */
  progress: (event: ProgressEvent) => void;
  /** Runs a phase inside a log group (`core.group`); default: just runs it. */
  group?: <T>(name: string, work: () => Promise<T>) => Promise<T>;
  /** The order copies and updates start in (layer sharing: first bringers first); default: the plan's. */
  transferOrder?: (steps: readonly TransferStep[]) => readonly TransferStep[];
  /** Copies left for the next run (an upstream's pull budget is short), with why: reported `skipped`, not failed. */
  deferred?: ReadonlyMap<TransferStep, string>;
  /** The bytes a copy or update moves, where known (its `start` event says them). */
  bytesOf?: (step: TransferStep) => number | null;
}

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_RETRIES = 3;
export const DEFAULT_STEP_BUDGET_MS = 15 * 60_000;

/**
 * Whether a copy or verification is worth another attempt here. crane retries 408/429/5xx answers
 * and connection resets, EOFs and broken pipes mid-body itself (go-containerregistry
 * pkg/v1/remote/options.go, defaultRetryPredicate and defaultRetryStatusCodes), so a crane failure
 * is tried again only when it was stopped for making no progress, and only once. helm's HTTP
 * getter has no retries of its own: its transient failures are retried here. The in-process
 * registry client and the AWS SDK retry themselves (`retriedElsewhere`).
 */
export function stepRetryable(error: unknown, attempt: number): boolean {
  const tool = error as { tool?: unknown; failure?: unknown } | null;
  if (tool?.tool === "crane") return tool.failure === "stalled" && attempt === 1;
  return isRetryable(error);
}

/** The error as a step reports it: its message (with the attempts), and its hint when the message lacks one. */
function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof RetriesExhausted ? error.cause : error;
  const hint = cause instanceof MirrorError ? cause.hint : null;
  return hint && !text.includes("\nhint: ") ? `${text}\nhint: ${hint}` : text;
}

function attemptsOf(error: unknown): number {
  return error instanceof RetriesExhausted ? error.attempts : 1;
}

function baseReport(step: Step): StepReport {
  const s = stepFields(step);
  return {
    action: s.action,
    kind: s.kind,
    source: s.source,
    repository: s.repository,
    tag: s.tag,
    outcome: "present",
    digest: s.targetDigest,
    expectedDigest: s.digest,
    platforms: s.platforms,
    attempts: 0,
    durationMs: 0,
    error: null,
    reason: s.reason,
    location: s.location,
  };
}

/**
 * What the phases share: a report per step, the progress counter (`[n/total]`), the progress events and the
 * retry settings. Each phase fills in the reports of its own steps.
 */
class Ledger {
  readonly now: () => number;
  readonly concurrency: number;
  readonly progress: (event: ProgressEvent) => void;
  readonly group: <T>(name: string, work: () => Promise<T>) => Promise<T>;
  readonly bytesOf: (step: TransferStep) => number | null;
  private readonly reports = new Map<Step, StepReport>();
  private counter = 0;

  constructor(
    readonly plan: Plan,
    private readonly options: ExecuteOptions,
    /** Steps that print a progress line: creations, copies, updates, restores and deletions. */
    private readonly total: number,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.progress = options.progress;
    this.group = options.group ?? (<T>(_name: string, work: () => Promise<T>) => work());
    this.bytesOf = options.bytesOf ?? (() => null);
    for (const step of plan.steps) this.reports.set(step, baseReport(step));
  }

  /** The report of one of the plan's steps. */
  reportOf(step: Step): StepReport {
    const report = this.reports.get(step);
    if (!report) throw new Error(`step ${step.action} ${step.repository} is not in the plan`);
    return report;
  }

  /** Every step's report, in plan order. */
  all(): StepReport[] {
    return this.plan.steps.map((s) => this.reportOf(s));
  }

  /** One step done: `[12/40] copy … (3.2 s)` in the log. */
  announce(report: StepReport): void {
    this.counter += 1;
    this.progress({ kind: "step", counter: this.counter, total: this.total, report });
  }

  /** Attempts for `subject`: the run's retries and budget, each retry told. */
  retryOptions(subject: RetrySubject, retryable?: RetryOptions["retryable"]): RetryOptions {
    return {
      retries: this.options.retries ?? DEFAULT_RETRIES,
      budgetMs: this.options.budgetMs ?? DEFAULT_STEP_BUDGET_MS,
      now: this.now,
      ...(retryable ? { retryable } : {}),
      ...this.options.retry,
      onRetry: (attempt, delayMs, error) =>
        this.progress({ kind: "retry", subject, attempt, delayMs, error: errorText(error) }),
    };
  }
}

/** Carries out `plan`. Never throws for a failing step: the report says what failed. */
export async function executePlan(
  plan: Plan,
  deps: ExecuteDeps,
  options: ExecuteOptions,
): Promise<ExecutionReport> {
  const startedAt = new Date().toISOString();
  const creations = plan.steps.filter((s): s is CreateRepositoryStep => s.action === "create-repository");
  const transfers = plan.steps.filter(isTransferStep);
  const restores = plan.steps.filter((s): s is RestoreStep => s.action === "restore");
  const reconciles = plan.steps.filter((s): s is ReconcileSettingsStep => s.action === "reconcile-settings");
  const deletions = plan.steps.filter((s): s is DeleteStep => s.action === "delete");
  const ledger = new Ledger(
    plan,
    options,
    creations.length + reconciles.length + transfers.length + restores.length + deletions.length,
  );
  const started = ledger.now();

  const failedRepositories = await createRepositories(creations, deps, options.repositorySettings, ledger);
  const unreconciled = await reconcileSettings(reconciles, deps, options.repositorySettings, ledger);
  await transfer(
    options.transferOrder?.(transfers) ?? transfers,
    failedRepositories,
    unreconciled,
    deps,
    ledger,
    options.deferred ?? new Map(),
  );
  await restore(restores, deps, ledger);
  reportBlocked(plan.steps, ledger);
  const deletesSkipped = await prune(deletions, deps, ledger);

  const steps = ledger.all();
  const counts = Object.fromEntries(STEP_OUTCOMES.map((o) => [o, 0])) as Record<StepOutcome, number>;
  for (const r of steps) counts[r.outcome] += 1;
  const report: ExecutionReport = {
    registry: plan.registry,
    startedAt,
    durationMs: ledger.now() - started,
    counts,
    steps,
    failures: steps.filter((r) => r.outcome === "failed"),
    deletesSkipped,
    ok: counts.failed === 0,
  };
  ledger.progress({ kind: "done", report });
  return report;
}

/**
 * One phase of steps run side by side in a log group: `work` carries a step out and fills in its report's outcome
 * and attempts; a step that throws is failed with the error's text and attempts; each is timed and announced.
 */
async function eachStep<S extends Step>(
  steps: readonly S[],
  title: string,
  ledger: Ledger,
  work: (step: S, report: StepReport) => Promise<void>,
): Promise<void> {
  if (steps.length === 0) return;
  await ledger.group(title, async () => {
    await runBounded(steps, ledger.concurrency, async (step) => {
      const report = ledger.reportOf(step);
      const t0 = ledger.now();
      try {
        await work(step, report);
      } catch (error) {
        report.outcome = "failed";
        report.attempts = Math.max(report.attempts, attemptsOf(error));
        report.error = errorText(error);
      }
      report.durationMs = ledger.now() - t0;
      ledger.announce(report);
    });
  });
}

/** The repositories of `steps` whose step failed, with why. */
function failedRepositories(steps: readonly Step[], ledger: Ledger): Map<string, string> {
  const failed = new Map<string, string>();
  for (const step of steps) {
    const report = ledger.reportOf(step);
    if (report.outcome === "failed") failed.set(step.repository, report.error ?? "");
  }
  return failed;
}

const repositories = (n: number) => `${n} repositor${n === 1 ? "y" : "ies"}`;

/** Phase 1: repositories, before anything is pushed to them. Resolves the ones that failed, with why. */
async function createRepositories(
  creations: readonly CreateRepositoryStep[],
  deps: ExecuteDeps,
  settings: RepositorySettings,
  ledger: Ledger,
): Promise<Map<string, string>> {
  await eachStep(creations, `Create ${repositories(creations.length)}`, ledger, async (step, report) => {
    const { value, attempts } = await withRetries(
      () => deps.createRepository(step.repository, settings),
      ledger.retryOptions({ kind: "create", repository: step.repository }),
    );
    report.outcome = value;
    report.attempts = attempts;
  });
  return failedRepositories(creations, ledger);
}

/**
 * Phase 1b: existing repositories' settings brought to the list's (`target.reconcileSettings`), before anything is
 * pushed, so a tag the list makes mutable is updated in this run. Resolves the repositories that failed, with why.
 */
async function reconcileSettings(
  reconciles: readonly ReconcileSettingsStep[],
  deps: ExecuteDeps,
  settings: RepositorySettings,
  ledger: Ledger,
): Promise<Map<string, string>> {
  const title = `Reconcile the settings of ${repositories(reconciles.length)}`;
  await eachStep(reconciles, title, ledger, async (step, report) => {
    const { attempts } = await withRetries(
      () => deps.reconcileSettings(step, settings),
      ledger.retryOptions({ kind: "reconcile", repository: step.repository }),
    );
    report.outcome = "reconciled";
    report.attempts = attempts;
  });
  return failedRepositories(reconciles, ledger);
}

/**
 * Phase 2: copies and updates, each verified; none into a repository that could not be created, and no update in
 * one whose settings could not be reconciled (the update may rely on them).
 */
async function transfer(
  transfers: readonly TransferStep[],
  failedRepositories: ReadonlyMap<string, string>,
  unreconciled: ReadonlyMap<string, string>,
  deps: ExecuteDeps,
  ledger: Ledger,
  deferred: ReadonlyMap<TransferStep, string>,
): Promise<void> {
  if (transfers.length === 0) return;
  const title = `Copy ${transfers.length} image${transfers.length === 1 ? "" : "s"} and charts`;
  await ledger.group(title, async () => {
    await runBounded(transfers, ledger.concurrency, async (step) => {
      const report = ledger.reportOf(step);
      const t0 = ledger.now();
      const blockedBy = failedRepositories.get(step.repository);
      const settingsFailed = step.action === "update" ? unreconciled.get(step.repository) : undefined;
      const later = deferred.get(step);
      if (later !== undefined) {
        report.outcome = "skipped";
        report.error = later;
      } else if (blockedBy !== undefined) {
        report.outcome = "failed";
        report.error = `repository ${step.repository} could not be created: ${blockedBy}`;
      } else if (settingsFailed !== undefined) {
        report.outcome = "failed";
        report.error = `the settings of ${step.repository} could not be reconciled: ${settingsFailed}`;
      } else {
        try {
          ledger.progress({ kind: "start", report, bytes: ledger.bytesOf(step) });
          const copied = await withRetries(
            () => deps.copy(step),
            ledger.retryOptions({ kind: "transfer", report }, stepRetryable),
          );
          report.attempts = copied.attempts;
          const verified = await withRetries(
            () => deps.verify(step, copied.value),
            ledger.retryOptions(
              { kind: "verify", repository: step.repository, tag: step.tag },
              stepRetryable,
            ),
          );
          report.digest = verified.value;
          report.outcome = step.action === "update" ? "updated" : "copied";
        } catch (error) {
          report.outcome = "failed";
          report.attempts = Math.max(report.attempts, attemptsOf(error));
          report.error = errorText(error);
        }
      }
      report.durationMs = ledger.now() - t0;
      ledger.announce(report);
    });
  });
}

/**
 * Phase 3: archived tags restored to ECR's standard storage class (nothing is copied: the target holds the
 * bytes), each read back: the image ACTIVATING or ACTIVE, with the digest the plan saw.
 */
async function restore(restores: readonly RestoreStep[], deps: ExecuteDeps, ledger: Ledger): Promise<void> {
  const title = `Restore ${restores.length} archived tag${restores.length === 1 ? "" : "s"}`;
  await eachStep(restores, title, ledger, async (step, report) => {
    const restored = await withRetries(
      () => deps.restore(step),
      ledger.retryOptions({ kind: "restore", report }),
    );
    report.attempts = restored.attempts;
    const verified = await withRetries(
      () => deps.verifyRestore(step, restored.value),
      ledger.retryOptions({ kind: "verify", repository: step.repository, tag: step.tag }),
    );
    report.digest = verified.value;
    report.outcome = "restored";
  });
}

/** Blocked steps are reported (one progress event each), never carried out. */
function reportBlocked(steps: readonly Step[], ledger: Ledger): void {
  for (const step of steps) {
    if (step.action !== "blocked") continue;
    const report = ledger.reportOf(step);
    report.outcome = "blocked";
    report.error = step.reason;
    ledger.progress({ kind: "blocked", report });
  }
}

/**
 * Phase 4: deletions last, grouped by repository, and never after a failure (a failed copy may be what a
 * "stale" tag still serves). Resolves how many planned deletions were skipped.
 */
async function prune(deletions: readonly DeleteStep[], deps: ExecuteDeps, ledger: Ledger): Promise<number> {
  if (deletions.length === 0) return 0;
  if (ledger.all().some((r) => r.outcome === "failed")) {
    for (const step of deletions) {
      const report = ledger.reportOf(step);
      report.outcome = "skipped";
      report.error = "not pruned: a creation, copy or update failed in this run";
    }
    ledger.progress({ kind: "pruning-skipped", deletions: deletions.length });
    return deletions.length;
  }
  await ledger.group(`Prune ${deletions.length} tag${deletions.length === 1 ? "" : "s"}`, async () => {
    const byRepository = new Map<string, DeleteStep[]>();
    for (const step of deletions) {
      const list = byRepository.get(step.repository) ?? [];
      list.push(step);
      byRepository.set(step.repository, list);
    }
    await runBounded([...byRepository], ledger.concurrency, async ([repository, steps]) => {
      const t0 = ledger.now();
      const tags = steps.map((s) => s.tag);
      let failures: { tag: string; reason: string }[] = [];
      let attempts = 1;
      let error: string | null = null;
      try {
        const result = await withRetries(
          () => deps.deleteTags(repository, tags),
          ledger.retryOptions({ kind: "delete", repository, tags: tags.length }),
        );
        failures = result.value;
        attempts = result.attempts;
      } catch (e) {
        error = errorText(e);
        attempts = attemptsOf(e);
      }
      const elapsed = ledger.now() - t0;
      for (const step of steps) {
        const report = ledger.reportOf(step);
        const failure = failures.find((f) => f.tag === step.tag);
        report.attempts = attempts;
        report.durationMs = elapsed / steps.length;
        if (error !== null || failure) {
          report.outcome = "failed";
          report.error = error ?? failure?.reason ?? "";
        } else {
          report.outcome = "deleted";
          report.digest = null;
        }
        ledger.announce(report);
      }
    });
  });
  return 0;
}
