/**
 * The planner: a pure function of the validated mirror list, what the target holds and what the upstream
 * tags point at now (resync mode `digest`; and what the tags of platform-filtered entries hold, matched as crane
 * matches platforms in ./platforms.ts). Every entry gets exactly one step.
 *
 * ECR's archive storage class: a wanted tag the target holds but whose image is ARCHIVED gets a `restore`
 * step (UpdateImageStorageClass to STANDARD) where it would otherwise be `present`; copying it again would
 * meet the existing tag (refused on an immutable tag) and move the same bytes twice. An ACTIVATING image is
 * already being restored: it stays `present`, its reason says so, and one warning counts such tags (waiting
 * for ECR, usually up to 20 minutes, is not worth a CI job's time; the next run sees it ACTIVE).
 */
import { MirrorError } from "../errors.js";
import type { ChartEntry, ImageEntry, ListProblem, MirrorList } from "../list/model.js";
import { syntheticTag } from "../list/naming.js";
import type { IndexChild, ObservedRepository, ObservedTarget, UpstreamDigest } from "../observe/model.js";
import type {
  DeleteStep,
  EntryOf,
  EntryStep,
  Plan,
  PlannedList,
  PlanWarning,
  ResyncMode,
  Step,
  StepAction,
} from "./model.js";
import { isTransferStep, STEP_ACTIONS } from "./model.js";
import { tagIsMutable } from "./mutability.js";
import { childrenForPlatforms, type PlatformSelection, selectPlatforms } from "./platforms.js";
import { keptForSubject } from "./referrers.js";
import { reconcileRepositories } from "./settings.js";

const digestsOf = (children: readonly { digest: string }[]): string => children.map((c) => c.digest).join();

/** Docker Hub's anonymous limit since 2025: about 10 pulls an hour per IP address. */
export const DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR = 10;

export interface PlanOptions {
  resync: ResyncMode;
  /** Upstream digests by entry source (`docker.io/library/redis:7.0`, or a chart's step source). */
  upstreamDigests?: ReadonlyMap<string, UpstreamDigest>;
  /** Sources whose upstream digest could not be read, with the reason (shown, not fatal). */
  upstreamFailures?: ReadonlyMap<string, string>;
  /** Sources to copy that the upstream does not have, with the reason: the plan fails on their lines. */
  upstreamMissing?: ReadonlyMap<string, string>;
  /** Whether Docker Hub credentials are configured (no rate-limit warning then). */
  dockerHubCredentials: boolean;
  /**
   * The copies run later, in another job (mode plan): this job's credentials say nothing about the sync
   * job's, so the Docker Hub warning is about the sync job.
   */
  copiesElsewhere?: boolean;
}

/** The tag an image entry is stored under in the target. */
export function targetTag(entry: ImageEntry): string {
  return entry.reference.tag ?? syntheticTag(entry.reference.digest!);
}

/** How a chart version is named in a plan step. */
export function chartSource(entry: ChartEntry): string {
  return entry.kind === "oci"
    ? `${entry.source}:${entry.version}`
    : `${entry.source}/${entry.name}:${entry.version}`;
}

/** The repository prefixes ecr-mirror manages: every upstream's prefix and the chart prefix. */
export function managedPrefixes(list: MirrorList): string[] {
  return [...new Set([...list.upstreams.map((u) => u.prefix), list.target.chartPrefix])].sort();
}

function short(digest: string | null): string {
  return digest ? `${digest.slice(0, 19)}…` : "nothing";
}

type Wanted = EntryOf & {
  source: string;
  repository: string;
  tag: string;
  /** The digest the list pins, if any. */
  pinned: string | null;
  platforms: string[];
};

function wantedOf(list: MirrorList): Wanted[] {
  return [
    ...list.images.map(
      (entry): Wanted => ({
        kind: "image",
        source: entry.source,
        repository: entry.repository,
        tag: targetTag(entry),
        pinned: entry.reference.digest,
        platforms: entry.platforms,
        entry,
      }),
    ),
    ...list.charts.map(
      (entry): Wanted => ({
        kind: "chart",
        source: chartSource(entry),
        repository: entry.repository,
        tag: entry.tag,
        pinned: null,
        platforms: [],
        entry,
      }),
    ),
  ];
}

