/** Rules for `images:`: each entry's reference, the tags and digests it wants, and where it lands. */
import { isMap, isSeq, type Node } from "yaml";
import { checkHost } from "../address-policy.js";
import type {
  ImageEntry,
  ImageRange,
  ImageReference,
  Location,
  MirrorList,
  Target,
  Upstream,
} from "../model.js";
import { repositoryNameProblem } from "../naming.js";
import type { Problems } from "../problems.js";
import { hideUserinfo, shown as q } from "../quote.js";
import { formatReference, isValidTag, parseReference, referenceName, validateDigest } from "../reference.js";
import { mirrorListDefaults } from "../schema.js";
import { parseConstraint } from "../semver.js";
import { parseTagPattern } from "../tag-pattern.js";
import { bool, get, int, keyNode, str, strings } from "../yaml-nodes.js";
import { targetRepositoryOf } from "./upstreams.js";

/** One tag or digest an entry wants, with the node it was written at. */
interface Wanted {
  tag: string | null;
  digest: string | null;
  node: Node;
}

/** The entries and tag ranges read so far, by repository and by repository:tag (or @digest). */
interface ImageIndex {
  entries: ImageEntry[];
  ranges: ImageRange[];
  byKey: Map<string, ImageEntry>;
  byRepository: Map<string, ImageEntry | ImageRange>;
}

/** A tag range as an entry gives it (`versionRange`, `pattern`, `newest`), checked, before it lands. */
type RangeSpec = Pick<ImageRange, "versionRange" | "pattern" | "newest" | "location">;

/** What `defaults:` gives every image entry that does not say otherwise. */
export interface ImageDefaults {
  referrers: boolean;
}

/** `defaults:`, with the schema's defaults where it says nothing. */
export function readImageDefaults(node: Node | undefined): ImageDefaults {
  return { referrers: bool(get(node, "referrers")) ?? mirrorListDefaults["defaults.referrers"] };
}

export function readImages(
  node: Node | undefined,
  target: Target,
  upstreams: Map<string, Upstream>,
  problems: Problems,
  defaults: ImageDefaults = { referrers: mirrorListDefaults["defaults.referrers"] },
): { images: ImageEntry[]; imageRanges: ImageRange[] } {
  const index: ImageIndex = { entries: [], ranges: [], byKey: new Map(), byRepository: new Map() };
  if (isSeq(node))
    for (const item of node.items) readImage(item, target, upstreams, problems, index, defaults);
  return { images: index.entries, imageRanges: index.ranges };
}

/**
 * Whether the entry's referrers travel with it: its own `referrers:`, else `defaults.referrers` (entries with
 * platforms left out). Platforms and referrers together are an error: the filtered copy is another digest than the
 * one the signatures name.
 */
function readReferrers(
  item: unknown,
  platforms: readonly string[],
  defaults: ImageDefaults,
  problems: Problems,
) {
  const own = isMap(item) ? bool(get(item, "referrers")) : undefined;
  if (own === true && platforms.length > 0) {
    problems.error(
      problems.locate(keyNode(item, "referrers")),
      "referrers cannot travel with a platform-filtered entry",
      "platforms writes a new manifest whose digest no signature or SBOM names; remove platforms to mirror the image as it is signed, or remove referrers",
    );
    return false;
  }
  return own ?? (defaults.referrers && platforms.length === 0);
}

