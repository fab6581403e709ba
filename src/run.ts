/**
 * The flow both entries share: list -> observe -> plan (and, in later phases, execute, render,
 * report). The action and the CLI call these functions and only differ in how they print.
 */
import type { ECRClient } from "@aws-sdk/client-ecr";
import { type ChartPreparationOptions, prepareCharts } from "./charts/prepare.js";
import { missingChartVersions } from "./charts/prove.js";
import type { ExecutionReport } from "./execute/execute.js";
import { type CarryOutOptions, type CarryOutResult, carryOutPlan } from "./execute/sync.js";
import type { ImageEntry, MirrorList } from "./list/model.js";
import { imageEntryFor } from "./list/parse.js";
import { parseReference, referenceName } from "./list/reference.js";
import type { RangesLock } from "./list/tag-ranges.js";
import { createEcrClient, EcrObserver, explainAwsError, ObserveError } from "./observe/ecr.js";
import type { ObservedTarget } from "./observe/model.js";
import { observeRegistry } from "./observe/oci-registry.js";
import { findAllReferrers, type ReferrerSubject } from "./observe/referrers.js";
import { resolveImageRanges } from "./observe/tag-ranges.js";
import { checkUpstreamDigests, indexChildren, UpstreamClients } from "./observe/upstream.js";
import { guardDeletions } from "./plan/deletions.js";
import {
  isEntryStep,
  isTransferStep,
  type Plan,
  type PlannedList,
  type PullNeed,
  plannedList,
  type ResyncMode,
} from "./plan/model.js";
import { managedPrefixes, type PlanOptions, planMirror, targetTag } from "./plan/plan.js";
import { planReferrers, type ReferrerPlanInput } from "./plan/referrers.js";
import { onlyEntries } from "./plan/shards.js";
import { mapWithConcurrency } from "./pool.js";
import { DistributionClient, type RateLimit, type RequestCounts } from "./registry/distribution.js";
import { RegistrySchemes } from "./registry/scheme.js";
import { type ChartImagesRecord, chartImagesRecord } from "./render/chart-images.js";
import { type NodeRenderResult, renderNodeConfig } from "./render/index.js";
import type { NodeConfigTarget } from "./render/node-config.js";
import { textProgress } from "./report/progress.js";
import {
  credentialFor,
  type EcrAuthorization,
  type RegistryCredential,
  SecretMask,
  upstreamCredentials,
} from "./tools/credentials.js";
import { fetchEcrAuthorization } from "./tools/ecr-authorization.js";
import { InvocationCounter } from "./tools/runner.js";

export interface TargetOptions {
  /** The CLI's --region: overrides the list's target.region. */
  region?: string | null;
  /** The action's aws-region input: used only when the list sets no target.region (then AWS_REGION). */
  defaultRegion?: string | null;
  /** For `oci` targets: `http(s)://host[:port]`, overriding the list's registry (the scheme matters for plain HTTP). */
  registryUrl?: string | null;
  /** For `oci` targets: credentials, if the registry needs them. */
  registryAuth?: { username: string; password: string } | null;
  mask: SecretMask;
  env?: NodeJS.ProcessEnv;
  /** Tests inject a client; otherwise one is created for the region. */
  ecrClient?: ECRClient;
}

/** A connected target: where it is, how to observe it, what that cost, and how to push to it. */
export interface TargetConnection {
  kind: "ecr" | "oci";
  /** `host[:port]` as image references carry it. */
  registry: string;
  /** What the target (and every other registry of the run) answered on: crane's scheme rule, registry/scheme.ts. */
  schemes: RegistrySchemes;
  region: string | null;
  ecrClient: ECRClient | null;
  observe(
    wanted: ReadonlySet<string>,
    needDigest: ReadonlyMap<string, ReadonlySet<string>>,
    prunePrefixes: readonly string[],
    /** Repositories whose settings are read too (`target.reconcileSettings`; ECR only). */
    settingsOf?: ReadonlySet<string>,
  ): Promise<ObservedTarget>;
  /** The manifest a tag points at in the target, or null. */
  manifest(repository: string, tag: string): Promise<Record<string, unknown> | null>;
  /** Credentials for pushes (ECR: from GetAuthorizationToken, fetched once). */
  pushCredential(): Promise<RegistryCredential | null>;
  /** The registry client reads of the target go through (referrers), with the push credentials. */
  registryClient(): Promise<DistributionClient>;
  /** API calls and registry requests made so far, by kind. */
  cost(): { ecr: Record<string, number>; registry: RequestCounts };
}