/**
 * The digests the target should hold for `w`, from the upstream's answer: the tag's own digest, the one platform
 * manifest `crane copy --platform` writes, or the children `crane index filter` keeps; undefined when unknown.
 */
function expectedFromUpstream(w: Wanted, up: UpstreamDigest): string[] | undefined {
  if (w.platforms.length === 0) return [up.digest];
  if (!up.content) return undefined;
  const selection = selectPlatforms(up.content, up.digest, w.platforms);
  return selection.ok ? selection.digests : undefined;
}

/**
 * A located error for every list platform the upstream image does not have, where the plan read the upstream
 * (`upstreamDigests` carries what the tag holds): crane would fail on an index without a matching child, and on a
 * single-platform image it would copy that image whatever platform was asked for, a silent substitute.
 */
export function platformProblems(
  images: readonly ImageEntry[],
  upstream: ReadonlyMap<string, UpstreamDigest> | undefined,
): ListProblem[] {
  const problems: ListProblem[] = [];
  for (const entry of images) {
    const up = entry.platforms.length > 0 ? upstream?.get(entry.source) : undefined;
    if (!up?.content) continue;
    const selection = selectPlatforms(up.content, up.digest, entry.platforms);
    if (selection.ok) continue;
    for (const platform of selection.missing) {
      const at = entry.platformLocations?.[entry.platforms.indexOf(platform)] ?? entry.location;
      problems.push({ ...at, severity: "error", ...missingPlatform(entry, platform, selection) });
    }
  }
  return problems;
}

/** One located error for each entry to copy that the upstream does not have. */
export function missingProblems(
  entries: readonly (ImageEntry | ChartEntry)[],
  missing: ReadonlyMap<string, string> | undefined,
): ListProblem[] {
  if (!missing || missing.size === 0) return [];
  const problems: ListProblem[] = [];
  for (const entry of entries) {
    const source = "reference" in entry ? entry.source : chartSource(entry);
    const why = missing.get(source);
    if (why === undefined || !entry.location) continue;
    problems.push({
      ...entry.location,
      severity: "error",
      message: `${source} is not in the upstream ${"reference" in entry ? "registry" : "repository"}: ${why}`,
      hint: "check the tag or digest and the repository name upstream; nothing can be copied from a manifest that does not exist",
    });
  }
  return problems;
}

/** The words for one list platform the upstream image lacks. */
function missingPlatform(
  entry: ImageEntry,
  platform: string,
  selection: Extract<PlatformSelection, { ok: false }>,
): { message: string; hint: string } {
  const own = selection.has[0];
  if (!selection.singleImage) {
    return {
      message: `${entry.source} has no ${platform} image: no child of its index matches`,
      hint: `the index has ${selection.has.join(", ")}; a variant you name must match exactly (linux/arm64 matches linux/arm64/v8, linux/arm64/v8 needs a child with that variant); list one of those platforms, or remove platforms to mirror them all`,
    };
  }
  const image = `${entry.source} is a single-platform image (${own ?? "a platform its config does not name"})`;
  if (entry.platforms.length > 1) {
    return {
      message: `${image}, not an index to keep ${platform} from`,
      hint: `crane index filter needs an index; list one platform${own ? ` (platforms: [${own}])` : ""}, or remove platforms`,
    };
  }
  return {
    message: `${image}, not ${platform}`,
    hint: `crane would copy this image as it is, whatever platform is asked for; list platforms: [${own ?? "…"}], or remove platforms`,
  };
}

/** The fields every step of entry `w` shares, whatever its action. */
function entryBase(w: Wanted) {
  const shared = {
    source: w.source,
    repository: w.repository,
    tag: w.tag,
    platforms: w.platforms,
    location: w.entry.location,
  };
  // Two branches, so the kind and its entry stay paired in the type.
  return w.kind === "image"
    ? { ...shared, kind: w.kind, entry: w.entry }
    : { ...shared, kind: w.kind, entry: w.entry };
}
type EntryBase = ReturnType<typeof entryBase>;

