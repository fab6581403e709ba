/**
 * The sharded sync's flow (plan/shards.ts decides the split): the plan job writes one shard plan per shard and the
 * matrix; each shard plans its own entries again against the target (so a rerun copies only what is missing) and
 * carries them out; the merge reads every shard's report, runs the deletions once, and gives one report.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { MirrorError } from "./errors.js";
import { assessPullBudget } from "./execute/budget.js";
import type { ExecutionReport, StepOutcome, StepReport } from "./execute/execute.js";
import { STEP_OUTCOMES } from "./execute/execute.js";
import { copyContents } from "./execute/mounts.js";
import { carryOutPlan, DEFAULT_PUT_IMAGE_RATE } from "./execute/sync.js";
import type { MirrorList } from "./list/model.js";
import { UpstreamManifests } from "./observe/manifests.js";
import { guardDeletions } from "./plan/deletions.js";
import { isTransferStep, type ResyncMode, type StepAction } from "./plan/model.js";
import { planShards, restrictPlan, type ShardSet, shardKeeps, stepKey } from "./plan/shards.js";
import type { CopyContent } from "./plan/sharing.js";
import { textProgress } from "./report/progress.js";
import {
  type PlanRunOptions,
  type PlanRunResult,
  planRun,
  type SyncRunOptions,
  type SyncRunResult,
  type TargetConnection,
} from "./run.js";
import { InvocationCounter } from "./tools/runner.js";

const HINT =
  "shard plans are written by `ecr-mirror plan --shards N --plan-out DIR` (the action's mode plan with `shards`)";

/** One shard's plan file (`shard-K.json`): what it carries out, and what its plan job learnt for it. */
export interface ShardPlan {
  format: "ecr-mirror-shard/1";
  /** 0: the seed (runs first, alone); 1..shards: the sync shards. */
  shard: number;
  /** Sync shards in the set (the seed not counted). */
  shards: number;
  /** Sync shards running at once (`max-parallel`): they share the PutImage quota and the pull budgets. */
  parallel: number;
  registry: string;
  resync: ResyncMode;
  /** The entries it carries, with the bytes each uploads and its content when the plan job read it. */
  entries: {
    action: StepAction;
    source: string;
    repository: string;
    tag: string;
    bytes: number;
    content: CopyContent | null;
  }[];
  /** Blobs the seed brings and the repository each lands in: a sync shard mounts them from there. */
  held: Record<string, string>;
}

/** `{"include":[{"shard":1},…]}`: the sync shards as a GitHub Actions matrix. */
export interface ShardMatrix {
  include: { shard: number }[];
}

export interface ShardedPlanOptions extends PlanRunOptions {
  shards: number | "auto";
  /** Sync shards at once (GitHub's `max-parallel`); default: all of them. */
  maxParallel?: number | null;
}

export interface ShardedPlanResult extends PlanRunResult {
  set: ShardSet;
  files: ShardPlan[];
  matrix: ShardMatrix;
  /** Upstream manifest GETs the plan job sent to learn the copies' layers. */
  upstreamReads: number;
}

/**
 * Plans, reads the copies' layers upstream (as a sync would, within each upstream's pull budget: where reading
 * them would not fit, those copies are balanced without them) and splits the plan into shard plans.
 */
