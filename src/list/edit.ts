/**
 * `ecr-mirror add`: one image or chart version added to a mirror list's text, in the right place and in the
 * list's style, every other byte kept (comments, alignment, quoting, blank lines). The YAML document gives the
 * nodes and their offsets; the new text is spliced in at those offsets rather than re-printed from the
 * document, which would re-flow aligned comments and long lines. Pure: text in, text or located problems out;
 * the result is checked with the list parser before it is returned.
 */
import {
  isMap,
  isScalar,
  isSeq,
  type Node,
  parseDocument,
  parse as parseYaml,
  type Scalar,
  type YAMLSeq,
} from "yaml";
import type { ImageReference, ListProblem, Location, MirrorList } from "./model.js";
import { parseMirrorList } from "./parse.js";
import { formatReference, parseReference, referenceName } from "./reference.js";
import { get, str } from "./yaml-nodes.js";

export type Addition =
  | { kind: "image"; reference: string }
  /** `name` null for an OCI chart (`oci://host/path/name`: the name is the last part). */
  | { kind: "chart"; source: string; name: string | null; version: string };

export type AddResult =
  | { ok: true; text: string; added: string; how: string; location: Location }
  /** `written: false`: the problems are in the list as it is; true: in the list as it would be after the edit. */
  | { ok: false; problems: ListProblem[]; afterEdit: boolean };

/** A place to splice text in, and what to say about it. */
interface Splice {
  offset: number;
  text: string;
  how: string;
}

export function addToList(text: string, file: string, addition: Addition): AddResult {
  const before = parseMirrorList(text, file);
  if (!before.list) return { ok: false, problems: before.problems, afterEdit: false };
  const duplicate = findDuplicate(before.list, addition, file);
  if (duplicate) return { ok: false, problems: [duplicate], afterEdit: false };
  const doc = parseDocument(text);
  const splice =
    addition.kind === "image"
      ? imageSplice(text, doc.get("images", true), addition.reference)
      : chartSplice(text, doc.get("charts", true), addition);
  // A list written with CRLF line ends keeps them.
  const insert = text.includes("\r\n") ? splice.text.replaceAll("\n", "\r\n") : splice.text;
  const edited = text.slice(0, splice.offset) + insert + text.slice(splice.offset);
  const after = parseMirrorList(edited, file);
  if (!after.list)
    return { ok: false, problems: after.problems.filter((p) => p.severity === "error"), afterEdit: true };
  const found = addedEntry(after.list, addition);
  if (!found) throw new Error(`ecr-mirror add: the edit did not add ${describe(addition)}`);
  return { ok: true, text: edited, added: describe(addition), how: splice.how, location: found };
}

function describe(a: Addition): string {
  if (a.kind === "image") {
    const parsed = parseReference(a.reference);
    return parsed.ok ? formatReference(parsed.value) : a.reference;
  }
  return `chart ${a.name ?? chartNameOf(a.source)} ${a.version} from ${a.source}`;
}

/** The name an OCI chart reference ends in. */
const chartNameOf = (source: string) => source.replace(/\/+$/, "").split("/").pop() ?? source;

/** A chart source as the list parser keeps it: HTTP URLs normalised without trailing slashes. */
function chartSource(raw: string): string {
  if (raw.startsWith("oci://")) return raw.replace(/\/+$/, "");
  try {
    return new URL(raw).toString().replace(/\/+$/, "");
  } catch {
    return raw;
  }
}

/** The entry the list already has for this addition, as a problem located there; null when it is new. */
function findDuplicate(list: MirrorList, a: Addition, file: string): ListProblem | null {
  const at = (location: Location, message: string): ListProblem => ({
    ...location,
    file,
    severity: "error",
    message,
    hint: "it is mirrored already; nothing was added",
  });
  if (a.kind === "chart") {
    const source = chartSource(a.source);
    const name = a.name ?? chartNameOf(source);
    const same = list.charts.find((c) => c.source === source && c.name === name && c.version === a.version);
    return same ? at(same.location, `chart ${name} ${a.version} is already in the list`) : null;
  }
  const parsed = parseReference(a.reference);
  if (!parsed.ok) return null; // the parser words it, located where the entry would go
  const ref = parsed.value;
  // A tag is in the list when any entry names it (pinned or not); a digest-only reference when that digest is.
  const same = list.images.find(
    (i) =>
      referenceName(i.reference) === referenceName(ref) &&
      (ref.tag === null
        ? i.reference.tag === null && i.reference.digest === ref.digest
        : i.reference.tag === ref.tag && (ref.digest === null || i.reference.digest === ref.digest)),
  );
  return same ? at(same.location, `${a.reference} is already in the list as ${same.source}`) : null;
}

