/**
 * Mirror-list problems turned into what people read: `FILE:LINE:COL: error: message` lines for a
 * terminal, and a bounded set of annotations for GitHub (which shows at most 10 errors and 10
 * warnings per step, so the rest are counted in one notice). Pure functions.
 */
import type { ListProblem } from "../list/model.js";
import { markdownCell } from "../tools/log-safe.js";
import type { LineLink } from "./plan-markdown.js";

export function formatProblem(p: ListProblem): string {
  const head = `${p.file}:${p.line}:${p.column}: ${p.severity}: ${p.message}`;
  return p.hint ? `${head}\n  hint: ${p.hint}` : head;
}

export function formatProblems(problems: readonly ListProblem[]): string {
  const errors = problems.filter((p) => p.severity === "error").length;
  const lines = problems.map(formatProblem);
  if (errors > 0)
    lines.push(
      `${errors} error${errors === 1 ? "" : "s"} in ${problems[0]?.file ?? "the mirror list"}; nothing was copied or changed.`,
    );
  return lines.join("\n");
}

export interface Annotation {
  severity: "error" | "warning" | "notice";
  message: string;
  title: string;
  file?: string;
  line?: number;
  column?: number;
}

/** GitHub shows 10 annotations of each severity per step. */
export const ANNOTATIONS_PER_SEVERITY = 10;

export function problemAnnotations(problems: readonly ListProblem[], file: string): Annotation[] {
  const out: Annotation[] = [];
  const shown = { error: 0, warning: 0 };
  const hidden = { error: 0, warning: 0 };
  for (const p of problems) {
    if (shown[p.severity] >= ANNOTATIONS_PER_SEVERITY) {
      hidden[p.severity]++;
      continue;
    }
    shown[p.severity]++;
    out.push({
      severity: p.severity,
      message: p.hint ? `${p.message}\nHint: ${p.hint}` : p.message,
      title: p.severity === "error" ? "Invalid mirror list" : "Mirror list",
      file,
      line: p.line,
      column: p.column,
    });
  }
  const more = (["error", "warning"] as const)
    .filter((s) => hidden[s] > 0)
    .map((s) => `${hidden[s]} more ${s}${hidden[s] === 1 ? "" : "s"}`)
    .join(" and ");
  if (more) {
    out.push({
      severity: "notice",
      title: "More mirror-list problems",
      message: `${more} not annotated; the step log lists every problem.`,
      file,
    });
  }
  return out;
}

/**
 * The validation as Markdown, for the job summary and the pull-request comment: valid or how many errors, then
 * each problem with a link to its line (`lineLink`), cut to `budget` bytes with a count of what was left out.
 */
export function validationMarkdown(
  file: string,
  problems: readonly ListProblem[],
  options: {
    summary?: string | null;
    note?: string | null;
    lineLink?: LineLink | null;
    budget?: number;
  } = {},
): string {
  const errors = problems.filter((p) => p.severity === "error").length;
  const warnings = problems.length - errors;
  const counted = [errors ? plural(errors, "error") : "", warnings ? plural(warnings, "warning") : ""]
    .filter(Boolean)
    .join(" and ");
  const lines = errors
    ? [
        `### ecr-mirror: \`${markdownCell(file)}\` has ${counted} ❌`,
        "",
        "Nothing was planned, copied or committed. Each problem links to its line:",
      ]
    : [`### ecr-mirror: \`${markdownCell(file)}\` is valid ✅${warnings ? ` (${counted})` : ""}`];
  if (options.summary) lines.push("", ...options.summary.split("\n").map(markdownCell));
  if (options.note) lines.push("", markdownCell(options.note));
  let out = `${lines.join("\n")}\n`;
  if (problems.length === 0) return out;
  out += "\n| line | | problem | hint |\n| --- | --- | --- | --- |\n";
  const budget = (options.budget ?? 900 * 1024) - 400;
  let shown = 0;
  for (const p of problems) {
    const url = options.lineLink ? options.lineLink(p.line) : null;
    const at = `${p.line}:${p.column}`;
    const row = `| ${url ? `[${at}](${url})` : at} | ${p.severity} | ${markdownCell(p.message)} | ${markdownCell(p.hint ?? "")} |\n`;
    if (Buffer.byteLength(out) + Buffer.byteLength(row) > budget) break;
    out += row;
    shown++;
  }
  if (shown < problems.length)
    out += `\n${plural(problems.length - shown, "more problem")} not shown, to stay under GitHub's size limit; the step log lists every one.\n`;
  return out;
}

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? "" : "s"}`;
}
