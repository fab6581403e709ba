/**
 * Checks a parsed YAML document against the mirror-list schema (./schema.ts), reporting every
 * problem with the offset of the node it concerns. Interprets only the schema subset that
 * schema.ts documents; a test holds it in agreement with a full JSON-Schema validator.
 */
import { isMap, isPair, isScalar, isSeq, type Node, type Pair } from "yaml";
import { quoteValue } from "./quote.js";

export interface StructureProblem {
  offset: number;
  message: string;
  hint?: string;
}

// The schema is a plain JSON value; this is the shape of the subset we read from it.
export interface SchemaNode {
  type?: string | readonly string[];
  enum?: readonly unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  minItems?: number;
  uniqueItems?: boolean;
  items?: SchemaNode;
  oneOf?: readonly SchemaNode[];
  properties?: Readonly<Record<string, SchemaNode>>;
  additionalProperties?: boolean | SchemaNode;
  required?: readonly string[];
  description?: string;
}

type NodeType = "object" | "array" | "string" | "number" | "boolean" | "null";

function nodeType(node: unknown): NodeType {
  if (isMap(node)) return "object";
  if (isSeq(node)) return "array";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || v === undefined) return "null";
    if (typeof v === "string") return "string";
    if (typeof v === "number" || typeof v === "bigint") return "number";
    if (typeof v === "boolean") return "boolean";
  }
  return "null";
}

const typeWords: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  integer: "a whole number",
  boolean: "true or false",
  null: "nothing",
};

function describeFound(node: unknown): string {
  const t = nodeType(node);
  if (t === "string") {
    return quoteValue((node as { value: string }).value);
  }
  if (isScalar(node) && t !== "null") return `${typeWords[t]} (${String(node.value)})`;
  return typeWords[t] ?? t;
}

function offsetOf(node: unknown, fallback: number): number {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : fallback;
}

/** Edit distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * The candidate nearest to `word` (edit distance, case ignored), or null when none is near. At equal
 * distance the one that starts like `word` wins: `IMUTABLE` is IMMUTABLE, not MUTABLE, the opposite setting.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  let bestPrefix = -1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    const prefix = commonPrefix(w, c.toLowerCase());
    if (d < bestDistance || (d === bestDistance && prefix > bestPrefix))
      [best, bestDistance, bestPrefix] = [c, d, prefix];
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function typeMatches(expected: string | readonly string[], actual: NodeType, node: unknown): boolean {
  const list = typeof expected === "string" ? [expected] : expected;
  return list.some(
    (t) =>
      t === actual ||
      (t === "integer" && actual === "number" && Number.isInteger((node as { value: number }).value)),
  );
}

function joinPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function where(path: string): string {
  return path ? ` in ${path}` : "";
}

export function validateStructure(root: unknown, schema: SchemaNode, rootOffset = 0): StructureProblem[] {
  const problems: StructureProblem[] = [];
  visit({ problems }, root, schema, "", rootOffset);
  return problems;
}

interface Walk {
  problems: StructureProblem[];
}

/** One node against its schema: its type (or oneOf branch), then the checks of its kind, then its children. */
function visit(walk: Walk, node: unknown, s: SchemaNode, path: string, fallback: number): void {
  const at = offsetOf(node, fallback);
  const actual = nodeType(node);
  if (s.oneOf) {
    const branch = oneOfBranch(walk, node, s.oneOf, path, at);
    if (branch) visit(walk, node, branch, path, fallback);
    return;
  }
  if (!checkType(walk, node, s, actual, path, at)) return;
  if (s.enum) {
    checkEnum(walk, node, s.enum, path, at);
    return;
  }
  if (actual === "number") checkMinimum(walk, node, s, path, at);
  if (actual === "string") checkString(walk, node, s, path, at);
  if (isSeq(node)) checkList(walk, node.items, s, path, at);
  if (isMap(node)) checkMapping(walk, node.items as Pair[], s, path, at);
}

/** The branch whose type the node has (schema.ts discriminates oneOf by type), else reported. */
function oneOfBranch(
  walk: Walk,
  node: unknown,
  branches: readonly SchemaNode[],
  path: string,
  at: number,
): SchemaNode | undefined {
  const actual = nodeType(node);
  const branch = branches.find((b) => b.type !== undefined && typeMatches(b.type, actual, node));
  if (!branch) {
    const expected = branches.map((b) => typeWords[String(b.type)] ?? String(b.type)).join(" or ");
    walk.problems.push({
      offset: at,
      message: `${path || "value"}: expected ${expected}, found ${describeFound(node)}`,
    });
  }
  return branch;
}