/**
 * The plan for `list`. Throws a `MirrorError` carrying located problems when the list asks for platforms the
 * upstream images do not have (see `platformProblems`): no step of such a plan may run.
 */
export function planMirror(list: PlannedList, observed: ObservedTarget, options: PlanOptions): Plan {
  const missing = missingProblems([...list.images, ...list.charts], options.upstreamMissing);
  if (missing.length > 0) {
    throw new MirrorError(
      "the mirror list names images the upstream registries do not have; nothing was copied:",
      {
        hint: "fix the tags, digests or names above (a typo, a tag not published yet, a repository that moved); an entry must exist upstream before it can be mirrored",
        problems: missing,
      },
    );
  }
  const problems = platformProblems(list.images, options.upstreamDigests);
  if (problems.length > 0) {
    throw new MirrorError(
      "the mirror list asks for platforms the upstream images do not have; nothing was copied:",
      {
        hint: "fix the platforms named above (`crane index list IMAGE` lists an index's platforms)",
        problems,
      },
    );
  }
  const steps: Step[] = [];
  const warnings: PlanWarning[] = [];
  const created = new Set<string>();
  const wanted = wantedOf(list);
  const settings = list.target.repositorySettings;

  const entrySteps: EntryStep[] = [];
  // Existing repositories whose settings differ (target.reconcileSettings): their steps go first, and their tags
  // are planned under the list's mutability (the reconcile step runs before copies and updates).
  const reconciling = reconcileRepositories(
    wanted.map((w) => ({ repository: w.repository, location: w.entry.location })),
    observed,
    list.target,
  );
  steps.push(...reconciling.steps);
  warnings.push(...reconciling.warnings);
  for (const w of wanted) {
    const repo = reconciling.repositories.get(w.repository);
    if (!repo) {
      if (!created.has(w.repository)) {
        created.add(w.repository);
        steps.push({
          action: "create-repository",
          kind: "repository",
          repository: w.repository,
          reason: `repository does not exist; created ${settings.imageTagMutability}${settings.scanOnPush ? ", scan on push" : ""}`,
          location: w.entry.location,
        });
      }
      entrySteps.push({
        ...entryBase(w),
        action: "copy",
        digest: copiedDigest(w, options),
        targetDigest: null,
        reason: "new repository",
      });
      continue;
    }
    entrySteps.push(planPresentRepository(w, repo, options, entryBase(w), list.target.reconcileSettings));
  }
  steps.push(...entrySteps);
  warnings.push(...restoringWarning(entrySteps, observed));

  if (list.target.prune) steps.push(...pruneSteps(list, observed, wanted, warnings));

  warnings.push(...dockerHubWarning(list, steps, options));
  for (const [source, why] of options.upstreamFailures ?? []) {
    const w = wanted.find((x) => x.source === source);
    const step = entrySteps.find((x) => x.source === source);
    const outcome =
      step && isTransferStep(step)
        ? "it is copied without proving first that it exists upstream"
        : "it is treated as present";
    warnings.push({
      message: `could not check ${source} upstream (${why}); ${outcome}`,
      ...(w ? { location: w.entry.location } : {}),
    });
  }

  const summary = Object.fromEntries(STEP_ACTIONS.map((a) => [a, 0])) as Record<StepAction, number>;
  for (const s of steps) summary[s.action]++;
  return { registry: observed.registry, resync: options.resync, steps, summary, warnings };
}

/** The anonymous Docker Hub warning, when the copies need more pulls than Docker Hub allows anonymously. */
function dockerHubWarning(list: PlannedList, steps: readonly Step[], options: PlanOptions): PlanWarning[] {
  const dockerHub = list.upstreams.find((u) => u.host === "docker.io");
  const hubPulls = steps.filter(
    (s) =>
      (s.action === "copy" || s.action === "update") &&
      s.kind === "image" &&
      s.entry.reference.domain === "docker.io",
  ).length;
  if (hubPulls <= DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR || options.dockerHubCredentials || dockerHub?.endpoint)
    return [];
  const limit = `the anonymous limit is about ${DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR} pulls an hour (each platform of a multi-arch image counts)`;
  const endpoint =
    "or fetch docker.io through an endpoint: upstreams: { docker.io: { endpoint: https://mirror.gcr.io } }";
  // In a plan job the copies run in the sync job, whose credentials this job cannot see.
  if (options.copiesElsewhere)
    return [
      {
        message: `the sync of this plan pulls at least ${hubPulls} images from Docker Hub; if the sync job has no Docker Hub credentials, ${limit}`,
        hint: `give the sync job docker-hub-username and docker-hub-token (this plan job needs none), ${endpoint}`,
      },
    ];
  return [
    {
      message: `this plan pulls at least ${hubPulls} images from Docker Hub anonymously; ${limit}`,
      hint: `give Docker Hub credentials (docker-hub-username and docker-hub-token), ${endpoint}`,
    },
  ];
}

