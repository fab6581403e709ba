/**
 * The execute phase's shell: installs crane (and helm, only when an HTTP chart is to be copied) through the
 * tool cache, opens a credential session for the target and the upstreams, wires the adapters and runs the
 * plan. A plan with nothing to do installs nothing and starts no process.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import type { ECRClient } from "@aws-sdk/client-ecr";
import { UpstreamManifests } from "../observe/manifests.js";
import type { UpstreamBudget } from "../plan/budget.js";
import { isTransferStep, type Plan, type PlannedList, type TransferStep } from "../plan/model.js";
import { stepKey } from "../plan/shards.js";
import { type CopyContent, type SharingFigures, sharingFigures } from "../plan/sharing.js";
import { DistributionClient } from "../registry/distribution.js";
import type { RegistrySchemes } from "../registry/scheme.js";
import { Crane } from "../tools/crane.js";
import {
  type CredentialSession,
  openCredentialSession,
  type RegistryCredential,
  type SecretMask,
} from "../tools/credentials.js";
import { Helm } from "../tools/helm.js";
import { type InstalledTool, type InstallOptions, installCrane, installHelm } from "../tools/install.js";
import { formatJson } from "../tools/log-safe.js";
import { InvocationCounter, type ToolLimits } from "../tools/runner.js";
import { assessPullBudget } from "./budget.js";
import { createCopier } from "./copier.js";
import { ecrTargetChanges, ociTargetChanges } from "./ecr-changes.js";
import { type ExecuteDeps, type ExecuteOptions, type ExecutionReport, executePlan } from "./execute.js";
import { ecrMountingOff, prepareSharing, type SharingReport } from "./mounts.js";
import { ManifestPace, manifestsOf, type PaceOptions, type PaceReport, putThrottled } from "./pace.js";

export interface CarryOutOptions
  extends Pick<ExecuteOptions, "concurrency" | "retries" | "retry" | "progress" | "group" | "now"> {
  /** Lines about installing the tools (`core.info`, stderr); the steps' progress goes to `progress`. */
  log: (line: string) => void;
  target: {
    kind: "ecr" | "oci";
    /** `host[:port]` the plan's references use. */
    registry: string;
    /** What the target answered on (crane's scheme rule, registry/scheme.ts). */
    schemes: RegistrySchemes;
    ecrClient: ECRClient | null;
    /** The push credential (ECR: from GetAuthorizationToken), asked for only when something is pushed. */
    pushCredential: () => Promise<RegistryCredential | null>;
  };
  upstreamCredentials: readonly RegistryCredential[];
  mask: SecretMask;
  crane?: InstallOptions;
  helm?: InstallOptions;
  /** Bounds on every crane and helm process (stall timeout, overall limit). */
  toolLimits?: ToolLimits;
  /** An already installed crane (the CLI's `--target local` installed one to serve the registry). */
  craneBinary?: string | null;
  /** Where the credential session and chart downloads live (default RUNNER_TEMP, else the OS temp folder). */
  tempRoot?: string;
  /** Tool output and command lines, secrets redacted (`core.debug`). */
  debug?: (line: string) => void;
  /** Counts every process started (a fresh one when not given). */
  counter?: InvocationCounter;
  /**
   * Layer sharing (mount each shared layer from a repository that holds it instead of uploading it again):
   * default on; `false` turns it off.
   */
  shareLayers?: boolean;
  /** The run's upstream manifest cache (manifests the plan already read are not read again). */
  manifests?: UpstreamManifests;
  /** For the in-process upstream reads (tests). */
  fetch?: typeof fetch;
  /**
   * Manifest PUTs a second across all copies in flight (ECR's PutImage quota; default 10 for ECR, no pacing for
   * other registries unless given).
   */
  putImageRate?: number | null;
  /** Concurrent layer uploads within one copy (crane `--jobs`); crane's default when unset. */
  layerJobs?: number | null;
  /** The pace's clock and sleep (tests). */
  pace?: Pick<PaceOptions, "now" | "sleep">;
  /**
   * A shard of a sharded sync (plan/shards.ts): the copies' contents its plan job read (not read again), the blobs
   * its seed brought (digest to repository, mounted from there), and the shards running at once, which share the
   * upstreams' pull budgets (the PutImage rate is divided by the caller).
   */
  shard?: {
    contents: ReadonlyMap<string, CopyContent>;
    held: ReadonlyMap<string, string>;
    parallel: number;
  };
}

