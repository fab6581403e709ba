/**
 * A value quoted for a message: JSON string syntax with every character outside printable ASCII escaped,
 * so no control character, newline, bidi override or homoglyph reaches a log unseen; cut after `max` characters.
 */
export function quoteValue(s: string, max = 200): string {
  const shown = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(shown).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * A URL or reference with its credentials hidden: `https://user:secret@host/x` -> `https://***@host/x`, and
 * `user:secret@host/x` (an image reference written like a URL) -> `***@host/x`. A digest (`name@sha256:…`) stays.
 */
export function hideUserinfo(s: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(s)?.[0];
  if (scheme) return s.replace(/^([^/]*\/\/)[^/?#]*@/, "$1***@");
  return s.replace(/^[^/]*@(?=[^/@]*\/)/, "***@");
}

/**
 * A message as it may reach a log: every control character, line separator and bidi control escaped, so no
 * value it quotes can start a line (a workflow command such as `::warning::` starts a line) or hide text.
 */
export function safeMessage(s: string): string {
  const escaped = s.replace(
    // Everything but printable ASCII, printable Latin-1 and up, minus zero-width, line-separator and bidi controls.
    /[^\x20-\x7e\u00a0-\u200a\u2010-\u2027\u202f-\u2065\u206a-\ufefe\uff00-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return escaped.startsWith("::") ? `\\${escaped}` : escaped;
}

/** A value as a problem message shows it: quoted, escaped, credentials in a URL hidden. */
export function shown(value: string): string {
  return quoteValue(hideUserinfo(value));
}