function readImage(
  item: unknown,
  target: Target,
  upstreams: Map<string, Upstream>,
  problems: Problems,
  index: ImageIndex,
  defaults: ImageDefaults,
): void {
  const isObject = isMap(item);
  const sourceNode = isObject ? get(item, "source") : (item as Node);
  const source = str(sourceNode);
  if (source === undefined) return; // structural problem, already reported
  const ref = readSource(source, sourceNode, problems);
  if (ref === null) return;
  const { platforms, located } = readPlatforms(isObject ? item : undefined, problems);
  const wanted = readWanted(item, isObject, ref, source, sourceNode!, problems);
  const range = isObject ? readRange(item, ref, source, sourceNode, problems) : null;
  if (range === "invalid") return;
  if (!wantsSomething(item, source, sourceNode, wanted.length > 0 || range !== null, problems)) return;
  if (platforms.length > 0 && wanted.some((w) => w.digest !== null)) {
    problems.error(
      problems.locate(keyNode(item, "platforms")),
      "platforms can only filter tag-only entries",
      "filtering writes a new single-platform manifest whose digest differs from the pinned one, so a digest-pinned pull would fail on the node; remove platforms or the digest",
    );
  }
  const referrers = readReferrers(item, platforms, defaults, problems);
  const repository = landImage(ref, source, sourceNode, target, upstreams, problems);
  if (repository === null) return;
  if (range !== null) addRange({ ...range, platforms, ...located }, ref, repository, index, problems);
  for (const w of wanted) {
    const reference: ImageReference = { domain: ref.domain, path: ref.path, tag: w.tag, digest: w.digest };
    const entry: ImageEntry = {
      source: formatReference(reference),
      reference,
      repository,
      platforms,
      ...located,
      location: problems.locate(w.node),
      ...(referrers ? { referrers: true as const } : {}),
    };
    addImage(entry, index, problems);
  }
}

/** An entry names a tag, a digest or a tag range; else an error on its source (ecr-mirror never assumes :latest). */
function wantsSomething(
  item: unknown,
  source: string,
  sourceNode: Node | undefined,
  names: boolean,
  problems: Problems,
): boolean {
  if (names) return true;
  problems.error(
    problems.locate(sourceNode),
    `${q(source)} names no tag or digest`,
    isMap(item)
      ? 'add tags: ["1.2.3"], digests: ["sha256:…"] or a tag range (versionRange: ">=1.2.0 <2.0.0", pattern:, newest:)'
      : `write ${q(`${source}:<tag>`)} (ecr-mirror never assumes :latest; write :latest if you mean it)`,
  );
  return false;
}

/** The entry's source as a reference: no credentials, valid as Docker reads it, a host the address policy allows. */
function readSource(source: string, sourceNode: Node | undefined, problems: Problems): ImageReference | null {
  if (hideUserinfo(source) !== source) {
    problems.error(
      problems.locate(sourceNode),
      `image reference ${q(source)} carries credentials (user:password@)`,
      "never write credentials into the list: give them through the registry-credentials or docker-hub-token inputs",
    );
    return null;
  }
  const parsed = parseReference(source);
  if (!parsed.ok) {
    problems.error(
      problems.locate(sourceNode),
      `invalid image reference ${q(source)}: ${parsed.error}`,
      parsed.hint,
    );
    return null;
  }
  const domainRefused = checkHost(parsed.value.domain);
  if (!domainRefused.ok) {
    problems.error(
      problems.locate(sourceNode),
      `image ${q(source)}: ${domainRefused.reason}`,
      domainRefused.hint,
    );
    return null;
  }
  return parsed.value;
}

/** The source's own tag or digest, then the entry's `tags:` and `digests:` (each checked). */
function readWanted(
  item: unknown,
  isObject: boolean,
  ref: ImageReference,
  source: string,
  sourceNode: Node,
  problems: Problems,
): Wanted[] {
  const wanted: Wanted[] = [];
  if (ref.tag !== null || ref.digest !== null)
    wanted.push({ tag: ref.tag, digest: ref.digest, node: sourceNode });
  if (!isObject) return wanted;
  wanted.push(...readTags(item, problems), ...readDigests(item, problems));
  if (ref.tag !== null && get(item, "tags")) {
    problems.error(
      problems.locate(sourceNode),
      `source ${q(source)} carries a tag and the entry also lists tags`,
      "put every tag in tags: and leave the source without one",
    );
  }
  return wanted;
}

/** The entry's `platforms:` and where each is written. */
function readPlatforms(
  item: unknown,
  problems: Problems,
): { platforms: string[]; located: { platformLocations?: Location[] } } {
  const nodes = strings(get(item, "platforms"));
  const platforms = nodes.map((p) => p.value);
  if (platforms.length === 0) return { platforms, located: {} };
  return { platforms, located: { platformLocations: nodes.map((p) => problems.locate(p.node)) } };
}

