/**
 * The audit as people read it: terminal text, one JSON document, the job summary and the annotations on the
 * mirror list (prune candidates on their lines, the lines to add as one notice). Every value that comes from the
 * pod list (names, invalid image strings) is escaped: a pod list is input, like the mirror list. Pure.
 */
import type { AuditResult, PodUse } from "../audit/audit.js";
import { auditFindsMissing } from "../audit/audit.js";
import { quoteValue } from "../list/quote.js";
import { markdownCell } from "../tools/log-safe.js";
import type { Annotation } from "./problems.js";

export interface AuditReportContext {
  /** The mirror list as shown (relative to the workspace in the action). */
  file: string;
  /** Why (c) was not checked, when the target was not asked (`--no-target`). */
  notChecked?: string;
}

/** Pods shown per image; the rest are counted. */
const PODS_SHOWN = 3;
/** Pods listed per image in the JSON document. */
const PODS_IN_JSON = 20;

/** A Kubernetes name as it reaches the text: as is when it is a plain name, else quoted and escaped. */
function plain(s: string): string {
  return /^[A-Za-z0-9._:/@-]{1,253}$/.test(s) ? s : quoteValue(s, 100);
}

function podName(u: PodUse): string {
  return `${plain(u.namespace)}/${plain(u.pod)}`;
}