function resolveRegion(list: MirrorList, options: TargetOptions): string {
  const env = options.env ?? process.env;
  const region =
    options.region || list.target.region || options.defaultRegion || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new ObserveError(
      "no AWS region for the ECR target",
      "set target.region in the mirror list, the action's aws-region input, or AWS_REGION",
    );
  }
  return region;
}

function hostOf(url: string): string {
  return new URL(url).host;
}

export async function connectTarget(list: MirrorList, options: TargetOptions): Promise<TargetConnection> {
  if (list.target.type === "oci" || options.registryUrl) {
    const registry = options.registryUrl ? hostOf(options.registryUrl) : list.target.registry!;
    const auth = options.registryAuth ?? null;
    if (auth) options.mask.addBasic(auth.username, auth.password);
    const counts: RequestCounts = {};
    const schemes = new RegistrySchemes();
    const client = new DistributionClient({ baseUrl: `https://${registry}`, auth, counts, schemes });
    return {
      kind: "oci",
      registry,
      schemes,
      region: null,
      ecrClient: null,
      observe: (wanted, needDigest) => observeRegistry(client, registry, wanted, needDigest),
      manifest: async (repository, tag) => (await client.getManifest(repository, tag))?.body ?? null,
      pushCredential: async () => (auth ? { registry, ...auth } : null),
      registryClient: async () => client,
      cost: () => ({ ecr: {}, registry: counts }),
    };
  }

  const region = resolveRegion(list, options);
  const client = options.ecrClient ?? createEcrClient(region);
  const observer = new EcrObserver(client);
  let authorization: EcrAuthorization | null = null;
  const authorize = async (): Promise<EcrAuthorization> => {
    if (!authorization) {
      observer.calls.GetAuthorizationToken = (observer.calls.GetAuthorizationToken ?? 0) + 1;
      authorization = await fetchEcrAuthorization(client, options.mask).catch((e: unknown) => {
        throw explainAwsError(e, "ecr:GetAuthorizationToken");
      });
      const account = authorization.registry.split(".")[0];
      if (list.target.accountId && account !== list.target.accountId && /^\d{12}$/.test(account ?? "")) {
        throw new ObserveError(
          `the AWS credentials reach account ${account}, but the mirror list targets ${list.target.accountId}`,
          "assume a role in the target account, or correct target.accountId",
        );
      }
    }
    return authorization;
  };
  const discovered = list.target.registry ? null : await authorize();
  const registry = discovered?.registry ?? list.target.registry!;
  const schemes = new RegistrySchemes();
  const registryCounts: RequestCounts = {};
  let registryClient: DistributionClient | null = null;
  return {
    kind: "ecr",
    registry,
    schemes,
    region,
    ecrClient: client,
    observe: (wanted, _needDigest, prunePrefixes, settingsOf) =>
      observer.observe(registry, wanted, prunePrefixes, settingsOf),
    manifest: (repository, tag) => observer.manifest(repository, tag),
    pushCredential: async () => {
      const a = await authorize();
      return { registry: a.registry, username: a.username, password: a.password };
    },
    registryClient: async () => {
      if (!registryClient) {
        const a = await authorize();
        registryClient = new DistributionClient({
          baseUrl: `https://${registry}`,
          auth: { username: a.username, password: a.password },
          counts: registryCounts,
          schemes,
        });
      }
      return registryClient;
    },
    cost: () => ({ ecr: { ...observer.calls }, registry: registryCounts }),
  };
}

