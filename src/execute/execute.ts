/**
 * Carries out a plan: repository creations first (all of them, before anything is pushed), then copies and
 * updates in a bounded pool with retries, each verified against the source digest, then, only when nothing
 * failed, the planned deletions. One failing step stops nothing else; the report lists what failed.
 * The registry, ECR and the tools sit behind `ExecuteDeps`, so this file does no I/O of its own.
 */
import type { RepositorySettings } from "../list/model.js";
import type { Plan, Step, StepAction } from "../plan/model.js";
import { mapWithConcurrency as runBounded } from "../pool.js";
import { isRetryable, RetriesExhausted, type RetryOptions, withRetries } from "../registry/retry.js";

/** What a copy wrote, as far as the tool told. */
export interface CopyResult {
  /** The digest written under the target tag (from crane's or helm's output), or null when it did not say. */
  digest: string | null;
}

/** The adapters execution needs: ECR (or any registry) and the copy tools. */
export interface ExecuteDeps {
  /** Creates a repository with the list's settings; resolves `exists` when it is already there. */
  createRepository(name: string, settings: RepositorySettings): Promise<"created" | "exists">;
  /** Copies one copy/update step's source to `<registry>/<repository>:<tag>`. */
  copy(step: Step): Promise<CopyResult>;
  /**
   * Checks the target after a copy: resolves the digest the target tag holds; throws `DigestMismatch` when it
   * differs from what the source holds.
   */
  verify(step: Step, copied: CopyResult): Promise<string>;
  /** Removes tags from one repository; resolves the tags it could not remove, with ECR's reason. */
  deleteTags(repository: string, tags: string[]): Promise<{ tag: string; reason: string }[]>;
}