/** One warning counting the wanted tags ECR is still restoring (ACTIVATING), or none. */
function restoringWarning(entrySteps: readonly EntryStep[], observed: ObservedTarget): PlanWarning[] {
  const restoring = entrySteps.filter(
    (s) =>
      s.action === "present" &&
      observed.repositories.get(s.repository)?.archived?.get(s.tag) === "ACTIVATING",
  ).length;
  if (restoring === 0) return [];
  const one = restoring === 1;
  return [
    {
      message: `${restoring} tag${one ? " is" : "s are"} still being restored from the ECR archive: nodes cannot pull ${one ? "it" : "them"} until ECR finishes (usually within 20 minutes)`,
    },
  ];
}

/** A step's reason while ECR restores the tag's image from the archive. */
export const BEING_RESTORED =
  "being restored from the ECR archive (ACTIVATING): pullable once ECR finishes, usually within 20 minutes";

/**
 * The digest a copy must land with, when known: the pinned one, or for one platform the manifest crane's matching
 * picks from what the plan read upstream (the copy is then verified against it).
 */
function copiedDigest(w: Wanted, options: PlanOptions): string | null {
  if (w.pinned !== null || w.platforms.length !== 1) return w.pinned;
  const up = options.upstreamDigests?.get(w.source);
  return (up && expectedFromUpstream(w, up)?.[0]) ?? null;
}

/**
 * What moved in a platform subset (`crane index filter`): null when the target's subset index (`kept`, unknown:
 * null too) holds what the filter would keep now (`expected`), else the platforms whose children differ.
 */
function subsetChanges(
  w: Wanted,
  kept: readonly IndexChild[] | undefined,
  up: UpstreamDigest,
  expected: readonly string[],
): string | null {
  if (!kept) return null;
  const upstreamChildren = up.content?.kind === "index" ? up.content.children : [];
  const changed = w.platforms.filter(
    (p) =>
      digestsOf(childrenForPlatforms(upstreamChildren, [p])) !== digestsOf(childrenForPlatforms(kept, [p])),
  );
  if (changed.length > 0) return changed.join(", ");
  return expected.join() === digestsOf(kept) ? null : "the kept platforms";
}

/** The step for a tag the repository may hold, its archive status considered. */
function planPresentRepository(
  w: Wanted,
  repo: ObservedRepository,
  options: PlanOptions,
  base: EntryBase,
  reconciles: boolean,
): EntryStep {
  const step = planHeldTag(w, repo, options, base, reconciles);
  const status = repo.archived?.get(w.tag);
  if (status === undefined || step.action === "copy") return step;
  if (step.action !== "present") {
    const held = status === "ARCHIVED" ? "archived" : "being restored from the archive";
    return { ...step, reason: `${step.reason} (the target's image is ${held})` };
  }
  if (status === "ACTIVATING") return { ...step, reason: BEING_RESTORED };
  return {
    ...step,
    action: "restore",
    reason: "archived in ECR: restored to the standard storage class, not copied again",
  };
}