/** Where the target is and which credentials the run holds, as either entry gives them. */
export interface ConnectSettings {
  /** Overrides the list's target.region (the CLI's --region). */
  region: string | null;
  /** Applies only when the list sets no target.region (the action's aws-region input). */
  defaultRegion?: string | null;
  /** Checked by the `registry-url` option rule (options.ts) before it gets here. */
  registryUrl: string | null;
  registryAuth: { username: string; password: string } | null;
  /** Docker Hub and other upstream credentials: the action's inputs, the CLI's ECR_MIRROR_* variables. */
  upstream: Parameters<typeof upstreamCredentials>[0];
  mask: SecretMask;
  env?: NodeJS.ProcessEnv;
}

/** Both entries connect through this: upstream credentials (masked) and the connected target. */
export async function connect(
  list: MirrorList,
  settings: ConnectSettings,
): Promise<{ credentials: RegistryCredential[]; target: TargetConnection }> {
  const credentials = upstreamCredentials(settings.upstream);
  for (const c of credentials) settings.mask.addBasic(c.username, c.password);
  const target = await connectTarget(list, {
    region: settings.region,
    defaultRegion: settings.defaultRegion ?? null,
    registryUrl: settings.registryUrl,
    registryAuth: settings.registryAuth,
    mask: settings.mask,
    ...(settings.env ? { env: settings.env } : {}),
  });
  return { credentials, target };
}

export interface PlanRunOptions {
  resync: ResyncMode;
  /** Entries whose target digest must be observed even on plain registries (the node configurator's image). */
  observeDigestOf?: readonly ImageEntry[];
  /** Upstream credentials (Docker Hub and others), used for digest checks. */
  upstreamCredentials: readonly RegistryCredential[];
  /** The plan is carried out later, by another job (the action's mode plan). */
  copiesElsewhere?: boolean;
  /**
   * Prove every copy can happen before anything is copied (plan mode, the pull-request review): each entry to copy
   * is asked for upstream, and one the upstream lacks fails the plan on its line. A sync does not ask twice: its
   * copies find out, and one missing entry fails alone.
   */
  proveCopies?: boolean;
  fetch?: typeof fetch;
  /**
   * Chart version ranges and image discovery (`images: true`): helm, its install options, the mask, and
   * `known`, the chart images record of an earlier run (charts it holds are not rendered again).
   */
  charts?: Omit<ChartPreparationOptions, "upstreamCredentials" | "fetch">;
  /** The run's deletion limit over the list's `target.maxDeletions` (plan/deletions.ts); sync checks it. */
  deletionLimit?: { limit: number; from: string } | null;
  /**
   * Image tag ranges: the lock an earlier run wrote (its ranges are not asked for again), and `relock` to ask the
   * upstream for every range anyway. Resync mode `digest` relocks too.
   */
  ranges?: { lock: RangesLock | null; relock?: boolean };
  /**
   * A shard of a sharded sync: plan only these entries (`repository:tag`, plan/shards.ts `stepKey`), so only
   * their repositories are observed.
   */
  entries?: ReadonlySet<string>;
}

export interface PlanRunResult {
  plan: Plan;
  cost: { ecr: Record<string, number>; target: RequestCounts; upstream: RequestCounts };
  /** The list the plan was made from: chart ranges resolved, images found in charts added. */
  list: PlannedList;
  /** What image discovery found in each chart version with `images: true`, for `chart-images.json`. */
  chartImages: ChartImagesRecord;
  /** Chart versions rendered (`helm template`) by this plan; the others came from the record. */
  chartsRendered: number;
  /** The image tag ranges' resolution, for the render folder's lock file; null when the list has no range. */
  rangesLock: RangesLock | null;
}