/** The target holds another digest than the source after a copy. */
export class DigestMismatch extends Error {
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
  | "copied"
  | "updated"
  | "present"
  | "blocked"
  | "deleted"
  | "failed"
  | "skipped";

export const STEP_OUTCOMES: readonly StepOutcome[] = [
  "created",
  "exists",
  "copied",
  "updated",
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
  location: Step["location"];
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
  /** One line of progress (`core.info`, stderr). */
  log: (line: string) => void;
  /** Runs a phase inside a log group (`core.group`); default: just runs it. */
  group?: <T>(name: string, work: () => Promise<T>) => Promise<T>;
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

/** `3.2 s` */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** What a step does, as its progress line names it: `copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0`. */
export function describeStep(
  step: Pick<Step, "action" | "source" | "repository" | "tag" | "platforms">,
): string {
  const target = step.tag ? `${step.repository}:${step.tag}` : step.repository;
  const platforms = step.platforms.length > 0 ? ` [${step.platforms.join(", ")}]` : "";
  switch (step.action) {
    case "create-repository":
      return `create repository ${step.repository}`;
    case "delete":
      return `delete ${target}`;
    default:
      return `${step.action} ${step.source ?? "?"} -> ${target}${platforms}`;
  }
}

/** `[12/40] copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (3.2 s)` and its failure form. */
export function progressLine(counter: number, total: number, step: StepReport): string {
  const head = `[${counter}/${total}] ${describeStep(step)} (${formatSeconds(step.durationMs)})`;
  const retried = step.attempts > 1 ? `, ${step.attempts} attempts` : "";
  if (step.outcome === "failed") return `${head} FAILED${retried}: ${firstLine(step.error ?? "")}`;
  if (step.outcome === "skipped") return `${head} skipped: ${firstLine(step.error ?? "")}`;
  if (step.outcome === "exists") return `${head} already exists`;
  return attemptsSuffix(head, step.attempts);
}

function attemptsSuffix(line: string, attempts: number): string {
  return attempts > 1 ? `${line} after ${attempts} attempts` : line;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

/** `12 copied, 2 updated, 30 present, 1 failed ... in 14.3 s` */
export function summaryLine(report: Pick<ExecutionReport, "counts" | "durationMs">): string {
  const c = report.counts;
  const parts = [`${c.copied} copied`, `${c.updated} updated`, `${c.present} present`, `${c.failed} failed`];
  if (c.blocked > 0) parts.push(`${c.blocked} blocked`);
  if (c.created > 0) parts.push(`${c.created} repositor${c.created === 1 ? "y" : "ies"} created`);
  if (c.deleted > 0) parts.push(`${c.deleted} deleted`);
  if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
  return `Sync: ${parts.join(", ")} in ${formatSeconds(report.durationMs)}`;
}

/** The error as a step reports it: its message (with the attempts), and its hint when the message lacks one. */
function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof RetriesExhausted ? error.cause : error;
  const hint = (cause as { hint?: unknown } | null)?.hint;
  return typeof hint === "string" && hint !== "" && !text.includes("\nhint: ")
    ? `${text}\nhint: ${hint}`
    : text;
}

function attemptsOf(error: unknown): number {
  return error instanceof RetriesExhausted ? error.attempts : 1;
}

function baseReport(step: Step): StepReport {
  return {
    action: step.action,
    kind: step.kind,
    source: step.source,
    repository: step.repository,
    tag: step.tag,
    outcome: "present",
    digest: step.targetDigest,
    expectedDigest: step.digest,
    platforms: step.platforms,
    attempts: 0,
    durationMs: 0,
    error: null,
    reason: step.reason,
    location: step.location,
  };
}

/** Carries out `plan`. Never throws for a failing step: the report says what failed. */
export async function executePlan(
  plan: Plan,
  deps: ExecuteDeps,
  options: ExecuteOptions,
): Promise<ExecutionReport> {
  const now = options.now ?? (() => performance.now());
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const retries = options.retries ?? DEFAULT_RETRIES;
  const group = options.group ?? (<T>(_name: string, work: () => Promise<T>) => work());
  const log = options.log;
  const started = now();
  const startedAt = new Date().toISOString();

  const reports = new Map<Step, StepReport>();
  for (const step of plan.steps) reports.set(step, baseReport(step));
  const creations = plan.steps.filter((s) => s.action === "create-repository");
  const transfers = plan.steps.filter((s) => s.action === "copy" || s.action === "update");
  const deletions = plan.steps.filter((s) => s.action === "delete");
  const total = creations.length + transfers.length + deletions.length;
  let counter = 0;
  const announce = (report: StepReport) => {
    counter += 1;
    log(progressLine(counter, total, report));
  };

  const retryOptions = (what: string, retryable?: RetryOptions["retryable"]): RetryOptions => ({
    retries,
    budgetMs: options.budgetMs ?? DEFAULT_STEP_BUDGET_MS,
    now,
    ...(retryable ? { retryable } : {}),
    ...options.retry,
    onRetry: (attempt, delay, error) =>
      log(
        `  retrying ${what} in ${formatSeconds(delay)} (attempt ${attempt} failed: ${firstLine(errorText(error))})`,
      ),
  });

  // 1. Repositories, before anything is pushed to them.
  const failedRepositories = new Map<string, string>();
  if (creations.length > 0) {
    await group(`Create ${creations.length} repositor${creations.length === 1 ? "y" : "ies"}`, async () => {
      await runBounded(creations, concurrency, async (step) => {
        const report = reports.get(step)!;
        const t0 = now();
        try {
          const { value, attempts } = await withRetries(
            () => deps.createRepository(step.repository, options.repositorySettings),
            retryOptions(`create repository ${step.repository}`),
          );
          report.outcome = value;
          report.attempts = attempts;
        } catch (error) {
          report.outcome = "failed";
          report.attempts = attemptsOf(error);
          report.error = errorText(error);
          failedRepositories.set(step.repository, report.error);
        }
        report.durationMs = now() - t0;
        announce(report);
      });
    });
  }

  // 2. Copies and updates, each verified.
  if (transfers.length > 0) {
    await group(`Copy ${transfers.length} image${transfers.length === 1 ? "" : "s"} and charts`, async () => {
      await runBounded(transfers, concurrency, async (step) => {
        const report = reports.get(step)!;
        const t0 = now();
        const blockedBy = failedRepositories.get(step.repository);
        if (blockedBy !== undefined) {
          report.outcome = "failed";
          report.error = `repository ${step.repository} could not be created: ${blockedBy}`;
          report.durationMs = now() - t0;
          announce(report);
          return;
        }
        const what = describeStep(step);
        try {
          const copied = await withRetries(() => deps.copy(step), retryOptions(what, stepRetryable));
          report.attempts = copied.attempts;
          const verified = await withRetries(
            () => deps.verify(step, copied.value),
            retryOptions(`verify ${step.repository}:${step.tag}`, stepRetryable),
          );
          report.digest = verified.value;
          report.outcome = step.action === "update" ? "updated" : "copied";
        } catch (error) {
          report.outcome = "failed";
          report.attempts = Math.max(report.attempts, attemptsOf(error));
          report.error = errorText(error);
        }
        report.durationMs = now() - t0;
        announce(report);
      });
    });
  }

  for (const step of plan.steps) {
    const report = reports.get(step)!;
    if (step.action === "blocked") {
      report.outcome = "blocked";
      report.error = step.reason;
      log(`blocked ${step.source ?? ""} -> ${step.repository}:${step.tag ?? ""}: ${step.reason}`);
    }
  }

  // 3. Deletions last, and never after a failure (a failed copy may be what a "stale" tag still serves).
  const anyFailure = [...reports.values()].some((r) => r.outcome === "failed");
  let deletesSkipped = 0;
  if (deletions.length > 0) {
    if (anyFailure) {
      deletesSkipped = deletions.length;
      for (const step of deletions) {
        const report = reports.get(step)!;
        report.outcome = "skipped";
        report.error = "not pruned: a creation, copy or update failed in this run";
      }
      log(`Pruning skipped: ${deletions.length} planned deletion(s) not run because a step failed.`);
    } else {
      await group(`Prune ${deletions.length} tag${deletions.length === 1 ? "" : "s"}`, async () => {
        const byRepository = new Map<string, Step[]>();
        for (const step of deletions) {
          const list = byRepository.get(step.repository) ?? [];
          list.push(step);
          byRepository.set(step.repository, list);
        }
        await runBounded([...byRepository], concurrency, async ([repository, steps]) => {
          const t0 = now();
          const tags = steps.map((s) => s.tag).filter((t): t is string => t !== null);
          let failures: { tag: string; reason: string }[] = [];
          let attempts = 1;
          let error: string | null = null;
          try {
            const result = await withRetries(
              () => deps.deleteTags(repository, tags),
              retryOptions(`delete ${tags.length} tag(s) from ${repository}`),
            );
            failures = result.value;
            attempts = result.attempts;
          } catch (e) {
            error = errorText(e);
            attempts = attemptsOf(e);
          }
          const elapsed = now() - t0;
          for (const step of steps) {
            const report = reports.get(step)!;
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
            announce(report);
          }
        });
      });
    }
  }

  const steps = plan.steps.map((s) => reports.get(s)!);
  const counts = Object.fromEntries(STEP_OUTCOMES.map((o) => [o, 0])) as Record<StepOutcome, number>;
  for (const r of steps) counts[r.outcome] += 1;
  const report: ExecutionReport = {
    registry: plan.registry,
    startedAt,
    durationMs: now() - started,
    counts,
    steps,
    failures: steps.filter((r) => r.outcome === "failed"),
    deletesSkipped,
    ok: counts.failed === 0,
  };
  log(summaryLine(report));
  for (const f of report.failures) {
    const at = f.location ? `${f.location.file}:${f.location.line}: ` : "";
    log(`  failed: ${at}${describeStep(f)}: ${firstLine(f.error ?? "")}`);
  }
  return report;
}