/** Adds a tag range unless another source already lands in its repository. */
function addRange(
  range: RangeSpec & Pick<ImageRange, "platforms" | "platformLocations">,
  ref: ImageReference,
  repository: string,
  index: ImageIndex,
  problems: Problems,
): void {
  const reference: ImageReference = { domain: ref.domain, path: ref.path, tag: null, digest: null };
  const imageRange: ImageRange = { source: referenceName(reference), reference, repository, ...range };
  if (claimRepository(imageRange, index, problems)) index.ranges.push(imageRange);
}

/**
 * The entry's tag range: `versionRange` (checked as for charts), `pattern` (checked: ./tag-pattern.ts), `newest`;
 * null when it gives none, "invalid" when it gives a broken one (reported).
 */
function readRange(
  item: unknown,
  ref: ImageReference,
  source: string,
  sourceNode: Node | undefined,
  problems: Problems,
): RangeSpec | null | "invalid" {
  const rangeNode = get(item, "versionRange");
  const patternNode = get(item, "pattern");
  const newestNode = get(item, "newest");
  if (!rangeNode && !patternNode && !newestNode) return null;
  let ok = true;
  if (ref.tag !== null || ref.digest !== null) {
    problems.error(
      problems.locate(sourceNode),
      `source ${q(source)} carries a ${ref.tag !== null ? "tag" : "digest"} and the entry also gives a tag range`,
      "leave the source without one; exact tags go under tags:, digests under digests:",
    );
    ok = false;
  }
  const versionRange = str(rangeNode) ?? null;
  const pattern = str(patternNode) ?? null;
  ok = checkVersionRange(versionRange, rangeNode, problems) && ok;
  ok = checkPattern(pattern, patternNode, problems) && ok;
  if (!ok) return "invalid";
  const location = problems.locate(rangeNode ?? patternNode ?? newestNode);
  return { versionRange, pattern, newest: int(newestNode) ?? null, location };
}

function checkVersionRange(range: string | null, node: Node | undefined, problems: Problems): boolean {
  const parsed = range === null ? null : parseConstraint(range);
  if (parsed === null || parsed.ok) return true;
  problems.error(
    problems.locate(node),
    `version range ${q(range!)} is not valid: ${parsed.error}`,
    'write it as for charts (Masterminds/semver): ">=1.25.0 <2.0.0", "~1.27", "^3 || ^4", "1.x"; for tags that are not versions use pattern:',
  );
  return false;
}

function checkPattern(pattern: string | null, node: Node | undefined, problems: Problems): boolean {
  const parsed = pattern === null ? null : parseTagPattern(pattern);
  if (parsed === null || parsed.ok) return true;
  problems.error(
    problems.locate(node),
    `tag pattern ${q(pattern!)} is not supported at character ${parsed.offset + 1}: ${parsed.error}`,
    'patterns are matched against the whole tag in a safe subset (literals, ., [a-z], \\d, \\w, groups, |, *, +, ?, {n,m}), e.g. "\\d+\\.\\d+\\.\\d+-alpine"',
  );
  return false;
}

function readTags(item: unknown, problems: Problems): Wanted[] {
  const wanted: Wanted[] = [];
  for (const t of strings(get(item, "tags"))) {
    if (isValidTag(t.value)) wanted.push({ tag: t.value, digest: null, node: t.node });
    else
      problems.error(
        problems.locate(t.node),
        `invalid tag ${q(t.value)}`,
        "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
      );
  }
  return wanted;
}

function readDigests(item: unknown, problems: Problems): Wanted[] {
  const wanted: Wanted[] = [];
  for (const d of strings(get(item, "digests"))) {
    const problem = validateDigest(d.value);
    if (problem) problems.error(problems.locate(d.node), `invalid digest ${q(d.value)}: ${problem}`);
    else wanted.push({ tag: null, digest: d.value, node: d.node });
  }
  return wanted;
}

/** The repository the image lands in, or null when its name cannot be one (reported, with the way out). */
function landImage(
  ref: ImageReference,
  source: string,
  sourceNode: Node | undefined,
  target: Target,
  upstreams: Map<string, Upstream>,
  problems: Problems,
): string | null {
  const { upstream, repository, problem } = targetRepositoryOf(ref, target, upstreams);
  if (!problem) return repository;
  const hostIsTheProblem = repositoryNameProblem(upstream.prefix, target.type) !== null;
  problems.error(
    problems.locate(sourceNode),
    hostIsTheProblem
      ? `"${ref.domain}" cannot be nested in an ECR repository name: ${problem}`
      : `${q(source)} cannot land in the target: ${problem}`,
    hostIsTheProblem ? ownPrefixHint(ref.domain, target) : unlandableHint(repository),
  );
  return null;
}

