/**
 * What the cluster runs against the mirror list. Every image a pod names is normalised as containerd and Docker
 * do (distribution/reference: `docker.io/library/` for short names, `:latest` when neither tag nor digest is
 * written) and compared with the list's entries, which the nodes reach under the same upstream names through
 * their hosts.toml redirects. The result says (a) which images are not in the list, (b) which list entries no pod
 * uses, and (c), when the target was observed, which digests pods pin or run that the mirror does not hold. Pure.
 */
import type { ImageEntry, ImageReference, MirrorList } from "../list/model.js";
import { imageEntryFor } from "../list/parse.js";
import { redirectedUpstreams } from "../list/redirects.js";
import { formatReference, parseReference, referenceName } from "../list/reference.js";
import type { ObservedTarget } from "../observe/model.js";
import { type Additions, additionsFor } from "./additions.js";
import type { ContainerKind, PodImage } from "./pods.js";

export interface AuditOptions {
  /**
   * The mirror's own address (`host[:port]`): an image already named by it (`<registry>/mirrors/library/redis:7.0`)
   * counts as mirrored. Null when unknown (offline, and the list sets no `target.registry`).
   */
  registry: string | null;
  /** What the target holds (the plan's observation); null when it was not asked (offline). */
  observed: ObservedTarget | null;
  /** References the list mirrors through charts with `images: true` (the chart images record), normalised. */
  chartImages?: readonly string[];
  /** The list file's text: where the lines to add go (after the last entry of `images:`). */
  listText: string;
}

/** Where an image runs. */
export interface PodUse {
  namespace: string;
  pod: string;
  container: string;
  kind: ContainerKind;
}

/** An image the cluster runs that the list does not mirror. */
export interface MissingImage {
  /** The repository's normalised name, `docker.io/library/nginx`. */
  name: string;
  /** The references pods use, normalised (`docker.io/library/nginx:1.27`), sorted. */
  references: string[];
  /** Every container that runs one of them, with the reference (normalised) it names. */
  uses: (PodUse & { reference: string })[];
  /**
   * Whether the nodes redirect its host to the mirror without fallback (the list mirrors other images of that
   * host): then its next pull fails even with the internet there. Otherwise it is pulled from the upstream, until
   * the air gap.
   */
  redirected: boolean;
  /** Why no list line can be given for it (the name cannot land in the target as the list stands), or null. */
  problem: { message: string; hint: string | null } | null;
}

/** A digest a pod pins (or, for a tag, the node runs) that the mirror does not hold in its repository. */
export interface UnheldDigest {
  /** The reference as the pod names it, normalised. */
  reference: string;
  repository: string;
  digest: string;
  /** True: the pod spec pins it (the pull fails against the mirror); false: the node runs it for a tag (drift). */
  pinned: boolean;
  uses: PodUse[];
}

/** An image string no runtime can pull. */
export interface InvalidImage {
  image: string;
  error: string;
  uses: PodUse[];
}

export interface AuditResult {
  /** Pods and containers read. */
  pods: number;
  containers: number;
  /** Distinct references the pods name, and how many of them the list mirrors (or name the mirror itself). */
  references: number;
  mirrored: number;
  /** (a) Not in the list, by repository name. */
  missing: MissingImage[];
  /** The list lines that add every missing image that can land, and where they go (./additions.ts). */
  additions: Additions;
  /** (b) List entries no pod uses: prune candidates. */
  unused: ImageEntry[];
  /** (c) Digests the mirror does not hold; null when the target was not observed. */
  unheld: UnheldDigest[] | null;
  invalid: InvalidImage[];
  /** References into other private ECR registries: pulled from there as they are, not mirror candidates. */
  privateEcr: string[];
}

/** A private ECR registry host (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`, the China and FIPS variants). */
const PRIVATE_ECR = /^\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;

/** What the audit has found so far. */
interface Findings {
  used: Set<ImageEntry>;
  missing: Map<string, MissingImage>;
  unheld: Map<string, UnheldDigest>;
  invalid: Map<string, InvalidImage>;
  privateEcr: Set<string>;
  references: Set<string>;
  mirrored: Set<string>;
}

