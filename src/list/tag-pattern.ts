/**
 * Tag patterns (`pattern:` on an image entry): a regular expression on tag names, always matched against the
 * whole tag. A stranger's pull request writes the list and the upstream writes the tag names, so neither may make
 * matching slow: patterns are read in a small subset (literals, `.`, classes, `\d` `\w`, groups, `|`, `*` `+` `?`
 * `{n,m}`; no backreferences or lookarounds) and run by an automaton that never backtracks (Thompson's
 * construction, with the state sets it meets cached), so a match costs at most the tag's length times the
 * pattern's size. Pure.
 */

/** The longest pattern the list may give. */
export const MAX_PATTERN_LENGTH = 256;
/** The most automaton states a pattern may need once `{n,m}` repetitions are written out. */
export const MAX_PATTERN_STATES = 1000;
/** A repetition count above the longest tag (128 characters) cannot match anything more. */
const MAX_REPEAT = 128;

type CharTest = (code: number) => boolean;

type Ast =
  | { t: "char"; test: CharTest }
  | { t: "seq"; items: Ast[] }
  | { t: "alt"; options: Ast[] }
  | { t: "repeat"; node: Ast; min: number; max: number | null };

type State =
  | { kind: "char"; test: CharTest; out: number }
  | { kind: "split"; outs: number[] }
  | { kind: "match" };

export interface TagPattern {
  /** The pattern as written. */
  source: string;
  matches(tag: string): boolean;
}

export type TagPatternResult =
  | { ok: true; pattern: TagPattern }
  | { ok: false; error: string /** 0-based offset in the pattern text. */; offset: number };

class PatternError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const isDigit: CharTest = (c) => c >= 48 && c <= 57;
const isWord: CharTest = (c) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const ESCAPES: Record<string, CharTest> = {
  d: isDigit,
  D: (c) => !isDigit(c),
  w: isWord,
  W: (c) => !isWord(c),
};

/** Reads a pattern in the supported subset, or says what is not supported and where. */
export function parseTagPattern(source: string): TagPatternResult {
  if (source.length > MAX_PATTERN_LENGTH)
    return { ok: false, error: `it is longer than ${MAX_PATTERN_LENGTH} characters`, offset: 0 };
  // Tags are printable ASCII without spaces: anything else in a pattern can match nothing (and must not reach a log).
  const odd = /[^\x21-\x7e]/.exec(source);
  if (odd)
    return {
      ok: false,
      error: `U+${odd[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} cannot be in a tag (tags are letters, digits, _, . and -)`,
      offset: odd.index,
    };
  try {
    const ast = new Parser(source).parse();
    const { states, start } = compile(ast);
    return { ok: true, pattern: { source, matches: matcher(states, start) } };
  } catch (e) {
    if (e instanceof PatternError) return { ok: false, error: e.message, offset: e.offset };
    throw e;
  }
}

class Parser {
  private i = 0;
  private end: number;

  constructor(private readonly text: string) {
    // `^` and `$` are allowed where they change nothing: the pattern always matches the whole tag.
    if (text.startsWith("^")) this.i = 1;
    this.end = text.endsWith("$") && !text.endsWith("\\$") ? text.length - 1 : text.length;
  }

  parse(): Ast {
    const ast = this.alternation();
    if (this.i < this.end) throw new PatternError(`unmatched ")"`, this.i);
    return ast;
  }

  private peek(): string | undefined {
    return this.i < this.end ? this.text[this.i] : undefined;
  }

  private alternation(): Ast {
    const options = [this.sequence()];
    while (this.peek() === "|") {
      this.i++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0]! : { t: "alt", options };
  }

  private sequence(): Ast {
    const items: Ast[] = [];
    for (let c = this.peek(); c !== undefined && c !== "|" && c !== ")"; c = this.peek()) {
      items.push(this.quantified(this.atom()));
    }
    return { t: "seq", items };
  }

  private quantified(node: Ast): Ast {
    const at = this.i;
    const c = this.peek();
    let min: number;
    let max: number | null;
    if (c === "*") [min, max] = [0, null];
    else if (c === "+") [min, max] = [1, null];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") [min, max] = this.braces();
    else return node;
    if (c !== "{") this.i++;
    const next = this.peek();
    if (next === "?") this.i++; // lazy: the same for a whole-tag match
    if (next === "*" || next === "+" || next === "{")
      throw new PatternError("a quantifier cannot follow a quantifier", this.i);
    if (max !== null && max < min) throw new PatternError(`{${min},${max}}: the range is backwards`, at);
    return { t: "repeat", node, min, max };
  }