function ownPrefixHint(domain: string, target: Target): string {
  const name = domain
    .replace(/[^a-zA-Z0-9.]+/g, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase();
  return `give the upstream a prefix of its own: upstreams: { "${domain}": { prefix: "${target.imagePrefix}/${name}" } }`;
}

function unlandableHint(repository: string): string {
  return repository.length > 256
    ? "shorten target.imagePrefix or the upstream's prefix"
    : "ECR allows lower-case letters, digits and single '.', '_' or '-' between them";
}

/**
 * Adds an entry unless another source already lands in its repository, or its tag is there already: pinned
 * differently or with other platforms is an error, a true duplicate merges into the first.
 */
function addImage(entry: ImageEntry, index: ImageIndex, problems: Problems): void {
  if (!claimRepository(entry, index, problems)) return;
  const { repository, reference } = entry;
  const key = `${repository}${reference.tag !== null ? `:${reference.tag}` : `@${reference.digest}`}`;
  const previous = index.byKey.get(key);
  if (!previous) {
    index.byKey.set(key, entry);
    index.entries.push(entry);
    return;
  }
  if (previous.reference.digest !== reference.digest) {
    problems.error(
      entry.location,
      `${key} is pinned differently here and on line ${previous.location.line}`,
      "keep one entry per tag; pin it to one digest or none",
    );
  } else if (previous.platforms.join() !== entry.platforms.join()) {
    problems.error(
      entry.location,
      `${key} is listed here and on line ${previous.location.line} with different platforms`,
      "keep one entry per tag",
    );
  }
}

/** Records that the entry's source lands in its repository; false (reported) when another source lands there. */
function claimRepository(entry: ImageEntry | ImageRange, index: ImageIndex, problems: Problems): boolean {
  const { repository, reference } = entry;
  const owner = index.byRepository.get(repository);
  if (owner && referenceName(owner.reference) !== referenceName(reference)) {
    problems.error(
      entry.location,
      `${referenceName(reference)} and ${referenceName(owner.reference)} (line ${owner.location.line}) both land in repository ${repository}`,
      "give one of the upstreams its own prefix under upstreams:",
    );
    return false;
  }
  if (!owner) index.byRepository.set(repository, entry);
  return true;
}

export type ImageEntryResult =
  | { ok: true; entry: ImageEntry; upstreams: Upstream[] }
  | { ok: false; error: string; hint?: string };

/**
 * An image reference found outside the list (in a chart's manifests) turned into the entry the list
 * would make of it: normalised, mapped to its target repository with the list's upstream prefixes.
 * Without a tag or digest it is `:latest`, as the kubelet pulls it. `upstreams` is the list's upstreams
 * plus the reference's host when the list had none for it (nodes redirect every host an image uses).
 */
export function imageEntryFor(reference: string, list: MirrorList, location: Location): ImageEntryResult {
  const parsed = parseReference(reference);
  if (!parsed.ok) return { ok: false, error: parsed.error, ...(parsed.hint ? { hint: parsed.hint } : {}) };
  const refused = checkHost(parsed.value.domain);
  if (!refused.ok) return { ok: false, error: refused.reason, hint: refused.hint };
  const ref: ImageReference =
    parsed.value.tag === null && parsed.value.digest === null
      ? { ...parsed.value, tag: "latest" }
      : parsed.value;
  const upstreams = new Map(list.upstreams.map((u) => [u.host, u]));
  const { repository, problem } = targetRepositoryOf(ref, list.target, upstreams);
  if (problem) {
    return {
      ok: false,
      error: `it cannot land in the target: ${problem}`,
      hint: `give ${ref.domain} a prefix of its own under upstreams:`,
    };
  }
  const all = [...upstreams.values()].sort((a, b) => a.host.localeCompare(b.host));
  return {
    ok: true,
    entry: {
      source: formatReference(ref),
      reference: ref,
      repository,
      platforms: [],
      location,
      ...(list.referrersByDefault ? { referrers: true as const } : {}),
    },
    upstreams: all,
  };
}
