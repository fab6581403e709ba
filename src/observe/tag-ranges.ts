/**
 * Image tag ranges resolved at plan time: each range takes its tags from the lock file when the lock holds it as
 * written (no request at all), else from the upstream's tag list (one paged `/v2/<name>/tags/list` per upstream
 * repository, with the upstream's endpoint and credentials). `relock` (resync mode `digest`, the CLI's --relock)
 * asks the upstream for every range. The result is the list with the ranges expanded into entries, the lock to
 * write, and what each range expanded to, for the plan. The selection is pure (list/tag-ranges.ts).
 */
import { readFile, stat } from "node:fs/promises";
import type { ImageRange, ListProblem, MirrorList } from "../list/model.js";
import {
  describeRange,
  lockedTags,
  parseRangesLock,
  type RangeExpansion,
  type RangesLock,
  type RangesLockEntry,
  rangeEntries,
  rangesLock,
  selectTags,
} from "../list/tag-ranges.js";
import type { RequestCounts } from "../registry/distribution.js";
import type { RegistryCredential } from "../tools/credentials.js";
import { ObserveError } from "./ecr.js";
import { UpstreamClients } from "./upstream.js";

/** A range without `newest:` that selects more tags than this gets a warning. */
export const MANY_TAGS = 20;

export interface TagRangeOptions {
  /** The lock an earlier run wrote, or null. */
  lock: RangesLock | null;
  /** Ask the upstream for every range, whatever the lock holds. */
  relock: boolean;
  upstreamCredentials: readonly RegistryCredential[];
  fetch?: typeof fetch;
  /** The most tags read from one repository (default: the Distribution client's `MAX_TAGS`). */
  maxTags?: number;
}

export interface ResolvedImageRanges {
  /** The list with every range replaced by entries for its tags (`imageRanges` empty). */
  list: MirrorList;
  /** The lock for this list's ranges (null when the list has none): what the render folder keeps. */
  lock: RangesLock | null;
  expansions: RangeExpansion[];
  warnings: { message: string; hint?: string; location: ImageRange["location"] }[];
  /** Upstream requests made (`tags-list`, `token`). */
  counts: RequestCounts;
}

/**
 * Resolves the list's image ranges. Throws an `ObserveError` naming every range that could not be resolved (the
 * upstream unreachable or refusing, the repository missing, too many tags, no tag in the range): nothing runs then.
 */