  private braces(): [number, number | null] {
    const at = this.i;
    const m = /^\{(\d{1,3})(,(\d{0,3}))?\}/.exec(this.text.slice(this.i, this.end));
    if (!m)
      throw new PatternError('"{" starts a repetition {n}, {n,} or {n,m}; write \\{ for the character', at);
    this.i += m[0].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] ? Number(m[3]) : null;
    if (min > MAX_REPEAT || (max ?? 0) > MAX_REPEAT)
      throw new PatternError(`a repetition count above ${MAX_REPEAT} (the longest tag) is not needed`, at);
    return [min, max];
  }

  private atom(): Ast {
    const at = this.i;
    const c = this.text[this.i++]!;
    switch (c) {
      case ".":
        return { t: "char", test: () => true };
      case "\\":
        return { t: "char", test: this.escape(false) };
      case "[":
        return { t: "char", test: this.charClass(at) };
      case "(": {
        if (this.text.startsWith("?:", this.i)) this.i += 2;
        else if (this.peek() === "?")
          throw new PatternError("lookarounds and named groups are not supported; use (...) or (?:...)", at);
        const inner = this.alternation();
        if (this.peek() !== ")") throw new PatternError('unclosed "("', at);
        this.i++;
        return inner;
      }
      case "*":
      case "+":
      case "?":
      case "{":
        throw new PatternError(`"${c}" has nothing to repeat; write \\${c} for the character`, at);
      case "^":
      case "$":
        throw new PatternError(
          `"${c}" is only allowed at the start (^) or end ($): the pattern always matches the whole tag`,
          at,
        );
      case "]":
      case "}":
        throw new PatternError(`write \\${c} for the character "${c}"`, at);
      default: {
        const code = c.charCodeAt(0);
        return { t: "char", test: (x) => x === code };
      }
    }
  }

  /** After a `\`: a class (`\d`, `\w` and their negations) or an escaped punctuation character. */
  private escape(inClass: boolean): CharTest {
    const at = this.i - 1;
    const c = this.text[this.i++];
    if (c === undefined || this.i > this.end) throw new PatternError("the pattern ends with \\", at);
    const known = ESCAPES[c];
    if (known) return known;
    if (/[a-zA-Z0-9]/.test(c))
      throw new PatternError(
        `\\${c} is not supported (${inClass ? "in a class " : ""}only \\d, \\D, \\w, \\W and escaped punctuation such as \\. are)`,
        at,
      );
    const code = c.charCodeAt(0);
    return (x) => x === code;
  }

  /** One item of a class: a character, an escape, or a range `a-z`. */
  private classItem(): CharTest {
    const c = this.text[this.i++]!;
    if (c === "\\") return this.escape(true);
    const low = c.charCodeAt(0);
    if (this.peek() !== "-" || this.text[this.i + 1] === "]" || this.i + 1 >= this.end)
      return (x) => x === low;
    this.i++;
    let high = this.text[this.i++]!;
    if (high === "\\") {
      high = this.text[this.i++] ?? "";
      if (/[a-zA-Z0-9]/.test(high) || high === "")
        throw new PatternError("a class range ends in a character, not a class", this.i - 2);
    }
    const top = high.charCodeAt(0);
    if (top < low) throw new PatternError(`the class range ${c}-${high} is backwards`, this.i - 3);
    return (x) => x >= low && x <= top;
  }

  private charClass(at: number): CharTest {
    const negated = this.peek() === "^";
    if (negated) this.i++;
    const tests: CharTest[] = [];
    while (this.peek() !== "]") {
      if (this.peek() === undefined) throw new PatternError('unclosed "["', at);
      tests.push(this.classItem());
    }
    this.i++;
    const any: CharTest = (x) => tests.some((t) => t(x));
    return negated ? (x) => !any(x) : any;
  }
}

/** The automaton: states built back to front, each repetition written out (`{2,4}` is two copies and two optional). */
function compile(ast: Ast): { states: State[]; start: number } {
  const states: State[] = [{ kind: "match" }];
  const add = (s: State): number => {
    if (states.length >= MAX_PATTERN_STATES)
      throw new PatternError(
        `it needs more than ${MAX_PATTERN_STATES} states once its repetitions are written out; make it simpler`,
        0,
      );
    states.push(s);
    return states.length - 1;
  };
  const build = (node: Ast, next: number): number => {
    switch (node.t) {
      case "char":
        return add({ kind: "char", test: node.test, out: next });
      case "seq":
        return node.items.reduceRight((to, item) => build(item, to), next);
      case "alt":
        return add({ kind: "split", outs: node.options.map((o) => build(o, next)) });
      case "repeat": {
        let tail = next;
        if (node.max === null) {
          const loop = add({ kind: "split", outs: [] });
          (states[loop] as { outs: number[] }).outs = [build(node.node, loop), next];
          tail = loop;
        } else {
          for (let k = node.min; k < node.max; k++)
            tail = add({ kind: "split", outs: [build(node.node, tail), next] });
        }
        for (let k = 0; k < node.min; k++) tail = build(node.node, tail);
        return tail;
      }
    }
  };
  return { states, start: build(ast, 0) };
}

/** A matcher over the automaton: sets of states, each set's step on a character cached (at most 4096 sets). */
function matcher(states: State[], start: number): (tag: string) => boolean {
  const closure = (from: Iterable<number>): number[] => {
    const seen = new Set<number>();
    const stack = [...from];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      const state = states[s]!;
      if (state.kind === "split") stack.push(...state.outs);
    }
    return [...seen].filter((s) => states[s]!.kind !== "split").sort((a, b) => a - b);
  };
  const sets = new Map<string, { states: number[]; next: Map<number, string> }>();
  const intern = (set: number[]): string => {
    const key = set.join(",");
    if (!sets.has(key) && sets.size < 4096) sets.set(key, { states: set, next: new Map() });
    return key;
  };
  const step = (set: number[], code: number): number[] =>
    closure(
      set.flatMap((s) => {
        const state = states[s]!;
        return state.kind === "char" && state.test(code) ? [state.out] : [];
      }),
    );
  const first = closure([start]);
  return (tag) => {
    let current = first;
    let key = intern(current);
    for (let i = 0; i < tag.length && current.length > 0; i++) {
      const code = tag.charCodeAt(i);
      const cached = sets.get(key);
      const known = cached?.next.get(code);
      if (known !== undefined && sets.has(known)) {
        current = sets.get(known)!.states;
        key = known;
        continue;
      }
      current = step(current, code);
      const nextKey = intern(current);
      cached?.next.set(code, nextKey);
      key = nextKey;
    }
    return current.includes(0);
  };
}