/** ECR's default PutImage quota: 10 calls a second per account and region. */
export const DEFAULT_PUT_IMAGE_RATE = 10;

export interface CarryOutResult {
  report: ExecutionReport;
  /** Processes started, by `tool subcommand`. */
  processes: Record<string, number>;
  tools: InstalledTool[];
  /** What layer sharing did (absent when nothing was copied). */
  sharing?: SharingReport;
  /** Upstream manifest GETs sent in process to learn the copies' layers (each a pull on Docker Hub). */
  upstreamReads?: number;
  /** How manifest PUTs were paced (absent when they were not). */
  pace?: PaceReport;
  /** Each upstream that states a pull budget: what was left, what the sync needed, what waits for the next run. */
  budgets?: UpstreamBudget[];
  /** Bytes the copies move with and without sharing, for the copies whose layers were read. */
  bytes?: SharingFigures;
}

/** Whether a plan has anything for the tools or the registry API to do. */
export function planHasWork(plan: Plan): boolean {
  return plan.steps.some((s) => s.action !== "present" && s.action !== "blocked");
}

const NOTHING_TO_DO: ExecuteDeps = {
  createRepository: () => Promise.reject(new Error("nothing to create")),
  reconcileSettings: () => Promise.reject(new Error("nothing to reconcile")),
  copy: () => Promise.reject(new Error("nothing to copy")),
  verify: () => Promise.reject(new Error("nothing to verify")),
  restore: () => Promise.reject(new Error("nothing to restore")),
  verifyRestore: () => Promise.reject(new Error("nothing to restore")),
  deleteTags: () => Promise.reject(new Error("nothing to delete")),
};

export async function carryOutPlan(
  plan: Plan,
  list: PlannedList,
  options: CarryOutOptions,
): Promise<CarryOutResult> {
  const counter = options.counter ?? new InvocationCounter();
  const executeOptions = executeOptionsFor(list, options);
  if (!planHasWork(plan)) {
    const report = await executePlan(plan, NOTHING_TO_DO, executeOptions);
    return { report, processes: counter.toJSON(), tools: [] };
  }

  const transfers = plan.steps.filter(isTransferStep);
  const { craneBinary, helmBinary, tools } = await installTools(transfers, options);

  const pushCredential = transfers.length > 0 ? await options.target.pushCredential() : null;
  const tempRoot = options.tempRoot ?? (process.env.RUNNER_TEMP || tmpdir());
  const session = await openCredentialSession({
    credentials: [...(pushCredential ? [pushCredential] : []), ...options.upstreamCredentials],
    mask: options.mask,
    tempRoot,
  });
  try {
    const { crane, helm } = toolRunners(session, { craneBinary, helmBinary }, counter, options);
    const target = options.target;
    const targetRegistry = new DistributionClient({
      baseUrl: `https://${target.registry}`,
      schemes: target.schemes,
      auth: pushCredential ? { username: pushCredential.username, password: pushCredential.password } : null,
    });
    const changes =
      target.kind === "ecr" && target.ecrClient ? ecrTargetChanges(target.ecrClient) : ociTargetChanges;
    const targetPlainHttp = async () => (await target.schemes.resolve(target.registry)) === "http";
    const copier = createCopier({
      crane,
      helm,
      helmLogin:
        helm && pushCredential
          ? async () =>
              helm.registryLogin(target.registry, pushCredential.username, pushCredential.password, {
                plainHttp: await targetPlainHttp(),
              })
          : null,
      upstreams: list.upstreams,
      registry: target.registry,
      targetPlainHttp,
      workDir: session.dir,
      // Verification reads the target over the registry API: one HEAD, no process.
      targetDigest: (repository, tag) => targetRegistry.headManifest(repository, tag),
      ...(options.layerJobs ? { jobs: options.layerJobs } : {}),
    });
    const { deps, order, sharing, reads, pace, budget, contents } = await withLayerSharing(
      transfers,
      { ...changes, ...copier },
      targetRegistry,
      list,
      options,
    );
    const { deferred, bytes } = announceBudgetAndBytes(plan, budget, order, contents, options.log);
    const report = await executePlan(plan, deps, {
      ...executeOptions,
      transferOrder: () => order,
      deferred,
      bytesOf: (step) => contents.get(step)?.blobs.reduce((sum, b) => sum + b.size, 0) ?? null,
    });
    logSharing(sharing.report, options.log);
    return {
      report,
      processes: counter.toJSON(),
      tools,
      sharing: sharing.report,
      upstreamReads: reads(),
      ...(pace ? { pace: pace.report } : {}),
      ...(budget.upstreams.length > 0 ? { budgets: budget.upstreams } : {}),
      ...(bytes.known > 0 ? { bytes } : {}),
    };
  } finally {
    await session.dispose();
  }
}

