/**
 * A value quoted for a message: JSON string syntax with every character outside printable ASCII escaped,
 * so no control character, newline, bidi override or homoglyph reaches a log unseen.
 */
export function quoteValue(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