/** What the target holds of the list: the repositories, their tags, and the digests the plan compares. */
async function observeTarget(list: PlannedList, target: TargetConnection, options: PlanRunOptions) {
  const wanted = new Set([...list.images.map((i) => i.repository), ...list.charts.map((c) => c.repository)]);
  // Digests the plan compares: pinned entries always; in digest mode every tag-only entry too.
  const needDigest = new Map<string, Set<string>>();
  const digestOf = new Set((options.observeDigestOf ?? []).map((i) => `${i.repository}:${targetTag(i)}`));
  for (const image of list.images) {
    const key = `${image.repository}:${targetTag(image)}`;
    if (image.reference.digest !== null || options.resync === "digest" || digestOf.has(key)) {
      const set = needDigest.get(image.repository) ?? new Set<string>();
      set.add(targetTag(image));
      needDigest.set(image.repository, set);
    }
  }
  return target.observe(
    wanted,
    needDigest,
    list.target.prune ? managedPrefixes(list) : [],
    list.target.reconcileSettings ? wanted : new Set(),
  );
}

/**
 * What the upstreams hold now, for the planner. In digest mode: every tag-only entry the target holds (only those
 * can have moved; absent ones are copied anyway). The platform-filtered entries the plan copies, so that a platform
 * the upstream image lacks fails the plan before anything is copied. With `proveCopies` (plan mode): every entry and
 * chart version the plan copies (a HEAD, free against Docker Hub's pull limits; a GET for platform-filtered ones; a
 * chart repository's index), so one the upstream lacks fails the plan on its line. A plan that copies nothing in mode
 * `missing` sends nothing upstream.
 */
async function askUpstream(
  list: PlannedList,
  observed: ObservedTarget,
  target: TargetConnection,
  options: PlanRunOptions,
): Promise<{ findings: Partial<PlanOptions>; counts: RequestCounts; pulls: PullNeed[] }> {
  const held = (i: ImageEntry) => observed.repositories.get(i.repository)?.tags.has(targetTag(i)) === true;
  const present =
    options.resync === "digest" ? list.images.filter((i) => i.reference.digest === null && held(i)) : [];
  // Entries whose referrers travel need their digest on a first copy too: the referrers are looked up by it.
  const copied = list.images.filter(
    (i) => !held(i) && (options.proveCopies || i.platforms.length > 0 || i.referrers === true),
  );
  // A platform subset is a new index: compare its children, one manifest read per such tag.
  await mapWithConcurrency(
    present.filter((i) => i.platforms.length > 1),
    8,
    async (i) => {
      const repo = observed.repositories.get(i.repository)!;
      const manifest = await target.manifest(i.repository, targetTag(i));
      if (!manifest) return;
      repo.subsetChildren ??= new Map();
      repo.subsetChildren.set(targetTag(i), indexChildren(manifest) ?? []);
    },
  );
  const fetchOption = options.fetch ? { fetch: options.fetch } : {};
  const upstream =
    present.length + copied.length > 0
      ? await checkUpstreamDigests(
          [...present, ...copied],
          list.upstreams,
          options.upstreamCredentials,
          fetchOption,
        )
      : null;
  const findings: Partial<PlanOptions> = upstream
    ? upstreamFindings(upstream, options.proveCopies ? copied : [])
    : {};
  const counts: RequestCounts = { ...(upstream?.counts ?? {}) };
  const pulls = upstream ? pullNeeds(copied, list, upstream.budgets) : [];
  if (!options.proveCopies) return { findings, counts, pulls };
  const chartProof = await missingChartVersions(
    list.charts.filter((c) => observed.repositories.get(c.repository)?.tags.has(c.tag) !== true),
    list.upstreams,
    options.upstreamCredentials,
    { ...fetchOption, schemes: target.schemes },
  );
  if (chartProof.missing.size > 0)
    findings.upstreamMissing = new Map([...(findings.upstreamMissing ?? []), ...chartProof.missing]);
  if (chartProof.unreachable.size > 0)
    findings.upstreamFailures = new Map([...(findings.upstreamFailures ?? []), ...chartProof.unreachable]);
  for (const [kind, n] of Object.entries(chartProof.counts)) counts[kind] = (counts[kind] ?? 0) + n;
  return { findings, counts, pulls };
}