/** One distinct (image, running digest) pair and every container that has it. */
interface Group {
  image: string;
  runningDigest: string | null;
  uses: PodUse[];
}

/** What the list mirrors, looked up by repository name and by `name:tag` / `name@digest`. */
interface ListIndex {
  byName: Map<string, ImageEntry[]>;
  byRepository: Map<string, ImageEntry[]>;
  fromCharts: Set<string>;
}

export function auditCluster(
  images: readonly PodImage[],
  list: MirrorList,
  options: AuditOptions,
): AuditResult {
  const index = indexList(list, options.chartImages ?? []);
  const used = new Set<ImageEntry>();
  const missing = new Map<string, MissingImage>();
  const unheld = new Map<string, UnheldDigest>();
  const invalid = new Map<string, InvalidImage>();
  const privateEcr = new Set<string>();
  const references = new Set<string>();
  const mirrored = new Set<string>();
  const findings: Findings = { used, missing, unheld, invalid, privateEcr, references, mirrored };
  for (const group of groups(images)) auditGroup(group, index, list, options, findings);
  const missingImages = [...missing.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const m of missingImages) m.references.sort();
  return {
    pods: new Set(images.map((i) => `${i.namespace}/${i.pod}`)).size,
    containers: images.length,
    references: references.size,
    mirrored: mirrored.size,
    missing: missingImages,
    additions: additionsFor(missingImages, options.listText),
    unused: list.images.filter((e) => !used.has(e)),
    unheld: options.observed
      ? [...unheld.values()].sort((a, b) => a.reference.localeCompare(b.reference))
      : null,
    invalid: [...invalid.values()],
    privateEcr: [...privateEcr].sort(),
  };
}

/** One distinct image (and running digest) against the list: mirrored, missing, invalid or another registry's. */
function auditGroup(
  group: Group,
  index: ListIndex,
  list: MirrorList,
  options: AuditOptions,
  found: Findings,
): void {
  const parsed = parseReference(group.image);
  if (!parsed.ok) {
    const known = found.invalid.get(group.image) ?? { image: group.image, error: parsed.error, uses: [] };
    for (const u of group.uses) known.uses.push(u);
    found.invalid.set(group.image, known);
    return;
  }
  const ref = withDefaultTag(parsed.value);
  const reference = formatReference(ref);
  found.references.add(reference);
  // The mirror's address, or, when it is not known (offline, no target.registry), any host whose path is a
  // repository the list lands images in (`<registry>/mirrors/library/nginx`).
  const viaMirror =
    options.registry !== null
      ? ref.domain === options.registry
      : index.byRepository.has(ref.path) && !index.byName.has(referenceName(ref));
  const entries = viaMirror
    ? (index.byRepository.get(ref.path) ?? [])
    : (index.byName.get(referenceName(ref)) ?? []);
  if (!viaMirror && PRIVATE_ECR.test(ref.domain)) {
    found.privateEcr.add(reference);
    return;
  }
  const matched = matchingEntries(ref, entries, options.observed);
  for (const e of matched.entries) found.used.add(e);
  if (viaMirror || matched.listed || index.fromCharts.has(reference)) found.mirrored.add(reference);
  else addMissing(found.missing, ref, reference, group.uses, list);
  const repository = viaMirror ? ref.path : (entries[0]?.repository ?? null);
  if (options.observed && repository && (viaMirror || matched.listed))
    checkHeld(found.unheld, options.observed, repository, ref, reference, group);
}

/** Whether anything is missing from the mirror: an image not in the list, or a pinned digest it does not hold. */
export function auditFindsMissing(result: AuditResult): boolean {
  return result.missing.length > 0 || (result.unheld ?? []).some((u) => u.pinned);
}

function groups(images: readonly PodImage[]): Group[] {
  const byKey = new Map<string, Group>();
  for (const i of images) {
    const key = `${i.image}\u0000${i.runningDigest ?? ""}`;
    let group = byKey.get(key);
    if (!group) {
      group = { image: i.image, runningDigest: i.runningDigest, uses: [] };
      byKey.set(key, group);
    }
    group.uses.push({ namespace: i.namespace, pod: i.pod, container: i.container, kind: i.kind });
  }
  return [...byKey.values()];
}

