/**
 * Image tag ranges, the pure part: which of an upstream's tags a range selects, the tags it expands to as list
 * entries, and the lock file that keeps a resolution (`image-ranges.lock.json`, written with the node
 * configuration in the render folder) so that later plans take the same tags without asking the upstream. The
 * listing itself is src/observe/tag-ranges.ts.
 */
import type { ImageEntry, ImageRange } from "./model.js";
import { formatReference, isValidTag } from "./reference.js";
import { compareVersions, parseConstraint, parseVersion, satisfies, type Version } from "./semver.js";
import { parseTagPattern } from "./tag-pattern.js";

/** The lock file's name in the render folder. */
export const RANGES_LOCK_FILE = "image-ranges.lock.json";
/** Bumped when the format changes: a lock of another version is ignored (every range is resolved again). */
export const RANGES_LOCK_VERSION = 1;
/** The most tags one locked range may hold (a lock is read from a pull request's files too). */
export const MAX_LOCKED_TAGS = 10_000;

/** One range's resolution: the range as written and the tags it selected, highest first. */
export interface RangesLockEntry {
  source: string;
  versionRange: string | null;
  pattern: string | null;
  newest: number | null;
  tags: string[];
}

export interface RangesLock {
  version: typeof RANGES_LOCK_VERSION;
  /** Sorted by source, then by the range. */
  ranges: RangesLockEntry[];
}

/** What one range expanded to in a plan, and whether the lock or the upstream said so. */
export interface RangeExpansion {
  source: string;
  /** The range in words: `versionRange ">=1.0.0 <2.0.0", newest 2`. */
  range: string;
  tags: string[];
  from: "lock" | "upstream";
  line: number;
}

/** The range in words, as plans and expanded entries name it. */
export function describeRange(range: Pick<ImageRange, "versionRange" | "pattern" | "newest">): string {
  return [
    range.versionRange !== null ? `versionRange "${range.versionRange}"` : null,
    range.pattern !== null ? `pattern "${range.pattern}"` : null,
    range.newest !== null ? `newest ${range.newest}` : null,
  ]
    .filter((p) => p !== null)
    .join(", ");
}

/** What a lock entry is keyed by: the source and the range as written. */
export function rangeKey(
  range: Pick<RangesLockEntry, "source" | "versionRange" | "pattern" | "newest">,
): string {
  return JSON.stringify([range.source, range.versionRange, range.pattern, range.newest]);
}

/** Whether a tag is in the range (before `newest`): it matches the pattern, and is a version in the versionRange. */
function matcherOf(
  range: Pick<ImageRange, "versionRange" | "pattern" | "newest">,
): (tag: string) => Version | "match" | null {
  const pattern = range.pattern !== null ? parseTagPattern(range.pattern) : null;
  // `newest` alone: the highest release versions (a range of every release, `*`).
  const text = range.versionRange ?? (range.pattern === null ? "*" : null);
  const constraint = text !== null ? parseConstraint(text) : null;
  return (tag) => {
    if (!isValidTag(tag)) return null;
    if (pattern && (!pattern.ok || !pattern.pattern.matches(tag))) return null;
    const version = parseVersion(tag);
    if (constraint === null) return version ?? "match";
    if (!constraint.ok || version === null) return null;
    return satisfies(version, constraint.value) ? version : null;
  };
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Versions highest first (equal ones by name), then tags that read as no version, by name from the end. */
function highestFirst(
  a: { tag: string; version: Version | null },
  b: { tag: string; version: Version | null },
) {
  if (a.version && b.version) return compareVersions(b.version, a.version) || byName(a.tag, b.tag);
  if (a.version) return -1;
  if (b.version) return 1;
  return byName(b.tag, a.tag);
}

/**
 * The tags a range selects from `tags`, highest first: versions in SemVer order (a tag that reads as no version,
 * matched by a pattern alone, after them, by name), at most `newest` of them.
 */
export function selectTags(
  range: Pick<ImageRange, "versionRange" | "pattern" | "newest">,
  tags: readonly string[],
): string[] {
  const inRange = matcherOf(range);
  const matched: { tag: string; version: Version | null }[] = [];
  for (const tag of new Set(tags)) {
    const m = inRange(tag);
    if (m !== null) matched.push({ tag, version: m === "match" ? null : m });
  }
  matched.sort(highestFirst);
  const selected = matched.map((m) => m.tag);
  return range.newest === null ? selected : selected.slice(0, range.newest);
}

/** The entries a range expands to: one per tag, on the range's line, named after the range. */
export function rangeEntries(range: ImageRange, tags: readonly string[]): ImageEntry[] {
  const resolvedFrom = describeRange(range);
  return tags.map((tag) => {
    const reference = { ...range.reference, tag, digest: null };
    return {
      source: formatReference(reference),
      reference,
      repository: range.repository,
      platforms: range.platforms,
      ...(range.platformLocations ? { platformLocations: range.platformLocations } : {}),
      location: range.location,
      resolvedFrom,
    };
  });
}

/** The locked tags of `range`, or null when the lock has none for it as written. Tags out of the range are dropped. */
export function lockedTags(lock: RangesLock | null, range: ImageRange): string[] | null {
  const key = rangeKey(range);
  const entry = lock?.ranges.find((r) => rangeKey(r) === key);
  if (!entry) return null;
  // A lock is a file in the repository: what it says is held to the range (and its order) once more.
  return selectTags(range, entry.tags);
}

/** The lock for a set of resolutions, sorted: the same resolutions always give the same text. */
export function rangesLock(entries: readonly RangesLockEntry[]): RangesLock {
  const unique = new Map(entries.map((e) => [rangeKey(e), e]));
  const ranges = [...unique.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, e]) => ({ ...e, tags: [...e.tags] }));
  return { version: RANGES_LOCK_VERSION, ranges };
}

export function formatRangesLock(lock: RangesLock): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

export type RangesLockResult = { ok: true; lock: RangesLock } | { ok: false; error: string };

const nullableString = (v: unknown) => v === null || typeof v === "string";

/** Reads a lock file's text; anything that is not a lock of this version is an error (the caller then ignores it). */
export function parseRangesLock(text: string): RangesLockResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON (${(e as Error).message})` };
  }
  const d = doc as { version?: unknown; ranges?: unknown };
  if (
    typeof doc !== "object" ||
    doc === null ||
    d.version !== RANGES_LOCK_VERSION ||
    !Array.isArray(d.ranges)
  )
    return {
      ok: false,
      error: `not a version ${RANGES_LOCK_VERSION} lock ({"version": 1, "ranges": [...]})`,
    };
  const ranges: RangesLockEntry[] = [];
  for (const [i, raw] of (d.ranges as unknown[]).entries()) {
    const r = raw as Partial<Record<keyof RangesLockEntry, unknown>>;
    const fine =
      typeof r === "object" &&
      r !== null &&
      typeof r.source === "string" &&
      nullableString(r.versionRange) &&
      nullableString(r.pattern) &&
      (r.newest === null || (Number.isInteger(r.newest) && (r.newest as number) > 0)) &&
      Array.isArray(r.tags) &&
      r.tags.length <= MAX_LOCKED_TAGS &&
      r.tags.every((t) => typeof t === "string" && isValidTag(t));
    if (!fine)
      return {
        ok: false,
        error: `ranges[${i}] is not a range with source, versionRange, pattern, newest and valid tags`,
      };
    ranges.push(r as RangesLockEntry);
  }
  return { ok: true, lock: { version: RANGES_LOCK_VERSION, ranges } };
}