function planHeldTag(
  w: Wanted,
  repo: ObservedRepository,
  options: PlanOptions,
  base: EntryBase,
  reconciles: boolean,
): EntryStep {
  if (!repo.tags.has(w.tag)) {
    return {
      ...base,
      action: "copy",
      digest: copiedDigest(w, options),
      targetDigest: null,
      reason: "missing in the target",
    };
  }
  const held = repo.tags.get(w.tag) ?? null;
  const moved = (expected: string, why: string): EntryStep => {
    if (tagIsMutable(w.tag, repo.imageTagMutability, repo.imageTagMutabilityExclusionFilters)) {
      return {
        ...base,
        action: "update",
        digest: expected,
        targetDigest: held,
        reason: `${why}; the tag is mutable, so it is overwritten`,
      };
    }
    return {
      ...base,
      action: "blocked",
      digest: expected,
      targetDigest: held,
      reason: `${why}, but ${w.tag} is immutable in ${w.repository} (${repo.imageTagMutability}); mirror the new content under a new tag, or ${reconciles ? "exclude the tag from immutability with imageTagMutabilityExclusionFilters in the list" : "exclude the tag with imageTagMutabilityExclusionFilters in the list and set target.reconcileSettings: true (settings otherwise apply only to new repositories)"}`,
    };
  };
  if (w.pinned !== null) {
    if (held === null || held === w.pinned) {
      return {
        ...base,
        action: "present",
        digest: w.pinned,
        targetDigest: held,
        reason: "holds the pinned digest",
      };
    }
    return moved(w.pinned, `the target holds ${short(held)} but the list pins ${short(w.pinned)}`);
  }
  if (options.resync === "missing") {
    return {
      ...base,
      action: "present",
      digest: held,
      targetDigest: held,
      reason: "present (resync missing: the upstream is not asked)",
    };
  }
  const up = options.upstreamDigests?.get(w.source);
  if (!up) {
    return {
      ...base,
      action: "present",
      digest: held,
      targetDigest: held,
      reason: "present; the upstream digest is unknown",
    };
  }
  const expected = expectedFromUpstream(w, up);
  if (expected !== undefined && w.platforms.length > 1) {
    const changed = subsetChanges(w, repo.subsetChildren?.get(w.tag), up, expected);
    if (changed === null) {
      const reason = repo.subsetChildren?.has(w.tag)
        ? "present; the kept platforms match the upstream"
        : "present; the target's subset index was not read";
      return { ...base, action: "present", digest: held, targetDigest: held, reason };
    }
    return moved(up.digest, `${changed} moved upstream`);
  }
  if (expected === undefined) {
    return {
      ...base,
      action: "present",
      digest: held,
      targetDigest: held,
      reason: `present; the upstream has no ${w.platforms.join(", ")} manifest to compare`,
    };
  }
  const want = expected[0]!;
  if (held === want) {
    return {
      ...base,
      action: "present",
      digest: held,
      targetDigest: held,
      reason: "present and identical to the upstream",
    };
  }
  return moved(want, `the tag moved upstream (target ${short(held)}, upstream ${short(want)})`);
}

function pruneSteps(
  list: PlannedList,
  observed: ObservedTarget,
  wanted: Wanted[],
  warnings: PlanWarning[],
): DeleteStep[] {
  if (list.target.type !== "ecr") {
    warnings.push({
      message: "prune is only carried out on ECR targets; nothing is deleted from this registry",
    });
    return [];
  }
  const prefixes = managedPrefixes(list);
  const keep = new Set(wanted.map((w) => `${w.repository}:${w.tag}`));
  const steps: DeleteStep[] = [];
  for (const repo of [...observed.repositories.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!prefixes.some((p) => repo.name.startsWith(`${p}/`))) continue; // never outside the managed prefixes
    // The digests the kept tags hold: their signatures and referrers indexes stay with them.
    const keptDigests = new Set(
      [...repo.tags].flatMap(([tag, digest]) => (digest && keep.has(`${repo.name}:${tag}`) ? [digest] : [])),
    );
    for (const [tag, digest] of [...repo.tags].sort(([a], [b]) => a.localeCompare(b))) {
      if (keep.has(`${repo.name}:${tag}`) || keptForSubject(tag, keptDigests)) continue;
      const archived = repo.archived?.has(tag)
        ? "; archived: ECR bills archived images for at least 90 days"
        : "";
      steps.push({
        action: "delete",
        kind: "image",
        repository: repo.name,
        tag,
        targetDigest: digest,
        reason: `no longer in the mirror list (prune is on)${archived}`,
      });
    }
  }
  return steps;
}