/**
 * The counted pulls the copies need from each upstream that stated a budget: at least one per image, one per
 * platform kept (Docker Hub counts each platform manifest a multi-arch copy reads).
 */
function pullNeeds(
  copied: readonly ImageEntry[],
  list: PlannedList,
  budgets: ReadonlyMap<string, RateLimit>,
): PullNeed[] {
  const needs: PullNeed[] = [];
  for (const [host, budget] of budgets) {
    const fetchedFrom = (i: ImageEntry) => {
      const endpoint = list.upstreams.find((u) => u.host === i.reference.domain)?.endpoint;
      return endpoint ? new URL(endpoint).host : i.reference.domain;
    };
    const needed = copied
      .filter((i) => fetchedFrom(i) === host)
      .reduce((n, i) => n + Math.max(1, i.platforms.length), 0);
    if (needed > 0)
      needs.push({
        upstream: host,
        needed,
        remaining: budget.remaining,
        limit: budget.limit,
        windowSeconds: budget.windowSeconds,
      });
  }
  return needs;
}

/**
 * What the upstream check tells the planner: an entry to copy (`proved`) that the upstream lacks fails the plan;
 * any other entry the upstream lacks only warns (a held tag stays in the mirror; a sync's copy finds out itself).
 */
function upstreamFindings(
  upstream: Awaited<ReturnType<typeof checkUpstreamDigests>>,
  copied: readonly ImageEntry[],
): Pick<PlanOptions, "upstreamDigests" | "upstreamFailures" | "upstreamMissing"> {
  const toCopy = new Set(copied.map((i) => i.source));
  const upstreamMissing = new Map<string, string>();
  const upstreamFailures = new Map(upstream.failures);
  for (const [source, why] of upstream.missing) {
    if (toCopy.has(source)) upstreamMissing.set(source, why);
    else upstreamFailures.set(source, `the tag no longer exists upstream (${why})`);
  }
  return { upstreamDigests: upstream.digests, upstreamFailures, upstreamMissing };
}

/**
 * The referrers of the entries that carry theirs (`referrers: true`), upstream and in the target, for
 * `planReferrers`: only for entries the plan copies or updates, and in resync `digest` for present ones too, so a
 * plan with nothing to copy in resync `missing` still sends nothing upstream. The subject is the digest the target
 * holds or will hold (pinned, observed upstream, or held).
 */
