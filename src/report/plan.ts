/**
 * The plan as people and programs read it: terminal lines and one JSON document (the Markdown of the job
 * summary and the pull-request comment is ./plan-markdown.ts). Pure functions.
 */
import type { RangeExpansion } from "../list/tag-ranges.js";
import type { Plan, PullNeed, ReferrerOf, SettingChange, Step, StepAction } from "../plan/model.js";
import { isEntryStep, STEP_ACTIONS, stepFields } from "../plan/model.js";

export interface PlanCost {
  ecr: Record<string, number>;
  target: Record<string, number>;
  upstream: Record<string, number>;
}

export interface PlanStepJson {
  action: StepAction;
  source: string | null;
  repository: string;
  tag: string | null;
  reason: string;
  digest: string | null;
  targetDigest: string | null;
  platforms?: string[];
  /** Images found inside charts: the chart versions that use them (`charts/ingress-nginx:4.11.3`). */
  fromCharts?: string[];
  /** Chart versions resolved from a range: the range as written. */
  versionRange?: string;
  /** Image tags a tag range expanded to: the range in words (`versionRange ">=1.0.0 <2.0.0", newest 2`). */
  tagRange?: string;
  /** reconcile-settings: each setting that differs, what the repository has (`from`) and what the list asks (`to`). */
  changes?: SettingChange[];
  /** A referrer's step: the image it refers to (`of`, `subject`), its kind and artifact type, whether it is tagged. */
  referrer?: ReferrerOf;
  line?: number;
}

/** The chart versions an image step was discovered in, as `repository:version`. */
export function stepCharts(s: Step): string[] {
  if (!isEntryStep(s) || s.kind !== "image") return [];
  return (s.entry.fromCharts ?? []).map((o) => `${o.repository}:${o.version}`);
}

/** The version range a chart step was resolved from, or null. */
export function stepRange(s: Step): string | null {
  if (!isEntryStep(s) || s.kind !== "chart") return null;
  return s.entry.resolvedFrom ?? null;
}

/** The tag range an image step was expanded from, in words, or null. */
export function stepTagRange(s: Step): string | null {
  if (!isEntryStep(s) || s.kind !== "image") return null;
  return s.entry.resolvedFrom ?? null;
}

/** Where a step comes from besides its own list line, in words: `from chart …`, `from range …`. */
export function stepOrigin(s: Step): string | null {
  const charts = stepCharts(s);
  if (charts.length > 0) return `from chart${charts.length === 1 ? "" : "s"} ${charts.join(", ")}`;
  const range = stepRange(s);
  if (range) return `from version range ${range}`;
  const tagRange = stepTagRange(s);
  return tagRange ? `from tag range ${tagRange}` : null;
}

/** The most tags a range line names; the plan JSON has them all. */
const RANGE_TAGS_SHOWN = 20;

/** `Tag range docker.io/library/nginx versionRange ">=1.0.0 <2.0.0" -> 1.1.0, 1.0.0 (from the lock, line 4)` */
export function rangeLine(r: RangeExpansion): string {
  const shown = r.tags.slice(0, RANGE_TAGS_SHOWN).join(", ");
  const more = r.tags.length > RANGE_TAGS_SHOWN ? ` and ${r.tags.length - RANGE_TAGS_SHOWN} more` : "";
  const from = r.from === "lock" ? "from the lock" : "resolved from the upstream's tags now";
  return `Tag range ${r.source} ${r.range} -> ${shown}${more} (${r.tags.length} tag${r.tags.length === 1 ? "" : "s"}, ${from}; line ${r.line})`;
}