/** The kubelet pulls a reference without tag or digest as `:latest`. */
function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === null && ref.digest === null ? { ...ref, tag: "latest" } : ref;
}

function indexList(list: MirrorList, chartImages: readonly string[]): ListIndex {
  const byName = new Map<string, ImageEntry[]>();
  const byRepository = new Map<string, ImageEntry[]>();
  for (const e of list.images) {
    const name = referenceName(e.reference);
    byName.set(name, [...(byName.get(name) ?? []), e]);
    byRepository.set(e.repository, [...(byRepository.get(e.repository) ?? []), e]);
  }
  const fromCharts = new Set<string>();
  for (const c of chartImages) {
    const parsed = parseReference(c);
    if (parsed.ok) fromCharts.add(formatReference(withDefaultTag(parsed.value)));
  }
  return { byName, byRepository, fromCharts };
}

/**
 * The entries a reference uses, and whether the list mirrors it: its tag is listed, or its digest is (pinned or
 * digest-only), or, for a reference by digest alone, the target holds that digest under one of the repository's
 * tags. Without an observation such a reference keeps every entry of its repository (they may be what it runs).
 */
function matchingEntries(
  ref: ImageReference,
  entries: readonly ImageEntry[],
  observed: ObservedTarget | null,
): { entries: ImageEntry[]; listed: boolean } {
  const direct = entries.filter(
    (e) =>
      (ref.tag !== null && e.reference.tag === ref.tag) ||
      (ref.digest !== null && e.reference.digest === ref.digest),
  );
  if (direct.length > 0 || ref.digest === null || ref.tag !== null)
    return { entries: direct, listed: direct.length > 0 };
  if (!observed) return { entries: [...entries], listed: false };
  const holding = entries.filter((e) => {
    const tags = observed.repositories.get(e.repository)?.tags;
    return tags?.get(e.reference.tag ?? syntheticTagOf(e.reference.digest!)) === ref.digest;
  });
  return { entries: holding, listed: holding.length > 0 };
}

function syntheticTagOf(digest: string): string {
  return digest.replace(":", "-");
}

function addMissing(
  missing: Map<string, MissingImage>,
  ref: ImageReference,
  reference: string,
  uses: readonly PodUse[],
  list: MirrorList,
): void {
  const name = referenceName(ref);
  let m = missing.get(name);
  if (!m) {
    const landing = imageEntryFor(reference, list, { file: list.file, line: 1, column: 1 });
    const upstream = redirectedUpstreams(list).find((u) => u.host === ref.domain);
    m = {
      name,
      references: [],
      uses: [],
      redirected: upstream !== undefined && !upstream.fallback,
      problem: landing.ok ? null : { message: landing.error, hint: landing.hint ?? null },
    };
    missing.set(name, m);
  }
  if (!m.references.includes(reference)) m.references.push(reference);
  // One by one: a spread of 100 000 uses would overflow the call stack.
  for (const u of uses) m.uses.push({ ...u, reference });
}

/** (c): the digest a pod pins, or the node runs for its tag, must be one the repository holds under a tag. */
function checkHeld(
  unheld: Map<string, UnheldDigest>,
  observed: ObservedTarget,
  repository: string,
  ref: ImageReference,
  reference: string,
  group: Group,
): void {
  const digest = ref.digest ?? group.runningDigest;
  if (digest === null) return;
  const held = [...(observed.repositories.get(repository)?.tags.values() ?? [])];
  // A digest the observer did not look up (plain registries answer tags without digests) proves nothing.
  if (held.includes(digest) || held.includes(null)) return;
  const key = `${reference}\u0000${digest}`;
  const known = unheld.get(key) ?? { reference, repository, digest, pinned: ref.digest !== null, uses: [] };
  for (const u of group.uses) known.uses.push(u);
  unheld.set(key, known);
}