/** Logs the pull budgets and the bytes to move; the copies the budget leaves for the next run, and the figures. */
function announceBudgetAndBytes(
  plan: Plan,
  budget: Awaited<ReturnType<typeof withLayerSharing>>["budget"],
  order: readonly TransferStep[],
  contents: Awaited<ReturnType<typeof withLayerSharing>>["contents"],
  log: (line: string) => void,
) {
  const deferred = new Map(
    [...budget.deferred].map(
      (s) => [s, "left for the next run: the upstream's pull budget is spent"] as const,
    ),
  );
  for (const u of budget.upstreams)
    log(
      `Pull budget of ${u.upstream}: the sync needs ${u.needed} counted pulls${u.sharingReads > 0 && !u.sharingGivenUp ? ` and ${u.sharingReads} to read layers for sharing` : ""}; ${u.remaining} left`,
    );
  for (const warning of budgetWarnings(budget.upstreams)) {
    plan.warnings.push(warning);
    log(`Warning: ${warning.message}`);
  }
  const bytes = sharingFigures(
    order
      .filter((s) => !deferred.has(s))
      .map((s) => ({ repository: s.repository, content: contents.get(s) ?? null })),
  );
  if (bytes.known > 0)
    log(
      `Bytes to move for ${bytes.known} cop${bytes.known === 1 ? "y" : "ies"} whose layers are known: ${formatBytes(bytes.bytesShared)} (${bytes.blobsShared} blobs) with layer sharing, ${formatBytes(bytes.bytesPerRepository)} (${bytes.blobsPerRepository}) without`,
    );
  return { deferred, bytes };
}

/**
 * The copies' layers read upstream, their order for sharing, and `copy` wrapped so that each copy first mounts
 * the blobs an earlier copy brought (see `mounts.ts`).
 */