/** Where the edited list has the addition: the location of its entry, or null when the edit missed. */
function addedEntry(list: MirrorList, a: Addition): Location | null {
  if (a.kind === "chart") {
    const source = chartSource(a.source);
    const name = a.name ?? chartNameOf(source);
    return (
      list.charts.find((c) => c.source === source && c.name === name && c.version === a.version)?.location ??
      null
    );
  }
  const parsed = parseReference(a.reference);
  if (!parsed.ok) return null;
  const wanted = formatReference(parsed.value);
  return list.images.find((i) => i.source === wanted)?.location ?? null;
}

/** The repository name an `images:` item names (`docker.io/library/redis`), or null. */
function imageNameOf(item: unknown): string | null {
  const source = str(isMap(item) ? get(item, "source") : item);
  if (source === undefined) return null;
  const parsed = parseReference(source);
  return parsed.ok ? referenceName(parsed.value) : null;
}

function imageSplice(text: string, images: unknown, reference: string): Splice {
  const parsed = parseReference(reference);
  if (!isSeq(images)) return newSection(text, "images", [scalarLike(reference, "PLAIN")]);
  const items = images.items as Node[];
  if (!parsed.ok) return { ...insertItem(text, images, items.at(-1), [JSON.stringify(reference)]), how: "" };
  const ref = parsed.value;
  const name = referenceName(ref);
  const same = items.filter((i) => imageNameOf(i) === name);
  for (const item of same) {
    const into = intoMapping(text, item, ref);
    if (into) return { ...into, how: `${into.how} of the entry for ${name}` };
  }
  const allMappings = items.length > 0 && items.every((i) => isMap(i));
  const oneKind = (ref.tag === null) !== (ref.digest === null);
  const entry: string[] =
    allMappings && same.length === 0 && oneKind
      ? [
          `source: ${scalarLike(name, "PLAIN")}`,
          ref.tag !== null
            ? `tags: [${JSON.stringify(ref.tag)}]`
            : `digests: [${JSON.stringify(ref.digest)}]`,
        ]
      : [scalarLike(reference, sameStyle(items))];
  const how =
    same.length > 0 ? `a new entry after the entries for ${name}` : "a new entry at the end of images";
  return { ...insertItem(text, images, same.at(-1) ?? items.at(-1), entry), how };
}

/**
 * A `source:` mapping without a tag of its own takes a tag into its `tags:` (a digest into its `digests:`)
 * when it has that list; null otherwise (a pinned tag, `tag@digest`, gets an entry of its own).
 */
function intoMapping(text: string, item: Node, ref: ImageReference): Splice | null {
  if (!isMap(item)) return null;
  const source = parseReference(str(get(item, "source")) ?? "");
  if (!source.ok || source.value.tag !== null || source.value.digest !== null) return null;
  if ((ref.tag === null) === (ref.digest === null)) return null;
  const key = ref.tag !== null ? "tags" : "digests";
  const list = get(item, key);
  if (!isSeq(list)) return null;
  const value = (ref.tag ?? ref.digest)!;
  return { ...appendItem(text, list, scalarLike(value, lastScalar(list))), how: `appended to the ${key}` };
}

function chartSplice(text: string, charts: unknown, a: Extract<Addition, { kind: "chart" }>): Splice {
  const source = chartSource(a.source);
  const name = a.name ?? chartNameOf(source);
  const entry = [
    `source: ${scalarLike(a.source, "PLAIN")}`,
    ...(a.name !== null && !a.source.startsWith("oci://") ? [`name: ${scalarLike(a.name, "PLAIN")}`] : []),
    `versions: [${JSON.stringify(a.version)}]`,
  ];
  if (!isSeq(charts)) return newSection(text, "charts", entry);
  const items = charts.items as Node[];
  const same = items.filter((i) => {
    const raw = str(get(i, "source"));
    return (
      raw !== undefined &&
      chartSource(raw) === source &&
      (str(get(i, "name")) ?? chartNameOf(source)) === name
    );
  });
  const withVersions = same.find((i) => isSeq(get(i, "versions")));
  if (withVersions) {
    const versions = get(withVersions, "versions") as YAMLSeq;
    return {
      ...appendItem(text, versions, scalarLike(a.version, lastScalar(versions) ?? "QUOTE_DOUBLE")),
      how: `appended to the versions of the entry for ${name}`,
    };
  }
  return {
    ...insertItem(text, charts, same.at(-1) ?? items.at(-1), entry),
    how: same.length > 0 ? `a new entry after the entries for ${name}` : "a new entry at the end of charts",
  };
}