export async function planShardedRun(
  list: MirrorList,
  target: TargetConnection,
  options: ShardedPlanOptions,
): Promise<ShardedPlanResult> {
  const planned = await planRun(list, target, options);
  const transfers = planned.plan.steps.filter(isTransferStep);
  const manifests = new UpstreamManifests({
    upstreams: planned.list.upstreams,
    credentials: options.upstreamCredentials,
    schemes: target.schemes,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const images = transfers.filter((s) => s.kind === "image");
  const budget = images.length > 0 ? await assessPullBudget(images, manifests, { sharing: true }) : null;
  const readable = images.filter((s) => !budget?.noSharing.has(s) && !budget?.deferred.has(s));
  const contents = await copyContents(readable, manifests);
  const byKey = new Map([...contents].map(([s, c]) => [stepKey(s), c] as const));
  const contentOf = (s: { repository: string; tag: string }) => byKey.get(stepKey(s)) ?? null;
  const set = planShards(planned.plan, options.shards, contentOf);
  const shards = set.shards.length - 1;
  const parallel = Math.max(1, Math.min(options.maxParallel ?? shards, shards));
  const held = Object.fromEntries(set.held);
  const files: ShardPlan[] = set.shards.map((s) => ({
    format: "ecr-mirror-shard/1",
    shard: s.shard,
    shards,
    parallel: s.shard === 0 ? 1 : parallel,
    registry: planned.plan.registry,
    resync: planned.plan.resync,
    entries: s.steps.map((step) => {
      const content = contentOf(step);
      return {
        action: step.action,
        source: step.source,
        repository: step.repository,
        tag: step.tag,
        bytes: (content?.blobs ?? [])
          .filter((b) => s.shard === 0 || !set.held.has(b.digest))
          .reduce((n, b) => n + b.size, 0),
        content,
      };
    }),
    held: s.shard === 0 ? {} : held,
  }));
  return {
    ...planned,
    set,
    files,
    matrix: { include: set.shards.filter((s) => s.shard > 0).map((s) => ({ shard: s.shard })) },
    upstreamReads: manifests.reads,
  };
}

/** A shard plan from `path` (a shard-K.json, or the folder with `shard` naming which); located errors. */
export async function readShardPlan(path: string, shard: number | null): Promise<ShardPlan> {
  const isFolder = await stat(path)
    .then((s) => s.isDirectory())
    .catch(() => false);
  if (isFolder && shard === null)
    throw new MirrorError(`${path} is a folder of shard plans; say which shard runs`, {
      hint: "add --shard K (the action's shard input), or give the shard-K.json file",
    });
  const file = isFolder ? join(path, `shard-${shard}.json`) : path;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new MirrorError(`the shard plan ${file} cannot be read`, { hint: HINT });
  }
  let json: Partial<ShardPlan>;
  try {
    json = JSON.parse(text) as Partial<ShardPlan>;
  } catch (e) {
    throw new MirrorError(`${file} is not JSON: ${(e as Error).message}`, { hint: HINT });
  }
  if (json?.format !== "ecr-mirror-shard/1" || !Array.isArray(json.entries) || typeof json.shard !== "number")
    throw new MirrorError(`${file} is not an ecr-mirror shard plan (format ecr-mirror-shard/1)`, {
      hint: HINT,
    });
  if (shard !== null && json.shard !== shard)
    throw new MirrorError(`${file} is the plan of shard ${json.shard}, not of shard ${shard}`, {
      hint: "give the shard-K.json of the shard that runs",
    });
  return json as ShardPlan;
}

export interface ShardRunResult extends SyncRunResult {
  shard: ShardPlan;
}

/**
 * One shard: plans its entries again against the target (the seed the whole list, for the repositories and the
 * entries already present), keeps its own steps (plan/shards.ts `shardKeeps`, never a deletion) and carries them
 * out, with the PutImage rate and the pull budgets shared among the shards running at once.
 */
export async function shardSyncRun(
  listed: MirrorList,
  target: TargetConnection,
  shard: ShardPlan,
  options: SyncRunOptions,
): Promise<ShardRunResult> {
  if (shard.registry !== target.registry)
    throw new MirrorError(
      `shard plan ${shard.shard} was made for ${shard.registry}, but this run's target is ${target.registry}`,
      { hint: "run the shards with the target (region, account, registry-url) the plan job used" },
    );
  const keys = new Set(shard.entries.map(stepKey));
  const list = { ...listed, target: { ...listed.target, prune: false } };
  const counter = options.counter ?? new InvocationCounter();
  const planned = await planRun(list, target, {
    ...options,
    ...(shard.shard === 0 ? {} : { entries: keys }),
    charts: {
      mask: options.mask,
      counter,
      ...(options.helm ? { helm: options.helm } : {}),
      ...options.charts,
    },
  });
  const plan = restrictPlan(planned.plan, shardKeeps({ shard: shard.shard, keys }));
  const contents = new Map<string, CopyContent>();
  for (const e of shard.entries) if (e.content) contents.set(stepKey(e), e.content);
  const rate = options.putImageRate ?? (target.kind === "ecr" ? DEFAULT_PUT_IMAGE_RATE : null);
  const carried = await carryOutPlan(plan, planned.list, {
    ...options,
    progress: options.progress ?? textProgress(options.log),
    counter,
    target,
    upstreamCredentials: options.upstreamCredentials,
    ...(rate !== null ? { putImageRate: Math.max(1, Math.floor(rate / shard.parallel)) } : {}),
    shard: { contents, held: new Map(Object.entries(shard.held ?? {})), parallel: shard.parallel },
  });
  return { ...planned, plan, ...carried, shard };
}

/** A shard's sync report as written (`syncReportJson` with `shard`), read back. */
export interface ShardReport {
  path: string;
  shard: number | null;
  shards: number | null;
  report: ExecutionReport;
  processes: Record<string, number>;
}

interface ReportJson {
  registry?: string;
  startedAt?: string;
  durationMs?: number;
  ok?: boolean;
  deletesSkipped?: number;
  processes?: Record<string, number>;
  shard?: { shard: number; shards: number };
  steps?: (Omit<StepReport, "location" | "platforms"> & {
    platforms?: string[];
    file?: string;
    line?: number;
  })[];
}

/** The sync reports the shards wrote; a file that is not one is a located error. */
export async function readShardReports(paths: readonly string[]): Promise<ShardReport[]> {
  const out: ShardReport[] = [];
  for (const path of paths) {
    let json: ReportJson;
    try {
      json = JSON.parse(await readFile(path, "utf8")) as ReportJson;
    } catch (e) {
      throw new MirrorError(`the sync report ${path} cannot be read: ${(e as Error).message}`, {
        hint: "give the report files the shards wrote (--report, the action's report-path)",
      });
    }
    if (!Array.isArray(json.steps) || typeof json.registry !== "string")
      throw new MirrorError(`${path} is not an ecr-mirror sync report`, {
        hint: "give the report files the shards wrote (--report, the action's report-path)",
      });
    const steps: StepReport[] = json.steps.map(({ file, line, platforms, ...s }) => ({
      ...s,
      platforms: platforms ?? [],
      location: file !== undefined && line !== undefined ? { file, line, column: 1 } : null,
    }));
    out.push({
      path,
      shard: json.shard?.shard ?? null,
      shards: json.shard?.shards ?? null,
      processes: json.processes ?? {},
      report: reportOf(steps, {
        registry: json.registry,
        startedAt: json.startedAt ?? new Date(0).toISOString(),
        durationMs: json.durationMs ?? 0,
        deletesSkipped: json.deletesSkipped ?? 0,
        ok: json.ok === true,
      }),
    });
  }
  return out;
}

function reportOf(
  steps: StepReport[],
  base: Pick<ExecutionReport, "registry" | "startedAt" | "durationMs" | "deletesSkipped" | "ok">,
): ExecutionReport {
  const counts = Object.fromEntries(STEP_OUTCOMES.map((o) => [o, 0])) as Record<StepOutcome, number>;
  for (const s of steps) counts[s.outcome]++;
  const failures = steps.filter((s) => s.outcome === "failed");
  return { ...base, steps, counts, failures, ok: base.ok && failures.length === 0 };
}

export interface MergedReports {
  report: ExecutionReport;
  processes: Record<string, number>;
  /** Shards of the set whose report is missing (their job failed before writing it, or was cancelled). */
  missing: number[];
}

/**
 * One report from the shards': every step once, counts summed, the wall time of the longest shard, ok only when
 * every shard of the set reported and none failed.
 */
export function mergeShardReports(reports: readonly ShardReport[]): MergedReports {
  const shards = Math.max(0, ...reports.map((r) => r.shards ?? 0));
  const seen = new Set(reports.map((r) => r.shard));
  const missing = shards > 0 ? [...Array(shards + 1).keys()].filter((k) => !seen.has(k)) : [];
  const processes: Record<string, number> = {};
  for (const r of reports)
    for (const [k, n] of Object.entries(r.processes)) processes[k] = (processes[k] ?? 0) + n;
  const starts = reports.map((r) => r.report.startedAt).sort();
  const report = reportOf(
    reports.flatMap((r) => r.report.steps),
    {
      registry: reports[0]?.report.registry ?? "",
      startedAt: starts[0] ?? new Date().toISOString(),
      durationMs: Math.max(0, ...reports.map((r) => r.report.durationMs)),
      deletesSkipped: reports.reduce((n, r) => n + r.report.deletesSkipped, 0),
      ok: reports.length > 0 && missing.length === 0 && reports.every((r) => r.report.ok),
    },
  );
  return { report, processes, missing };
}

export interface MergeRunResult extends PlanRunResult {
  /** Every shard's steps and the deletions, as one report. */
  report: ExecutionReport;
  processes: Record<string, number>;
  missing: number[];
}

/**
 * The merge: one report from the shards', then the whole list planned again (no upstream asked) to find the
 * deletions (with prune) and what the node configuration renders from. Deletions run only when every shard
 * reported and nothing failed, as in an unsharded sync.
 */
export async function mergeRun(
  list: MirrorList,
  target: TargetConnection,
  reports: readonly ShardReport[],
  options: SyncRunOptions,
): Promise<MergeRunResult> {
  const merged = mergeShardReports(reports);
  const counter = options.counter ?? new InvocationCounter();
  const planned = await planRun(list, target, {
    ...options,
    resync: "missing",
    charts: {
      mask: options.mask,
      counter,
      ...(options.helm ? { helm: options.helm } : {}),
      ...options.charts,
    },
  });
  const deletions = restrictPlan(planned.plan, (s) => s.action === "delete");
  let steps = merged.report.steps;
  let deletesSkipped = merged.report.deletesSkipped;
  const processes = { ...merged.processes };
  if (deletions.steps.length > 0 && !merged.report.ok) deletesSkipped += deletions.steps.length;
  else if (deletions.steps.length > 0) {
    guardDeletions(deletions, planned.list, options.deletionLimit ?? null);
    const carried = await carryOutPlan(deletions, planned.list, {
      ...options,
      progress: options.progress ?? textProgress(options.log),
      counter,
      target,
    });
    steps = [...steps, ...carried.report.steps];
    for (const [k, n] of Object.entries(carried.processes)) processes[k] = (processes[k] ?? 0) + n;
  }
  const report = reportOf(steps, { ...merged.report, deletesSkipped });
  return { ...planned, report, processes, missing: merged.missing };
}

/** `plan` with its shard's facts: the sync report a shard writes (`syncReportJson(…)` plus this). */
export function shardFacts(shard: ShardPlan): { shard: { shard: number; shards: number } } {
  return { shard: { shard: shard.shard, shards: shard.shards } };
}
