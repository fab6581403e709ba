/**
 * The mirror-list lines that add the images an audit found missing, in the list's own grammar: one plain
 * reference a line (`- nginx:1.27`, `- quay.io/org/app@sha256:…`, `- app:1.2@sha256:…`), or, for a source with
 * several tags or digests, one `source:` entry with `tags:` and `digests:`. References are written as Docker
 * prints them (`redis:7.0` for `docker.io/library/redis:7.0`), tags quoted (an unquoted `1.10` is a number in
 * YAML). And where they go: after the last entry of `images:`, at its indentation. Pure.
 */
import { isSeq, parseDocument } from "yaml";
import type { ImageReference } from "../list/model.js";
import { familiarReference, parseReference } from "../list/reference.js";
import type { MissingImage } from "./audit.js";

/** Where the lines go: after line `afterLine` (1-based; 0 before the first line), each already indented. */
export interface Additions {
  lines: string[];
  afterLine: number;
  /** The lines include an `images:` key, because the list has no block sequence under one. */
  withKey: boolean;
}

/** The lines for the images that can land in the target (those with a `problem` need an upstream prefix first). */
export function additionsFor(missing: readonly MissingImage[], listText: string): Additions {
  const place = insertionPoint(listText);
  const pad = " ".repeat(place.indent);
  const lines: string[] = [];
  for (const m of missing) {
    if (m.problem) continue;
    for (const entry of entriesFor(m))
      lines.push(...entry.map((l, i) => `${pad}${i === 0 ? "- " : "  "}${l}`));
  }
  if (lines.length === 0) return { lines, afterLine: place.afterLine, withKey: false };
  return place.withKey
    ? { lines: ["images:", ...lines], afterLine: place.afterLine, withKey: true }
    : { lines, afterLine: place.afterLine, withKey: false };
}

/**
 * One repository's entries: a tag pinned to a digest stays one `name:tag@digest` line; the other tags and
 * digests make one plain line when there is one, else one `source:` entry. A tag a pod names both unpinned and
 * pinned is written pinned (both pods then get that digest); a second digest for a pinned tag goes to `digests:`.
 */
function entriesFor(m: MissingImage): string[][] {
  const refs = m.references
    .map((r) => parseReference(r))
    .filter((r) => r.ok)
    .map((r) => r.value);
  const pinned = new Map<string, string>();
  const tags = new Set<string>();
  const digests = new Set<string>();
  for (const r of refs) {
    if (r.tag !== null && r.digest !== null && !pinned.has(r.tag)) pinned.set(r.tag, r.digest);
    else if (r.digest !== null) digests.add(r.digest);
    else if (r.tag !== null) tags.add(r.tag);
  }
  for (const [tag, digest] of pinned) {
    tags.delete(tag);
    digests.delete(digest);
  }
  const base = refs[0]!;
  const spell = (tag: string | null, digest: string | null) =>
    familiarReference({ ...base, tag, digest } satisfies ImageReference);
  const out: string[][] = [...pinned].map(([tag, digest]) => [spell(tag, digest)]);
  const sortedTags = [...tags].sort();
  const sortedDigests = [...digests].sort();
  if (sortedTags.length + sortedDigests.length === 1)
    out.push([spell(sortedTags[0] ?? null, sortedDigests[0] ?? null)]);
  else if (sortedTags.length + sortedDigests.length > 1) {
    const entry = [`source: ${spell(null, null)}`];
    if (sortedTags.length > 0) entry.push(`tags: [${sortedTags.map((t) => JSON.stringify(t)).join(", ")}]`);
    if (sortedDigests.length > 0)
      entry.push(`digests: [${sortedDigests.map((d) => JSON.stringify(d)).join(", ")}]`);
    out.push(entry);
  }
  return out;
}

/** After the last entry of the block sequence under `images:`, at its indentation; else a new key at the end. */
function insertionPoint(text: string): { afterLine: number; indent: number; withKey: boolean } {
  const images = parseDocument(text).get("images", true);
  if (isSeq(images) && !images.flow && images.items.length > 0 && images.range) {
    let end = images.range[1];
    while (end > 0 && /\s/.test(text[end - 1]!)) end--;
    const start = images.range[0];
    const lineStart = text.lastIndexOf("\n", start - 1) + 1;
    return { afterLine: lineOf(text, end), indent: start - lineStart, withKey: false };
  }
  let end = text.length;
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  return { afterLine: end === 0 ? 0 : lineOf(text, end), indent: 2, withKey: true };
}

/** The 1-based line holding the character before `offset`. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset - 1; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/** `text` with the additions inserted where they go (what a person does by hand with the report). */
export function applyAdditions(text: string, additions: Additions): string {
  const lines = text.split("\n");
  lines.splice(additions.afterLine, 0, ...additions.lines);
  return lines.join("\n");
}