async function lookForReferrers(
  plan: Plan,
  list: PlannedList,
  target: TargetConnection,
  options: PlanRunOptions,
  upstreamDigests: PlanOptions["upstreamDigests"],
): Promise<ReferrerPlanInput & { counts: RequestCounts }> {
  const subjects: ReferrerSubject[] = [];
  for (const step of plan.steps) {
    if (!isEntryStep(step) || step.kind !== "image" || !step.entry.referrers || step.action === "blocked")
      continue;
    if (options.resync === "missing" && !isTransferStep(step)) continue;
    const digest = isTransferStep(step)
      ? (step.digest ?? upstreamDigests?.get(step.source)?.digest)
      : (step.targetDigest ?? step.digest);
    if (digest) subjects.push({ entry: step.entry, digest });
  }
  const counts: RequestCounts = {};
  if (subjects.length === 0)
    return { upstream: new Map(), target: new Map(), refused: new Map(), failures: new Map(), counts };
  const pool = new UpstreamClients(list.upstreams, options.upstreamCredentials, {
    counts,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  // The target first: a referrer it holds was checked when it was copied, and is not read upstream again.
  const targetClient = await target.registryClient();
  const held = await findAllReferrers(
    subjects,
    (entry) => ({ client: targetClient, repository: entry.repository }),
    { verify: () => false },
  );
  const heldDigests = (entry: ImageEntry) =>
    new Set(held.found.get(entry.source)?.referrers.map((r) => r.digest) ?? []);
  const upstream = await findAllReferrers(
    subjects,
    (entry) => ({ client: pool.clientFor(entry).client, repository: entry.reference.path }),
    { verify: (entry, digest) => !heldDigests(entry).has(digest) },
  );
  return {
    upstream: upstream.found,
    target: held.found,
    refused: upstream.refused,
    failures: upstream.failures,
    counts,
  };
}

/** Observe the target (and, in resync mode `digest`, the upstreams) and plan. Changes nothing. */
export async function planRun(
  listed: MirrorList,
  target: TargetConnection,
  options: PlanRunOptions,
): Promise<PlanRunResult> {
  // Image tag ranges become tags (from the lock, else the upstream's tag list); then charts: ranges become
  // concrete versions, and images inside charts join the list.
  const ranged = await resolveImageRanges(listed, {
    lock: options.ranges?.lock ?? null,
    relock: options.resync === "digest" || options.ranges?.relock === true,
    upstreamCredentials: options.upstreamCredentials,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const charts = await prepareCharts(ranged.list, {
    upstreamCredentials: options.upstreamCredentials,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...options.charts,
    mask: options.charts?.mask ?? new SecretMask(() => {}),
  });
  const list = plannedList(options.entries ? onlyEntries(charts.list, options.entries) : charts.list);
  const observed = await observeTarget(list, target, options);
  const { findings, counts, pulls } = await askUpstream(list, observed, target, options);
  let plan = planMirror(list, observed, {
    resync: options.resync,
    dockerHubCredentials: credentialFor("docker.io", options.upstreamCredentials) !== null,
    ...(options.copiesElsewhere ? { copiesElsewhere: true } : {}),
    ...findings,
  });
  const referrers = await lookForReferrers(plan, list, target, options, findings.upstreamDigests);
  for (const [kind, n] of Object.entries(referrers.counts)) counts[kind] = (counts[kind] ?? 0) + n;
  plan = planReferrers(plan, list, observed, referrers);
  plan.warnings.push(...ranged.warnings, ...charts.warnings);
  if (ranged.expansions.length > 0) plan.ranges = ranged.expansions;
  if (pulls.length > 0) {
    plan.pulls = pulls;
    for (const p of pulls.filter((x) => x.needed > x.remaining))
      plan.warnings.push({
        message: `the sync needs at least ${p.needed} counted pulls from ${p.upstream}, which has ${p.remaining} left: it copies what fits and leaves the rest for the next run`,
        hint: "give Docker Hub credentials (a higher budget), fetch through an upstream endpoint such as a pull-through cache, or let the nightly sync finish the job",
      });
  }
  const cost = target.cost();
  const upstreamCost: RequestCounts = { ...counts };
  for (const [kind, n] of [...Object.entries(charts.counts), ...Object.entries(ranged.counts)])
    upstreamCost[kind] = (upstreamCost[kind] ?? 0) + n;
  return {
    plan,
    cost: { ecr: cost.ecr, target: cost.registry, upstream: upstreamCost },
    list,
    chartImages: chartImagesRecord(charts.discovered),
    chartsRendered: charts.rendered,
    rangesLock: ranged.lock,
  };
}

export interface SyncRunOptions
  extends PlanRunOptions,
    Omit<CarryOutOptions, "target" | "upstreamCredentials" | "progress"> {
  /** The steps' progress as it happens; default: worded (`report/progress.ts`) into `log`. */
  progress?: CarryOutOptions["progress"];
}

export interface SyncRunResult extends PlanRunResult, CarryOutResult {}

/**
 * Observe, plan and carry the plan out: create, copy, update and verify, prune last. A no-op plan installs
 * nothing and starts no process.
 */
export async function syncRun(
  list: MirrorList,
  target: TargetConnection,
  options: SyncRunOptions,
): Promise<SyncRunResult> {
  // One counter for the plan's helm runs (image discovery) and the sync's: `processes` counts both.
  const counter = options.counter ?? new InvocationCounter();
  const planned = await planRun(list, target, {
    ...options,
    // Image discovery runs helm at plan time with the sync's own mask, counter and helm settings.
    charts: {
      mask: options.mask,
      counter,
      ...(options.helm ? { helm: options.helm } : {}),
      ...(options.toolLimits ? { toolLimits: options.toolLimits } : {}),
      ...(options.tempRoot ? { tempRoot: options.tempRoot } : {}),
      ...(options.debug ? { log: options.debug } : {}),
      ...options.charts,
    },
  });
  // Above the deletion limit the sync fails here, before anything is created, copied or deleted.
  guardDeletions(planned.plan, planned.list, options.deletionLimit ?? null);
  const carried = await carryOutPlan(planned.plan, planned.list, {
    ...options,
    progress: options.progress ?? textProgress(options.log),
    counter,
    target,
    upstreamCredentials: options.upstreamCredentials,
  });
  return { ...planned, ...carried };
}

/**
 * The list with the node configurator's image in it: rendering needs that image mirrored, so it is
 * added to the plan when the list does not name it already (any tag of the same repository counts).
 */
export function withConfiguratorImage(
  list: MirrorList,
  reference: string,
): { list: MirrorList; entry: ImageEntry } {
  const parsed = parseReference(reference);
  if (!parsed.ok)
    throw new ObserveError(
      `the configurator image "${reference}" is not a valid reference: ${parsed.error}`,
      parsed.hint,
    );
  const name = referenceName(parsed.value);
  const listed = list.images.find((i) => referenceName(i.reference) === name);
  if (listed) return { list, entry: listed };
  const made = imageEntryFor(reference, list, { file: list.file, line: 1, column: 1 });
  if (!made.ok)
    throw new ObserveError(
      `the configurator image "${reference}" cannot be mirrored: ${made.error}`,
      made.hint,
    );
  // Marked: the nodes pull it by its ECR name, so its host is not redirected for it (list/redirects.ts).
  const entry: ImageEntry = { ...made.entry, configurator: true };
  return { list: { ...list, images: [...list.images, entry], upstreams: made.upstreams }, entry };
}

/** The digest the target holds for `entry` after a plan (and a sync, when one ran). */
export function digestInTarget(entry: ImageEntry, plan: Plan, report?: ExecutionReport): string | null {
  const tag = targetTag(entry);
  const done = report?.steps.find((s) => s.repository === entry.repository && s.tag === tag && s.digest);
  if (done?.digest) return done.digest;
  const planned = plan.steps.find(
    (s) => s.kind !== "repository" && s.repository === entry.repository && s.tag === tag,
  );
  // A restore keeps the digest the tag holds (archived tags come back with the same image).
  return planned?.action === "present" || planned?.action === "restore"
    ? (planned.targetDigest ?? planned.digest)
    : null;
}

/**
 * The node-side files for this target: hosts.toml per upstream, the DaemonSet, the NodeConfig, and the
 * chart images record. `list` is the planned list (`PlanRunResult.list`: upstreams of images found in
 * charts included), `chartImages` the plan's `PlanRunResult.chartImages`.
 */
export function renderNodeFiles(
  list: MirrorList,
  target: Pick<TargetConnection, "registry" | "region">,
  configurator: { entry: ImageEntry; digest: string | null },
  options: {
    startupTaint: boolean;
    nodeConfig?: NodeConfigTarget;
    chartImages?: ChartImagesRecord | null;
    rangesLock?: RangesLock | null;
  },
): NodeRenderResult {
  return renderNodeConfig(list, {
    registry: target.registry,
    region: target.region,
    configuratorImage: configurator.digest
      ? {
          repository: configurator.entry.repository,
          digest: configurator.digest,
          source: referenceName(configurator.entry.reference),
        }
      : null,
    startupTaint: options.startupTaint,
    nodeConfig: options.nodeConfig ?? "none",
    chartImages: options.chartImages ?? null,
    rangesLock: options.rangesLock ?? null,
  });
}