async function withLayerSharing(
  transfers: readonly TransferStep[],
  deps: ExecuteDeps,
  targetRegistry: DistributionClient,
  list: PlannedList,
  options: CarryOutOptions,
) {
  const target = options.target;
  const manifests =
    options.manifests ??
    new UpstreamManifests({
      upstreams: list.upstreams,
      credentials: options.upstreamCredentials,
      schemes: target.schemes,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  const readsBefore = manifests.reads;
  const images = transfers.filter((s) => s.kind === "image").length;
  const off =
    options.shareLayers === false
      ? "turned off"
      : images < 2 && !options.shard?.held.size
        ? "fewer than two images to copy"
        : target.kind === "ecr" && target.ecrClient
          ? await ecrMountingOff(target.ecrClient)
          : null;
  const shard = options.shard;
  const known = (s: TransferStep) => shard?.contents.get(stepKey(s)) ?? null;
  const budget = await assessPullBudget(transfers, manifests, {
    sharing: off === null,
    known: (s) => known(s) !== null,
    ...(shard ? { shards: shard.parallel } : {}),
  });
  const { sharing, order, contents } = await prepareSharing(transfers, manifests, targetRegistry, {
    off,
    unread: new Set([...budget.noSharing, ...budget.deferred]),
    ...(shard ? { known, held: shard.held } : {}),
  });
  const rate = options.putImageRate ?? (target.kind === "ecr" ? DEFAULT_PUT_IMAGE_RATE : null);
  const pace = rate ? new ManifestPace(rate, options.pace ?? {}) : null;
  const shared: ExecuteDeps = {
    ...deps,
    async copy(step) {
      await sharing.before(step);
      try {
        const copied = await pacedCopy(step);
        sharing.after(step, true);
        return copied;
      } catch (error) {
        sharing.after(step, false);
        throw error;
      }
    },
  };
  /** One copy in its turn; a throttled manifest PUT slows the pace and is tried again (3 times at most). */
  async function pacedCopy(step: TransferStep) {
    for (let attempt = 1; ; attempt++) {
      await pace?.acquire(manifestsOf(step, contents.get(step)?.manifests));
      try {
        const copied = await deps.copy(step);
        pace?.succeeded();
        return copied;
      } catch (error) {
        if (!pace || attempt > 3 || !putThrottled(error, target.registry)) throw error;
        pace.throttled();
      }
    }
  }
  return { deps: shared, order, sharing, pace, budget, contents, reads: () => manifests.reads - readsBefore };
}

/** What a short pull budget changed, as plan warnings: sharing given up, copies left for the next run. */
export function budgetWarnings(upstreams: readonly UpstreamBudget[]): { message: string; hint?: string }[] {
  const warnings: { message: string; hint?: string }[] = [];
  for (const u of upstreams) {
    const budget = `${u.remaining}${u.limit !== null ? ` of ${u.limit}` : ""} pulls left${u.windowSeconds ? ` (window ${Math.round(u.windowSeconds / 3600)} h)` : ""}`;
    if (u.deferred > 0)
      warnings.push({
        message: `${u.upstream}: the sync needs ${u.needed} counted pulls and ${budget}: ${u.deferred} cop${u.deferred === 1 ? "y" : "ies"} (${u.deferredPulls} pulls) left for the next run`,
        hint: "the next scheduled run copies them; Docker Hub credentials or an upstream endpoint (a pull-through cache) raise the budget",
      });
    else if (u.sharingGivenUp)
      warnings.push({
        message: `${u.upstream}: ${budget}; layer sharing given up for its images (reading their layers would cost ${u.sharingReads} more pulls), so their shared layers are uploaded once per repository`,
      });
  }
  return warnings;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function logSharing(shared: SharingReport, log: (line: string) => void): void {
  if (shared.mounted > 0 || shared.refused > 0)
    log(
      `Layer sharing: ${shared.mounted} blob${shared.mounted === 1 ? "" : "s"} mounted from another repository (${shared.bytesMounted} bytes not uploaded), ${shared.refused} mount${shared.refused === 1 ? "" : "s"} refused`,
    );
  else if (shared.off && shared.off !== "fewer than two images to copy")
    log(`Layer sharing off: ${shared.off}`);
}

function executeOptionsFor(list: PlannedList, options: CarryOutOptions): ExecuteOptions {
  return {
    repositorySettings: list.target.repositorySettings,
    progress: options.progress,
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.group ? { group: options.group } : {}),
    ...(options.now ? { now: options.now } : {}),
  };
}

/** crane (and helm, when installed) wired to the credential session, the counter, the mask and the limits. */
function toolRunners(
  session: CredentialSession,
  binaries: { craneBinary: string | null; helmBinary: string | null },
  counter: InvocationCounter,
  options: CarryOutOptions,
): { crane: Crane; helm: Helm | null } {
  const common = {
    counter,
    redact: (text: string) => options.mask.redact(text),
    ...(options.toolLimits ? { limits: options.toolLimits } : {}),
    ...(options.debug ? { log: options.debug } : {}),
  };
  const crane = new Crane({ binary: binaries.craneBinary ?? "crane", env: session.craneEnv(), ...common });
  const helm = binaries.helmBinary
    ? new Helm({
        binary: binaries.helmBinary,
        env: session.helmEnv(),
        registryConfig: session.helmRegistryConfig,
        ...common,
      })
    : null;
  return { crane, helm };
}

/**
 * crane whenever anything is copied (it also verifies charts pushed by helm), helm only for charts from
 * HTTP repositories; each through the tool cache, inside one log group.
 */
async function installTools(
  transfers: readonly TransferStep[],
  options: CarryOutOptions,
): Promise<{ craneBinary: string | null; helmBinary: string | null; tools: InstalledTool[] }> {
  const needsHelm = transfers.some((s) => s.kind === "chart" && s.entry.kind === "http");
  const group = options.group ?? (<T>(_name: string, work: () => Promise<T>) => work());
  const tools: InstalledTool[] = [];
  return group("Install tools", async () => {
    let crane = options.craneBinary ?? null;
    if (!crane && transfers.length > 0) {
      const installed = await installCrane({ log: options.log, ...options.crane });
      tools.push(installed);
      crane = installed.path;
    }
    let helm: string | null = null;
    if (needsHelm) {
      const installed = await installHelm({ log: options.log, ...options.helm });
      tools.push(installed);
      helm = installed.path;
    }
    return { craneBinary: crane, helmBinary: helm, tools };
  });
}

/** The JSON report a later step or a person reads: every step with its outcome, duration and error. */
export function syncReportJson(
  plan: Plan,
  result: Pick<CarryOutResult, "report" | "processes"> &
    Partial<Pick<CarryOutResult, "sharing" | "pace" | "budgets" | "bytes" | "upstreamReads">>,
  cost?: Record<string, unknown>,
) {
  const { report } = result;
  return {
    registry: report.registry,
    resync: plan.resync,
    startedAt: report.startedAt,
    durationMs: Math.round(report.durationMs),
    ok: report.ok,
    counts: report.counts,
    deletesSkipped: report.deletesSkipped,
    processes: result.processes,
    ...(cost ? { cost } : {}),
    // What made the first sync cheaper: layers mounted, manifest PUTs paced, the pull budget kept.
    ...(result.sharing ? { sharing: { ...result.sharing, upstreamReads: result.upstreamReads ?? 0 } } : {}),
    ...(result.bytes ? { bytes: result.bytes } : {}),
    ...(result.pace ? { pace: result.pace } : {}),
    ...(result.budgets ? { pullBudgets: result.budgets } : {}),
    // What each image tag range expanded to (from the lock, or from the upstream's tag list).
    ...(plan.ranges ? { ranges: plan.ranges } : {}),
    warnings: plan.warnings.map((w) => ({
      message: w.message,
      ...(w.hint ? { hint: w.hint } : {}),
      ...(w.location ? { line: w.location.line } : {}),
    })),
    steps: report.steps.map((s) => ({
      action: s.action,
      kind: s.kind,
      source: s.source,
      repository: s.repository,
      tag: s.tag,
      outcome: s.outcome,
      digest: s.digest,
      expectedDigest: s.expectedDigest,
      ...(s.platforms.length > 0 ? { platforms: s.platforms } : {}),
      attempts: s.attempts,
      durationMs: Math.round(s.durationMs),
      error: s.error,
      reason: s.reason,
      ...(s.location ? { file: s.location.file, line: s.location.line } : {}),
    })),
  };
}

/**
 * Writes a JSON report (the sync report, the plan file) through the run's mask: every string redacted, and
 * no line that could start a workflow command when a later step prints the file (`formatJson`).
 */
export async function writeReportFile(path: string, json: unknown, mask: SecretMask): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, formatJson(json, mask));
}