export async function resolveImageRanges(
  list: MirrorList,
  options: TagRangeOptions,
): Promise<ResolvedImageRanges> {
  const ranges = list.imageRanges ?? [];
  const counts: RequestCounts = {};
  if (ranges.length === 0)
    return { list: { ...list, imageRanges: [] }, lock: null, expansions: [], warnings: [], counts };
  const pool = new UpstreamClients(list.upstreams, options.upstreamCredentials, {
    counts,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  // One listing per upstream repository, shared by every range of it.
  const listings = new Map<string, Promise<string[] | null>>();
  const listingOf = (range: ImageRange) => {
    const { client, key } = pool.clientFor(range);
    const id = `${key} ${range.reference.path}`;
    let listing = listings.get(id);
    if (!listing) {
      listing = client.listTags(range.reference.path, options.maxTags);
      listings.set(id, listing);
    }
    return { listing, where: client.describe(range.reference.path) };
  };

  const problems: ListProblem[] = [];
  const warnings: ResolvedImageRanges["warnings"] = [];
  const expansions: RangeExpansion[] = [];
  const locked: RangesLockEntry[] = [];
  const images = [...list.images];
  const taken = new Set(images.map((i) => `${i.repository}:${i.reference.tag}`));
  const resolved = await Promise.all(
    ranges.map(async (range): Promise<Outcome> => {
      const fromLock = options.relock ? null : lockedTags(options.lock, range);
      if (fromLock !== null && fromLock.length > 0) return { range, kind: "lock", tags: fromLock };
      const { listing, where } = listingOf(range);
      try {
        return { range, kind: "listed", published: await listing, where };
      } catch (e) {
        return { range, kind: "failed", failure: (e as Error).message };
      }
    }),
  );
  for (const r of resolved) {
    const { range } = r;
    const selected = tagsOf(r);
    if ("problem" in selected) {
      problems.push({ ...range.location, severity: "error", message: selected.problem, hint: selected.hint });
      continue;
    }
    const { tags } = selected;
    const from = r.kind === "lock" ? "lock" : "upstream";
    const { source, versionRange, pattern, newest } = range;
    locked.push({ source, versionRange, pattern, newest, tags });
    expansions.push({ source, range: describeRange(range), tags, from, line: range.location.line });
    if (range.newest === null && tags.length > MANY_TAGS)
      warnings.push({
        message: `the tag range of ${range.source} selects ${tags.length} tags; all of them are mirrored`,
        hint: "add newest: N to keep only the highest N",
        location: range.location,
      });
    for (const entry of rangeEntries(range, tags)) {
      const key = `${entry.repository}:${entry.reference.tag}`;
      if (taken.has(key)) continue; // listed exactly too, or by another range of the same image
      taken.add(key);
      images.push(entry);
    }
  }
  if (problems.length > 0)
    throw new ObserveError(
      "image tag ranges could not be resolved:",
      "fix the versionRange, pattern or newest entries named above, or list exact tags",
      problems,
    );
  images.sort((a, b) => a.location.line - b.location.line || a.location.column - b.location.column);
  return {
    list: { ...list, images, imageRanges: [] },
    lock: rangesLock(locked),
    expansions,
    warnings,
    counts,
  };
}

/** Where a range's tags came from: the lock, the upstream's listing, or a failed listing. */
type Outcome = { range: ImageRange } & (
  | { kind: "lock"; tags: string[] }
  | { kind: "listed"; published: string[] | null; where: string }
  | { kind: "failed"; failure: string }
);

/** The tags a range takes from its outcome, or the problem that it takes none (reported on the range's line). */
function tagsOf(r: Outcome): { tags: string[] } | { problem: string; hint: string } {
  const { range } = r;
  if (r.kind === "lock") return { tags: r.tags };
  if (r.kind === "failed")
    return {
      problem: `cannot resolve the tag range of ${range.source}: ${r.failure}`,
      hint: "check the image name, the upstream's endpoint and its credentials; or list the tags under tags:",
    };
  if (r.published === null)
    return {
      problem: `${r.where} does not exist: the tag range of ${range.source} has no tags`,
      hint: "check the image name",
    };
  const tags = selectTags(range, r.published);
  if (tags.length > 0) return { tags };
  const newest = selectTags({ versionRange: null, pattern: null, newest: 3 }, r.published);
  return {
    problem: `the tag range of ${range.source} matches none of the ${r.published.length} tags of ${r.where}`,
    hint:
      newest.length > 0
        ? `its newest release tags are ${newest.join(", ")}`
        : "it has no tag that reads as a release version; a pattern: can match other tags",
  };
}

/** A lock is a few KiB; anything near this is not one. */
export const MAX_LOCK_BYTES = 8 * 1024 * 1024;

/**
 * Reads a lock file. An absent file is no lock and no warning; an unreadable or malformed one is no lock and a
 * warning (every range is then resolved from the upstream, and the next render writes a good one).
 */
export async function readRangesLock(
  path: string,
): Promise<{ lock: RangesLock | null; warning: string | null }> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_LOCK_BYTES)
      return {
        lock: null,
        warning: `${path} is ${size} bytes, more than a tag range lock may have; it is ignored`,
      };
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { lock: null, warning: null };
    return { lock: null, warning: `${path} could not be read (${(e as Error).message}); it is ignored` };
  }
  const parsed = parseRangesLock(text);
  if (!parsed.ok)
    return {
      lock: null,
      warning: `${path} is not a tag range lock: ${parsed.error}; it is ignored and every range is resolved from its upstream`,
    };
  return { lock: parsed.lock, warning: null };
}
