/**
 * A value from the mirror list as a message shows it: JSON-quoted, with every control, format and line- or
 * paragraph-separator character written as an escape (`\n`, `\r`, `\u0000`, `\u2028`), so what the author
 * wrote is visible and a value can never break a log line or start a workflow command. Pure.
 */
export function quote(value: unknown): string {
  return JSON.stringify(String(value)).replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
