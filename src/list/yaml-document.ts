/**
 * The YAML layer: the text read into one document, the yaml library's errors and warnings turned into located
 * problems with hints, and what the rest of the parser would misread (aliases, tags, deep nesting) refused.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isSeq,
  LineCounter,
  type Node,
  Parser,
  parseAllDocuments,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import { MAX_DEPTH, MAX_REPEATED, TOO_DEEP_HINT } from "./limits.js";
import { Problems } from "./problems.js";
import { shown as q } from "./quote.js";

type YamlError = Document.Parsed["errors"][number];
type YamlWarning = Document.Parsed["warnings"][number];

/** YAML 1.2's core tags: `!!str 0123` keeps a value as text; every other tag (`!!binary`, `!!js/function`) is refused. */
const CORE_TAGS = new Set(
  ["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`),
);
const TAG_HINT =
  "remove the tag: a mirror list uses plain YAML values (!!str is allowed, to keep a value as text)";

/** The first document's root node (null when there is none), and the problems of the YAML layer. */
export function readYaml(text: string, file: string): { root: unknown; problems: Problems } {
  const lines = new LineCounter();
  const problems = new Problems(file, lines);
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const all = Array.isArray(docs) ? docs : [];
  const state = { tooDeep: false };
  for (const doc of all) {
    for (const e of doc.errors) reportError(e, text, problems, state);
    for (const w of doc.warnings) reportWarning(w, problems);
    if (!state.tooDeep) checkNodes(doc.contents, problems);
  }
  if (all.length > 1) {
    problems.error(
      problems.locate(all[1]?.contents, all[1]?.range[0] ?? 0),
      "the file holds more than one YAML document",
      "keep one list per file: remove the second '---'",
    );
  }
  return { root: all[0]?.contents ?? null, problems };
}

/** `state.tooDeep`: the library ran out of stack once already (reported once; the node walk is skipped). */
function reportError(e: YamlError, text: string, problems: Problems, state: { tooDeep: boolean }): void {
  if (/Maximum call stack size exceeded/.test(e.message)) {
    if (!state.tooDeep)
      problems.error(
        problems.at(e.pos[0]),
        `the mirror list is nested too deeply (${MAX_DEPTH} levels at most)`,
        TOO_DEEP_HINT,
      );
    state.tooDeep = true;
    return;
  }
  const quote = /^Missing closing (["'])quote/.exec(e.message)?.[1];
  const opened = quote ? unclosedQuoteOffset(text, quote, e.pos[0]) : null;
  if (opened !== null) {
    problems.error(
      problems.at(opened),
      `this ${quote === '"' ? "double" : "single"} quote is never closed`,
      `close it on the same line: ${quote}value${quote}`,
    );
    return;
  }
  problems.error(problems.at(e.pos[0]), yamlMessage(e.message), yamlHint(e.code));
}

/** A core tag that does not fit its value (`!!int x`) is an error; any other tag is reported by checkNodes. */
function reportWarning(w: YamlWarning, problems: Problems): void {
  const tag = /^Unresolved tag: (\S+)/.exec(w.message)?.[1];
  if (w.code !== "TAG_RESOLVE_FAILED" || tag === undefined) {
    problems.warn(problems.at(w.pos[0]), yamlMessage(w.message));
    return;
  }
  if (CORE_TAGS.has(tag)) problems.error(problems.at(w.pos[0]), yamlMessage(w.message), TAG_HINT);
}

/**
 * Where an unclosed quote opens. The yaml library reports it at the end of the file (the quoted scalar runs on
 * to there); the scalar's own token starts at the quote.
 */
function unclosedQuoteOffset(text: string, quote: string, before: number): number | null {
  const type = quote === '"' ? "double-quoted-scalar" : "single-quoted-scalar";
  let found: number | null = null;
  const stack: unknown[] = [...new Parser().parse(text)];
  while (stack.length > 0) {
    const token = stack.pop();
    if (token === null || typeof token !== "object") continue;
    const offset = quoteTokenOffset(token, type, before);
    if (offset !== null) found = Math.max(found ?? offset, offset);
    for (const v of Object.values(token)) stack.push(v);
  }
  return found;
}

/** The offset of a token of `type` that starts at or before `before`, else null. */
function quoteTokenOffset(token: object, type: string, before: number): number | null {
  const t = token as { type?: unknown; offset?: unknown };
  return t.type === type && typeof t.offset === "number" && t.offset <= before ? t.offset : null;
}

/**
 * Refuses what the rest of the parser would misread: aliases (`*name`, which would be read as nothing, or
 * expanded into a bomb) and nesting deeper than MAX_DEPTH. Walks without recursion.
 */
function checkNodes(root: unknown, problems: Problems): void {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  const aliases: Node[] = [];
  const tagged: Node[] = [];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (!collect(node, aliases, tagged)) continue;
    if (depth >= MAX_DEPTH) {
      problems.error(
        problems.locate(node),
        `the mirror list is nested too deeply here (${MAX_DEPTH} levels at most)`,
        TOO_DEEP_HINT,
      );
      return;
    }
    pushChildren(node.items as unknown[], depth + 1, stack);
  }
  reportRepeated(
    problems,
    aliases,
    (n) =>
      `YAML aliases (${q(`*${(n as unknown as { source: string }).source}`)}) are not supported in a mirror list`,
    "write the value out in full where it is used",
  );
  reportRepeated(
    problems,
    tagged,
    (n) =>
      `the YAML tag ${q((n as { tag?: string }).tag!.replace(/^tag:yaml\.org,2002:/, "!!"))} is not supported`,
    TAG_HINT,
  );
}

/** Notes the node's tag (when not a core one) and alias; true when it is a mapping or list to descend into. */
function collect(node: unknown, aliases: Node[], tagged: Node[]): node is YAMLMap | YAMLSeq {
  const tag = (node as { tag?: string } | null)?.tag;
  if (tag !== undefined && !CORE_TAGS.has(tag)) tagged.push(node as Node);
  if (isAlias(node)) {
    aliases.push(node);
    return false;
  }
  return isMap(node) || isSeq(node);
}

function pushChildren(items: unknown[], depth: number, stack: { node: unknown; depth: number }[]): void {
  for (const item of items) {
    if (isPair(item)) {
      stack.push({ node: item.value, depth });
      stack.push({ node: item.key, depth });
    } else stack.push({ node: item, depth });
  }
}

/** Nodes of one kind in file order, MAX_REPEATED one by one and the rest in one line. */
function reportRepeated(problems: Problems, nodes: Node[], what: (n: Node) => string, hint: string): void {
  nodes.sort((a, b) => (a.range?.[0] ?? 0) - (b.range?.[0] ?? 0));
  for (const n of nodes.slice(0, MAX_REPEATED)) problems.error(problems.locate(n), what(n), hint);
  if (nodes.length > MAX_REPEATED)
    problems.error(
      problems.locate(nodes[MAX_REPEATED]),
      `and ${nodes.length - MAX_REPEATED} more like it`,
      hint,
    );
}

function yamlMessage(message: string): string {
  // The yaml library appends " at line L, column C" and a code frame; we print the location ourselves.
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case "DUPLICATE_KEY":
      return "each key may appear once in a mapping; merge the two entries";
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    case "BAD_INDENT":
    case "MISSING_CHAR":
      return "check the indentation: list items under a key are indented by the same amount";
    default:
      return undefined;
  }
}