/** The last offset of a node's content: its last scalar, or a flow collection's closing bracket. */
function contentEnd(node: Node): number {
  if (isMap(node) && !node.flow && node.items.length > 0) {
    const last = node.items.at(-1)!;
    return contentEnd((last.value ?? last.key) as Node);
  }
  if (isSeq(node) && !node.flow && node.items.length > 0) return contentEnd(node.items.at(-1) as Node);
  return node.range![1];
}

/** The offset just after the line that holds `offset - 1` (after its comment, if any). */
function afterLine(text: string, offset: number): number {
  const newline = text.indexOf("\n", Math.max(0, offset - 1));
  return newline === -1 ? text.length : newline + 1;
}

/** Text from the start of the line to `offset`: the `  - ` an item is written after. */
function linePrefix(text: string, offset: number): string {
  return text.slice(text.lastIndexOf("\n", offset - 1) + 1, offset);
}

/** A new item of `seq` after `after` (block: its own lines, indented as its siblings; flow: `, item`). */
function insertItem(
  text: string,
  seq: YAMLSeq,
  after: Node | undefined,
  lines: string[],
): Omit<Splice, "how"> {
  if (seq.flow || !after) {
    const inline = lines.length === 1 ? lines[0]! : `{ ${lines.join(", ")} }`;
    return flowAppend(text, seq, inline);
  }
  const start = after.range![0];
  const prefix = linePrefix(text, start);
  const dash = /^\s*-\s+$/.test(prefix) ? prefix : `${" ".repeat(Math.max(0, column(text, start) - 2))}- `;
  const pad = " ".repeat(dash.length);
  const offset = afterLine(text, contentEnd(after));
  const lead = offset === text.length && !text.endsWith("\n") ? "\n" : "";
  return { offset, text: `${lead}${dash}${lines.join(`\n${pad}`)}\n` };
}

/** A scalar added to a list of scalars (a `tags:` or `versions:` list), block or flow. */
function appendItem(text: string, seq: YAMLSeq, scalar: string): Omit<Splice, "how"> {
  return insertItem(text, seq, seq.items.at(-1) as Node | undefined, [scalar]);
}

/** `, item` after a flow sequence's last item, or the first item between its brackets. */
function flowAppend(text: string, seq: YAMLSeq, item: string): Omit<Splice, "how"> {
  const last = seq.items.at(-1) as Node | undefined;
  if (last) return { offset: last.range![1], text: `, ${item}` };
  const open = text.indexOf("[", seq.range![0]);
  return { offset: open + 1, text: item };
}

function column(text: string, offset: number): number {
  return offset - (text.lastIndexOf("\n", offset - 1) + 1);
}

/** A section the list does not have yet, at its end: `images:` or `charts:` with one entry. */
function newSection(text: string, key: string, lines: string[]): Splice {
  const lead = text.length === 0 || text.endsWith("\n") ? "" : "\n";
  return {
    offset: text.length,
    text: `${lead}\n${key}:\n  - ${lines.join("\n    ")}\n`,
    how: `a new ${key}: section at the end of the list`,
  };
}

function lastScalar(seq: YAMLSeq): Scalar.Type | undefined {
  const last = seq.items.at(-1);
  return isScalar(last) ? last.type : undefined;
}

/** The scalar style most string items of a sequence use (plain when there are none). */
function sameStyle(items: Node[]): Scalar.Type {
  const styles = items.filter(isScalar).map((s) => s.type);
  return styles.at(-1) ?? "PLAIN";
}

/** `value` written as a sibling written in `style` is, plain only where YAML reads it back as that string. */
function scalarLike(value: string, style: Scalar.Type | undefined): string {
  if (style === "QUOTE_SINGLE") return `'${value.replaceAll("'", "''")}'`;
  if (style === "PLAIN" && !/[,[\]{}]/.test(value) && parseYaml(value) === value) return value;
  return JSON.stringify(value);
}
