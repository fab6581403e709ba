/**
 * The sync's progress as people read it in the log: one line per step (`[12/40] copy … (3.2 s)`), a line
 * per retry, the blocked steps, the summary line and the failures. `executePlan` tells what happens as data
 * (`ProgressEvent`); this words it. Pure.
 */
import type { ExecutionReport, ProgressEvent, RetrySubject, StepReport } from "../execute/execute.js";
import { formatBytes } from "../execute/sync.js";
import type { StepAction } from "../plan/model.js";

/** `3.2 s` */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** What a step does, as its progress line names it: `copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0`. */
export function describeStep(step: {
  action: StepAction;
  source: string | null;
  repository: string;
  tag: string | null;
  platforms: readonly string[];
}): string {
  const target = step.tag
    ? `${step.repository}${step.tag.startsWith("sha256:") ? "@" : ":"}${step.tag}`
    : step.repository;
  const platforms = step.platforms.length > 0 ? ` [${step.platforms.join(", ")}]` : "";
  switch (step.action) {
    case "create-repository":
      return `create repository ${step.repository}`;
    case "reconcile-settings":
      return `reconcile the settings of ${step.repository}`;
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
  return step.attempts > 1 ? `${head} after ${step.attempts} attempts` : head;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

/** `Sync: 12 copied, 2 updated, 30 present, 1 failed ... in 14.3 s` */
export function summaryLine(report: Pick<ExecutionReport, "counts" | "durationMs">): string {
  const c = report.counts;
  const parts = [`${c.copied} copied`, `${c.updated} updated`, `${c.present} present`, `${c.failed} failed`];
  if (c.restored > 0) parts.push(`${c.restored} restored`);
  if (c.blocked > 0) parts.push(`${c.blocked} blocked`);
  if (c.created > 0) parts.push(`${c.created} repositor${c.created === 1 ? "y" : "ies"} created`);
  if (c.reconciled > 0) parts.push(`${c.reconciled} repositor${c.reconciled === 1 ? "y" : "ies"} reconciled`);
  if (c.deleted > 0) parts.push(`${c.deleted} deleted`);
  if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
  return `Sync: ${parts.join(", ")} in ${formatSeconds(report.durationMs)}`;
}

function retried(subject: RetrySubject): string {
  switch (subject.kind) {
    case "create":
      return `create repository ${subject.repository}`;
    case "reconcile":
      return `reconcile the settings of ${subject.repository}`;
    case "transfer":
    case "restore":
      return describeStep(subject.report);
    case "verify":
      return `verify ${subject.repository}:${subject.tag}`;
    case "delete":
      return `delete ${subject.tags} tag(s) from ${subject.repository}`;
  }
}

/** The log lines one event makes. */
export function progressLines(event: ProgressEvent): string[] {
  switch (event.kind) {
    case "start":
      // The log reads one line per step, when it ends; a terminal shows starts too (`terminalProgress`).
      return [];
    case "step":
      return [progressLine(event.counter, event.total, event.report)];
    case "retry":
      return [
        `  retrying ${retried(event.subject)} in ${formatSeconds(event.delayMs)} (attempt ${event.attempt} failed: ${firstLine(event.error)})`,
      ];
    case "blocked": {
      const r = event.report;
      return [`blocked ${r.source} -> ${r.repository}:${r.tag}: ${r.reason}`];
    }
    case "pruning-skipped":
      return [`Pruning skipped: ${event.deletions} planned deletion(s) not run because a step failed.`];
    case "done":
      return [
        summaryLine(event.report),
        ...event.report.failures.map((f) => {
          const at = f.location ? `${f.location.file}:${f.location.line}: ` : "";
          return `  failed: ${at}${describeStep(f)}: ${firstLine(f.error ?? "")}`;
        }),
      ];
  }
}

/** A progress sink that writes each event's lines to `log` (`core.info`, stderr). */
export function textProgress(log: (line: string) => void): (event: ProgressEvent) => void {
  return (event) => {
    for (const line of progressLines(event)) log(line);
  };
}

/** A copy in flight, as the heartbeat tells it. */
export interface InFlight {
  report: StepReport;
  startedMs: number;
  /** What it moves, where its layers are known. */
  bytes: number | null;
}

function bytesPart(bytes: number | null): string {
  return bytes === null ? "" : `, ${formatBytes(bytes)}`;
}

/** `started copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (12.3 MiB)` */
export function startLine(report: StepReport, bytes: number | null): string {
  return `started ${describeStep(report)}${bytes === null ? "" : ` (${formatBytes(bytes)})`}`;
}

/** `  still running: copy … (25.0 s, 12.3 MiB)`: one line per copy in flight. */
export function heartbeatLines(inFlight: Iterable<InFlight>, nowMs: number): string[] {
  return [...inFlight].map(
    (f) =>
      `  still running: ${describeStep(f.report)} (${formatSeconds(nowMs - f.startedMs)}${bytesPart(f.bytes)})`,
  );
}

export interface TerminalProgressOptions {
  log: (line: string) => void;
  /** Whether the closing summary goes to `log` (false: the caller prints it once, on stdout). */
  summary: boolean;
  /** Start lines, and a heartbeat this often while copies run; null: the log's lines only (not a terminal). */
  heartbeatMs: number | null;
  now?: () => number;
}

/**
 * The sync's progress in a terminal: the log's lines, plus a start line per phase and per copy and, every `heartbeatMs`, a
 * line per copy still running (elapsed time, bytes where known). `stop` ends the heartbeat (the `done` event
 * ends it too).
 */
export function terminalProgress(options: TerminalProgressOptions): {
  progress: (event: ProgressEvent) => void;
  /** A phase of the sync (`Install tools`, `Copy 12 images and charts`): its start line, on a terminal. */
  group: <T>(name: string, work: () => Promise<T>) => Promise<T>;
  stop: () => void;
} {
  const now = options.now ?? (() => performance.now());
  const inFlight = new Map<StepReport, InFlight>();
  let timer: ReturnType<typeof setInterval> | null = null;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  const every = options.heartbeatMs;
  const progress = (event: ProgressEvent) => {
    if (event.kind === "start") {
      if (every === null) return;
      inFlight.set(event.report, { report: event.report, startedMs: now(), bytes: event.bytes });
      options.log(startLine(event.report, event.bytes));
      timer ??= setInterval(() => {
        for (const line of heartbeatLines(inFlight.values(), now())) options.log(line);
      }, every);
      timer.unref();
      return;
    }
    if (event.kind === "step") inFlight.delete(event.report);
    if (event.kind === "done") stop();
    const lines = progressLines(event);
    for (const line of event.kind === "done" && !options.summary ? lines.slice(1) : lines) options.log(line);
  };
  const group = <T>(name: string, work: () => Promise<T>) => {
    if (every !== null) options.log(`${name}:`);
    return work();
  };
  return { progress, group, stop };
}