/** `ns/a, ns/b, ns/c and 4 more`, each pod once. */
function podsText(uses: readonly PodUse[]): string {
  const names = [...new Set(uses.map(podName))];
  const shown = names.slice(0, PODS_SHOWN).join(", ");
  return names.length > PODS_SHOWN ? `${shown} and ${names.length - PODS_SHOWN} more` : shown;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function auditHeadline(result: AuditResult, context: AuditReportContext): string {
  return [
    `Audit of ${plural(result.pods, "pod")} (${plural(result.containers, "container")}) against ${context.file}:`,
    `${plural(result.references, "image")}, ${result.mirrored} mirrored,`,
    `${plural(result.missing.length, "repository", "repositories")} not in the list,`,
    `${plural(result.unused.length, "list entry", "list entries")} no pod uses.`,
  ].join(" ");
}

/** The terminal text. */
export function formatAudit(result: AuditResult, context: AuditReportContext): string {
  const out = [auditHeadline(result, context)];
  if (result.missing.length > 0)
    out.push(
      "",
      "Not in the list (nodes pull these from the upstream, or fail in an air gap):",
      ...missingLines(result),
    );
  if (result.additions.lines.length > 0) {
    out.push(
      "",
      `Add to ${context.file} after line ${result.additions.afterLine}:`,
      ...result.additions.lines,
    );
  }
  if (result.unused.length > 0) {
    out.push("", "No pod uses these list entries (prune candidates):");
    for (const e of result.unused) out.push(`  ${context.file}:${e.location.line}: ${e.source}`);
  }
  out.push("", ...unheldLines(result, context));
  if (result.invalid.length > 0) {
    out.push("", "Image references no runtime can pull:");
    for (const i of result.invalid)
      out.push(`  ${quoteValue(i.image, 120)}: ${i.error} (${podsText(i.uses)})`);
  }
  if (result.privateEcr.length > 0)
    out.push(
      "",
      `${plural(result.privateEcr.length, "image")} from other private ECR registries (pulled from there, not mirrored): ${result.privateEcr.join(", ")}`,
    );
  return out.join("\n");
}

/** One line per reference a pod names that the list lacks, and why one cannot be added yet. */
function missingLines(result: AuditResult): string[] {
  const out: string[] = [];
  const redirected = "  [its host is redirected to the mirror: the next pull fails]";
  for (const m of result.missing) {
    for (const r of m.references)
      out.push(
        `  ${r}  (${podsText(m.uses.filter((u) => u.reference === r))})${m.redirected ? redirected : ""}`,
      );
    if (m.problem)
      out.push(
        `    cannot be added as the list stands: ${m.problem.message}${m.problem.hint ? `; ${m.problem.hint}` : ""}`,
      );
  }
  return out;
}

function unheldLines(result: AuditResult, context: AuditReportContext): string[] {
  if (result.unheld === null)
    return [
      `Digests were not checked against the mirror: ${context.notChecked ?? "the target was not asked"}.`,
    ];
  if (result.unheld.length === 0) return ["Every digest pods pin or run is in the mirror."];
  const out = ["Digests the mirror does not hold:"];
  for (const u of result.unheld)
    out.push(
      `  ${u.reference}${u.pinned ? "" : ` runs ${u.digest}`} in ${u.repository}: ${u.pinned ? "pinned by" : "not in the mirror, run by"} ${podsText(u.uses)}`,
    );
  return out;
}

function podsJson(uses: readonly PodUse[]): { pods: string[]; podCount: number } {
  const names = [...new Set(uses.map((u) => `${u.namespace}/${u.pod}`))];
  return { pods: names.slice(0, PODS_IN_JSON), podCount: names.length };
}

/** The JSON document (`--json`). */
export function auditToJson(result: AuditResult): Record<string, unknown> {
  return {
    missingImages: auditFindsMissing(result),
    pods: result.pods,
    containers: result.containers,
    images: result.references,
    mirrored: result.mirrored,
    missing: result.missing.map((m) => ({
      name: m.name,
      references: m.references,
      ...podsJson(m.uses),
      redirected: m.redirected,
      problem: m.problem,
    })),
    additions: { afterLine: result.additions.afterLine, lines: result.additions.lines },
    unused: result.unused.map((e) => ({
      source: e.source,
      repository: e.repository,
      line: e.location.line,
      column: e.location.column,
    })),
    unheld:
      result.unheld?.map((u) => ({
        reference: u.reference,
        repository: u.repository,
        digest: u.digest,
        pinned: u.pinned,
        ...podsJson(u.uses),
      })) ?? null,
    invalid: result.invalid.map((i) => ({ image: i.image, error: i.error, ...podsJson(i.uses) })),
    privateEcr: result.privateEcr,
  };
}

/** The job summary. */
export function auditMarkdown(result: AuditResult, context: AuditReportContext): string {
  const ok = !auditFindsMissing(result);
  const out = [
    `### ecr-mirror audit ${ok ? "✅" : "❌"}`,
    "",
    markdownCell(auditHeadline(result, context)),
    "",
  ];
  if (result.missing.length > 0) {
    out.push("| not in the list | pods |", "| --- | --- |");
    for (const m of result.missing)
      for (const r of m.references)
        out.push(
          `| \`${markdownCell(r)}\` | ${markdownCell(podsText(m.uses.filter((u) => u.reference === r)))} |`,
        );
    out.push("");
  }
  if (result.additions.lines.length > 0)
    out.push(
      `Add to \`${markdownCell(context.file)}\` after line ${result.additions.afterLine}:`,
      "",
      "```yaml",
      ...result.additions.lines.map((l) => l.replaceAll("```", "`\u200b``")),
      "```",
      "",
    );
  if (result.unused.length > 0) {
    out.push("| no pod uses (prune candidate) | line |", "| --- | --- |");
    for (const e of result.unused) out.push(`| \`${markdownCell(e.source)}\` | ${e.location.line} |`);
    out.push("");
  }
  out.push(
    ...unheldLines(result, context)
      .map((l) => markdownCell(l.trim()))
      .map((l, i) => (i === 0 ? l : `- ${l}`)),
  );
  if (result.invalid.length > 0)
    out.push("", `${result.invalid.length} image reference(s) no runtime can pull: see the log.`);
  return `${out.join("\n")}\n`;
}

/** Prune candidates as notices on their lines (the first ten), the lines to add as one notice on the list. */
export function auditAnnotations(result: AuditResult, file: string): Annotation[] {
  const out: Annotation[] = [];
  if (result.additions.lines.length > 0)
    out.push({
      severity: "warning",
      title: `${plural(result.missing.length, "image repository", "image repositories")} the cluster runs not in the list`,
      message: `Add after line ${result.additions.afterLine}:\n${result.additions.lines.join("\n")}`,
      file,
      line: Math.max(1, result.additions.afterLine),
    });
  for (const m of result.missing.filter((x) => x.problem))
    out.push({
      severity: "warning",
      title: "Image the cluster runs cannot be added as the list stands",
      message: `${m.name}: ${m.problem!.message}${m.problem!.hint ? `\nHint: ${m.problem!.hint}` : ""}`,
      file,
    });
  for (const u of (result.unheld ?? []).filter((x) => x.pinned).slice(0, 10))
    out.push({
      severity: "warning",
      title: "Pinned digest not in the mirror",
      message: `${u.reference} (pinned by ${podsText(u.uses)}) is not in ${u.repository}`,
      file,
    });
  const unused = result.unused.slice(0, 10);
  for (const e of unused)
    out.push({
      severity: "notice",
      title: "No pod uses this entry",
      message: `${e.source}: no pod in the cluster runs it (a prune candidate)`,
      file,
      line: e.location.line,
      column: e.location.column,
    });
  if (result.unused.length > unused.length)
    out.push({
      severity: "notice",
      title: "No pod uses these entries",
      message: `${result.unused.length - unused.length} more list entries no pod uses: see the job summary`,
      file,
    });
  return out;
}