export function planToJson(plan: Plan, cost?: PlanCost) {
  return {
    registry: plan.registry,
    resync: plan.resync,
    steps: plan.steps.map((step): PlanStepJson => {
      const s = stepFields(step);
      const range = stepRange(step);
      return {
        action: s.action,
        source: s.source,
        repository: s.repository,
        tag: s.tag,
        reason: s.reason,
        digest: s.digest,
        targetDigest: s.targetDigest,
        ...(s.platforms.length > 0 ? { platforms: s.platforms } : {}),
        ...(stepCharts(step).length > 0 ? { fromCharts: stepCharts(step) } : {}),
        ...(range ? { versionRange: range } : {}),
        ...(stepTagRange(step) ? { tagRange: stepTagRange(step)! } : {}),
        ...(step.action === "reconcile-settings" ? { changes: step.changes } : {}),
        ...(isEntryStep(step) && "referrer" in step && step.referrer ? { referrer: step.referrer } : {}),
        ...(s.location ? { line: s.location.line } : {}),
      };
    }),
    summary: plan.summary,
    ...(plan.pulls ? { pulls: plan.pulls } : {}),
    ...(plan.ranges ? { ranges: plan.ranges } : {}),
    warnings: plan.warnings.map((w) => ({
      message: w.message,
      ...(w.hint ? { hint: w.hint } : {}),
      ...(w.location ? { line: w.location.line } : {}),
    })),
    ...(cost ? { cost } : {}),
  };
}

const VERBS: Record<StepAction, string> = {
  "create-repository": "to create",
  "reconcile-settings": "to reconcile",
  copy: "to copy",
  update: "to update",
  restore: "to restore",
  blocked: "blocked",
  present: "present",
  delete: "to delete",
};

export function summaryLine(plan: Plan): string {
  // Restores (archived tags) are named only when there are any: most registries never archive.
  const parts = STEP_ACTIONS.filter(
    (a) =>
      a !== "create-repository" &&
      (a !== "restore" || plan.summary.restore > 0) &&
      (a !== "reconcile-settings" || plan.summary["reconcile-settings"] > 0),
  ).map((a) => `${plan.summary[a]} ${VERBS[a]}`);
  const repos = plan.summary["create-repository"];
  return `Plan for ${plan.registry}: ${repos} repositor${repos === 1 ? "y" : "ies"} to create, ${parts.join(", ")}.`;
}

function target(s: Step): string {
  if (s.kind === "repository") return s.repository;
  // An OCI referrer is pushed by digest.
  return `${s.repository}${s.tag.startsWith("sha256:") ? "@" : ":"}${s.tag}`;
}

function stepLine(s: Step): string {
  const what = isEntryStep(s) ? `${s.source} -> ${target(s)}` : target(s);
  const origin = stepOrigin(s);
  return `  ${s.action.padEnd(17)} ${what}  (${s.reason}${origin ? `; ${origin}` : ""})`;
}

/** Terminal text: the summary, then every step, changes first. */
/** `Pulls from registry-1.docker.io: at least 12 counted (each platform of a multi-arch image counts), 88 of 100 left per 6 h` */
export function pullLine(p: PullNeed): string {
  const window = p.windowSeconds ? ` per ${Math.round(p.windowSeconds / 360) / 10} h` : "";
  const of = p.limit !== null ? ` of ${p.limit}` : "";
  return `Pulls from ${p.upstream}: at least ${p.needed} counted (each platform of a multi-arch image counts), ${p.remaining}${of} left${window}`;
}

export function formatPlan(plan: Plan): string {
  const order = (a: StepAction) =>
    [
      "create-repository",
      "reconcile-settings",
      "copy",
      "update",
      "restore",
      "blocked",
      "delete",
      "present",
    ].indexOf(a);
  const steps = [...plan.steps].sort((a, b) => order(a.action) - order(b.action));
  const lines = [
    summaryLine(plan),
    ...steps.map(stepLine),
    ...(plan.ranges ?? []).map(rangeLine),
    ...(plan.pulls ?? []).map(pullLine),
  ];
  for (const w of plan.warnings) lines.push(`warning: ${w.message}${w.hint ? `\n  hint: ${w.hint}` : ""}`);
  return lines.join("\n");
}
