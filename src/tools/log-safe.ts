/**
 * Text derived from data (list values, upstream answers, tool output) made unable to start a GitHub
 * workflow command when it reaches the log. The runner (actions/runner `ActionCommandManager`) splits
 * the output into lines on `\r\n`, `\n` and a lone `\r`, trims the start of each line (every Unicode
 * white space) and runs a line that then starts with `::` as a command (`::add-mask::`,
 * `::stop-commands::`, `::warning::`, ...); the legacy form `##[command]` is found anywhere in a line.
 * `@actions/core` escapes the messages of `error`, `warning`, `notice`, `debug` and `setFailed`, but
 * `core.info` and writes to stdout/stderr print raw text. Pure.
 */

/**
 * Everything the runner may trim before it looks for `::`, and then some: white space of every kind
 * (NBSP, U+2028, ...), control and format characters. Stripping more than the runner does only
 * neutralises more lines, never fewer.
 */
const LEADING_BLANKS = /^[\s\p{Cc}\p{Cf}\p{Z}]*/u;
const LINE_BREAK = /(\r\n|\r|\n)/;

/**
 * The same text, line for line, with every line that would start a command defanged: a leading `::`
 * (after any blanks) becomes `: :`, and `##[` anywhere becomes `## [`. The line breaks are kept.
 * Idempotent: neutralising twice gives the same text as once.
 */
export function neutraliseCommands(text: string): string {
  if (!text.includes("::") && !text.includes("##[")) return text;
  return text
    .split(LINE_BREAK)
    .map((part, i) => (i % 2 === 1 ? part : neutraliseLine(part)))
    .join("");
}

function neutraliseLine(line: string): string {
  let out = line.replaceAll("##[", "## [");
  const blanks = LEADING_BLANKS.exec(out)?.[0].length ?? 0;
  if (out.startsWith("::", blanks)) out = `${out.slice(0, blanks)}: :${out.slice(blanks + 2)}`;
  return out;
}

/** Scrubs secrets from text (`SecretMask.redact`). */
export interface Redactor {
  redact(text: string): string;
}

/**
 * A JSON document as ecr-mirror writes it to a file or stdout: every string value redacted, and safe to
 * print by construction. Pretty-printed JSON lines start with blanks and then `{ } [ ] "` or a literal,
 * never `::`; the only way to the runner is the legacy `##[` inside a string, written here as `##\u005b`
 * (the same string to every JSON reader).
 */
export function formatJson(json: unknown, mask: Redactor): string {
  const text = JSON.stringify(
    json,
    (_key, value) => (typeof value === "string" ? mask.redact(value) : value),
    2,
  );
  return `${text.replaceAll("##[", "##\\u005b")}\n`;
}

/**
 * Text for one Markdown table cell: `|` escaped, every line break a space, other control characters shown
 * as `\u00XX`, so a value can neither end the row nor hide in it.
 */
export function markdownCell(text: string): string {
  return text
    .replace(/\r\n|[\r\n\u2028\u2029]/g, " ")
    .replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replaceAll("|", "\\|");
}
