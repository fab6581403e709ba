/**
 * The sync as a job summary (Markdown): the counts, then the failed, blocked and changed steps, kept under
 * GitHub's 1 MiB step-summary limit by cutting the table and saying how many rows were left out. Pure.
 */

import type { ExecutionReport, StepReport } from "../execute/execute.js";
import { markdownCell } from "../tools/log-safe.js";
import { describeStep, formatSeconds } from "./progress.js";

/** GitHub refuses a step summary above 1 MiB; stay well below it. */
export const SUMMARY_BUDGET = 512 * 1024;

const cell = markdownCell;

function row(step: StepReport): string {
  const where = step.location ? `${step.location.file}:${step.location.line}` : "";
  const note = step.error ?? (step.digest ? `\`${step.digest.slice(0, 19)}…\`` : "");
  return `| ${step.outcome} | ${cell(describeStep(step))} | ${cell(note.slice(0, 300))} | ${formatSeconds(step.durationMs)} | ${cell(where)} |`;
}

const ORDER: Record<string, number> = {
  failed: 0,
  blocked: 1,
  skipped: 2,
  updated: 3,
  restored: 4,
  reconciled: 5,
  copied: 6,
  deleted: 7,
  created: 8,
};

export function syncSummaryMarkdown(
  report: ExecutionReport,
  extra: { reportPath?: string | null; processes?: Record<string, number> } = {},
): string {
  const c = report.counts;
  const lines = [
    `## ecr-mirror sync ${report.ok ? "✅" : "❌"}`,
    "",
    `Target \`${cell(report.registry)}\`: **${c.copied} copied**, **${c.updated} updated**, ` +
      (c.restored > 0 ? `**${c.restored} restored** (from the ECR archive), ` : "") +
      (c.reconciled > 0 ? `**${c.reconciled} repositories reconciled** (settings), ` : "") +
      `${c.present} present, ` +
      `**${c.failed} failed**, ${c.blocked} blocked, ${c.created} repositories created, ${c.deleted} deleted ` +
      `in ${formatSeconds(report.durationMs)}.`,
  ];
  if (report.deletesSkipped > 0)
    lines.push(
      "",
      `Pruning skipped: ${report.deletesSkipped} planned deletion(s) not run because a step failed.`,
    );
  const processes = Object.entries(extra.processes ?? {});
  lines.push(
    "",
    `Processes started: ${processes.length === 0 ? "none" : processes.map(([k, n]) => `${k} × ${n}`).join(", ")}.`,
  );
  if (extra.reportPath) lines.push("", `Full report: \`${extra.reportPath}\``);
  const shown = report.steps
    .filter((s) => s.outcome in ORDER && s.outcome !== "created")
    .sort((a, b) => (ORDER[a.outcome] ?? 9) - (ORDER[b.outcome] ?? 9));
  if (shown.length > 0) {
    lines.push("", "| Outcome | Step | Digest or error | Time | Line |", "| --- | --- | --- | --- | --- |");
    let size = lines.join("\n").length;
    let written = 0;
    for (const step of shown) {
      const text = row(step);
      if (size + text.length + 200 > SUMMARY_BUDGET) break;
      lines.push(text);
      size += text.length + 1;
      written += 1;
    }
    if (written < shown.length)
      lines.push("", `… ${shown.length - written} more step(s) in the JSON report.`);
  }
  return `${lines.join("\n")}\n`;
}

/** What commit-back did, for the job summary: the outcome, the commit or pull request, and why. */
export function commitBackMarkdown(result: {
  outcome: string;
  reason?: string | undefined;
  commitSha?: string | undefined;
  pullRequestUrl?: string | undefined;
}): string {
  const parts = [`**Commit-back: ${cell(result.outcome)}**`];
  if (result.commitSha) parts.push(`commit \`${cell(result.commitSha)}\``);
  if (result.pullRequestUrl) parts.push(`pull request ${cell(result.pullRequestUrl)}`);
  return `\n${parts.join(", ")}${result.reason ? `: ${cell(result.reason)}` : ""}.\n`;
}
