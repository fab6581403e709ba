/**
 * A linear scan before the YAML parser, which needs up to 1 GB for 2 MiB of `[[[[…` or `- - - …` or `*a,*a,…`:
 * refuses nesting deeper than PRESCAN_DEPTH in brackets (counted everywhere, quoted JSON included: no real list comes
 * near) or in block indicators on one line, more lines and list items than MAX_LIST_ITEMS, and more alias-like tokens
 * than any list could mean.
 */
import { MAX_ALIAS_TOKENS, MAX_DEPTH, MAX_LIST_ITEMS, PRESCAN_DEPTH, TOO_DEEP_HINT } from "./limits.js";

export interface Refusal {
  message: string;
  hint: string;
}

/** Where the text is refused, and why. */
export interface HostileInput {
  offset: number;
  problem: Refusal;
}

interface ScanState {
  /** Open brackets (`[`, `{`). */
  depth: number;
  aliases: number;
  /** Lines plus `,`. */
  items: number;
  /** Only block indicators and blanks so far on this line. */
  lineStart: boolean;
  /** Block indicators (`- `, `? `, `: `) opening this line: each is a level. */
  indicators: number;
}

const NEWLINE = 0x0a;
const COMMA = 0x2c;
const SPACE = 0x20;
const TAB = 0x09;
const STAR = 0x2a;

const TOO_MANY_ITEMS: Refusal = {
  message: `the mirror list holds more than ${MAX_LIST_ITEMS} lines and list items`,
  hint: "a list of 5000 images has 5000 to 25 000: split the list, or look for generated or pasted content",
};
const TOO_DEEP: Refusal = {
  message: `the mirror list is nested too deeply here (${MAX_DEPTH} levels at most)`,
  hint: TOO_DEEP_HINT,
};
const TOO_MANY_ALIASES: Refusal = {
  message: `the mirror list holds more than ${MAX_ALIAS_TOKENS} YAML aliases (*name); aliases are not supported`,
  hint: "write the values out in full",
};

export function prescan(text: string): HostileInput | null {
  const state: ScanState = { depth: 0, aliases: 0, items: 0, lineStart: true, indicators: 0 };
  for (let i = 0; i < text.length; i++) {
    const problem = scanAt(text, i, state);
    if (problem) return { offset: i, problem };
  }
  return null;
}

function scanAt(text: string, i: number, state: ScanState): Refusal | null {
  const c = text.charCodeAt(i);
  return (
    countItem(c, state) ??
    countBracket(c, state) ??
    countAlias(text, i, c, state) ??
    countIndicator(text, i, c, state)
  );
}

function countItem(c: number, state: ScanState): Refusal | null {
  if (c !== NEWLINE && c !== COMMA) return null;
  state.items += 1;
  return state.items > MAX_LIST_ITEMS ? TOO_MANY_ITEMS : null;
}

function countBracket(c: number, state: ScanState): Refusal | null {
  if (c === 0x5b || c === 0x7b) {
    state.depth += 1;
    return state.depth > PRESCAN_DEPTH ? TOO_DEEP : null;
  }
  if (c === 0x5d || c === 0x7d) state.depth = Math.max(0, state.depth - 1);
  return null;
}

/** A `*` where an alias can start: at the start of the text, after a blank, a newline, `,` or `[`. */
function countAlias(text: string, i: number, c: number, state: ScanState): Refusal | null {
  if (c !== STAR) return null;
  const before = i === 0 ? SPACE : text.charCodeAt(i - 1);
  if (before !== SPACE && before !== NEWLINE && before !== COMMA && before !== 0x5b && before !== TAB)
    return null;
  state.aliases += 1;
  return state.aliases > MAX_ALIAS_TOKENS ? TOO_MANY_ALIASES : null;
}

function countIndicator(text: string, i: number, c: number, state: ScanState): Refusal | null {
  if (c === NEWLINE) {
    state.lineStart = true;
    state.indicators = 0;
    return null;
  }
  if (!state.lineStart) return null;
  const next = text.charCodeAt(i + 1);
  if ((c === 0x2d || c === 0x3f || c === 0x3a) && (next === SPACE || next === TAB)) {
    state.indicators += 1;
    return state.indicators > PRESCAN_DEPTH ? TOO_DEEP : null;
  }
  if (c !== SPACE && c !== TAB) state.lineStart = false;
  return null;
}