/** True when the node has the schema's type (or the schema names none). */
function checkType(
  walk: Walk,
  node: unknown,
  s: SchemaNode,
  actual: NodeType,
  path: string,
  at: number,
): boolean {
  if (s.type === undefined || typeMatches(s.type, actual, node)) return true;
  const expected = (typeof s.type === "string" ? [s.type] : s.type)
    .map((t) => typeWords[t] ?? t)
    .join(" or ");
  const hint =
    s.type === "string" && (actual === "number" || actual === "boolean")
      ? 'quote the value so YAML keeps it as text, e.g. "0123"'
      : undefined;
  walk.problems.push({
    offset: at,
    message: `${path || "the file"}: expected ${expected}, found ${describeFound(node)}`,
    ...(hint ? { hint } : {}),
  });
  return false;
}

function checkEnum(walk: Walk, node: unknown, allowed: readonly unknown[], path: string, at: number): void {
  const value = isScalar(node) ? node.value : undefined;
  if (allowed.includes(value as never)) return;
  const options = allowed.map((e) => String(e));
  const suggestion = typeof value === "string" ? closest(value, options) : null;
  walk.problems.push({
    offset: at,
    message: `${path}: ${describeFound(node)} is not allowed; expected one of ${options.join(", ")}`,
    ...(suggestion ? { hint: `did you mean ${suggestion}?` } : {}),
  });
}

function checkMinimum(walk: Walk, node: unknown, s: SchemaNode, path: string, at: number): void {
  if (!isScalar(node) || s.minimum === undefined || Number(node.value) >= s.minimum) return;
  walk.problems.push({
    offset: at,
    message: `${path}: must be at least ${s.minimum}, found ${String(node.value)}`,
  });
}

/** minLength, then maxLength, then pattern: the first that fails is reported. */
function checkString(walk: Walk, node: unknown, s: SchemaNode, path: string, at: number): void {
  if (!isScalar(node)) return;
  const value = String(node.value);
  if (s.minLength !== undefined && value.length < s.minLength) {
    walk.problems.push({ offset: at, message: `${path}: must not be empty` });
  } else if (s.maxLength !== undefined && value.length > s.maxLength) {
    walk.problems.push({ offset: at, message: `${path}: longer than ${s.maxLength} characters` });
  } else if (s.pattern !== undefined && !new RegExp(s.pattern).test(value)) {
    walk.problems.push({
      offset: at,
      message: `${path}: ${quoteValue(value)} is not valid`,
      ...(s.description ? { hint: s.description } : {}),
    });
  }
}

function checkList(walk: Walk, items: unknown[], s: SchemaNode, path: string, at: number): void {
  if (s.minItems !== undefined && items.length < s.minItems) {
    walk.problems.push({ offset: at, message: `${path}: the list must not be empty` });
  }
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (s.uniqueItems) checkUnique(walk, item, seen, joinPath(path, i), at);
    if (s.items) visit(walk, item, s.items, joinPath(path, i), at);
  });
}

/** A scalar listed before in the same list (`seen` holds the ones so far). */
function checkUnique(walk: Walk, item: unknown, seen: Set<string>, path: string, at: number): void {
  if (!isScalar(item)) return;
  const key = JSON.stringify(item.value);
  if (seen.has(key)) {
    walk.problems.push({
      offset: offsetOf(item, at),
      message: `${path}: ${describeFound(item)} is listed twice`,
      hint: "remove the duplicate",
    });
  }
  seen.add(key);
}

function checkMapping(walk: Walk, pairs: Pair[], s: SchemaNode, path: string, at: number): void {
  const present = new Set<string>();
  for (const pair of pairs) {
    if (!isPair(pair)) continue;
    const key = checkKey(walk, pair, s, path, at);
    if (key !== null) present.add(key);
  }
  for (const key of s.required ?? []) {
    if (!present.has(key)) {
      walk.problems.push({ offset: at, message: `${path || "the file"}: missing required key "${key}"` });
    }
  }
}

/** One key and its value: a plain string the schema knows (or allows), visited; returns the key, or null. */
function checkKey(walk: Walk, pair: Pair, s: SchemaNode, path: string, at: number): string | null {
  const keyNode = pair.key;
  const keyAt = offsetOf(keyNode, at);
  if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
    walk.problems.push({ offset: keyAt, message: `${path || "the file"}: keys must be plain strings` });
    return null;
  }
  const key = keyNode.value;
  const childSchema = propertySchema(s, key);
  if (childSchema) {
    visit(walk, pair.value, childSchema, joinPath(path, key), keyAt);
  } else if (s.additionalProperties === false) {
    const props = Object.keys(s.properties ?? {});
    const suggestion = closest(key, props);
    walk.problems.push({
      offset: keyAt,
      message: `unknown key ${quoteValue(key)}${where(path)}`,
      hint: suggestion ? `did you mean "${suggestion}"?` : `allowed keys: ${props.join(", ")}`,
    });
  }
  return key;
}

/** The schema of a key: its own property (own only: `__proto__`, `constructor` or `toString` are no key of the
 * schema), else additionalProperties when that is a schema. */
function propertySchema(s: SchemaNode, key: string): SchemaNode | undefined {
  const props = s.properties ?? {};
  if (Object.hasOwn(props, key)) return props[key];
  return typeof s.additionalProperties === "object" ? s.additionalProperties : undefined;
}
