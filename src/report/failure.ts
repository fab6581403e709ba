/** A failure as a person reads it: the message and a hint, secrets redacted, no stack trace for a known problem. */
import { MirrorError } from "../errors.js";
import type { SecretMask } from "../tools/credentials.js";
import { markdownCell } from "../tools/log-safe.js";
import { formatProblem } from "./problems.js";

export function describeFailure(e: unknown, mask: SecretMask): string {
  if (e instanceof MirrorError) return mask.redact(describeMirrorError(e));
  return mask.redact(e instanceof Error ? e.message : String(e));
}

/**
 * `file:line:col: ` when located, the message, the located problems behind it one a line, and the hint
 * unless the message already carries it.
 */
function describeMirrorError(e: MirrorError): string {
  const at = e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ` : "";
  const problems = e.problems.map((p) => `\n${formatProblem(p)}`).join("");
  const hinted = !e.hint || e.message.includes(`hint: ${e.hint}`);
  return `${at}${e.message}${problems}${hinted ? "" : `\n  hint: ${e.hint}`}`;
}

/** A run that failed before its report, as Markdown for the summary and the comment: the reason, whole. */
export function failureMarkdown(title: string, reason: string): string {
  const lines = reason.split(/\r\n|\r|\n/).map((l) => `> ${markdownCell(l)}`);
  return `### ${markdownCell(title)} ❌\n\n> [!CAUTION]\n${lines.join("\n")}\n`;
}
