/**
 * The plan: what a sync would do, one step per mirror-list entry (plus repository creations and,
 * with pruning, deletions). A pure value computed by ./plan.ts from the validated list, the
 * observed target and, in resync mode `digest`, the upstream digests.
 */
import type { Problem } from "../errors.js";
import type { ChartEntry, ImageEntry, Location, MirrorList, TagMutability } from "../list/model.js";
import type { RangeExpansion } from "../list/tag-ranges.js";
import type { ReferrerKind } from "../observe/model.js";

export type StepAction =
  | "create-repository"
  | "reconcile-settings"
  | "copy"
  | "update"
  | "restore"
  | "blocked"
  | "present"
  | "delete";
export const STEP_ACTIONS: readonly StepAction[] = [
  "create-repository",
  "reconcile-settings",
  "copy",
  "update",
  "restore",
  "blocked",
  "present",
  "delete",
];

interface StepBase {
  /** Target repository (`mirrors/library/redis`). */
  repository: string;
  /** Why, in words a person reads in the plan. */
  reason: string;
}

/** A repository the target lacks, created before anything is pushed to it. */
export interface CreateRepositoryStep extends StepBase {
  action: "create-repository";
  kind: "repository";
  /** The mirror-list line of the first entry that needs the repository. */
  location: Location;
}

/** One repository setting that differs from the list: `from` is what the repository has, `to` what the list asks. */
export type SettingChange =
  | {
      setting: "imageTagMutability";
      from: { mode: TagMutability; filters: string[] };
      to: { mode: TagMutability; filters: string[] };
    }
  | { setting: "scanOnPush"; from: boolean; to: boolean }
  | { setting: "lifecyclePolicy" | "repositoryPolicy"; from: string | null; to: string | null }
  | { setting: "tags"; from: Record<string, string>; to: Record<string, string> };

/**
 * An existing repository whose settings differ from the list's `repositorySettings` (`target.reconcileSettings`):
 * sync changes each setting in `changes` and reads it back. Runs before copies and updates, so a tag the list
 * makes mutable can be updated in the same run.
 */
export interface ReconcileSettingsStep extends StepBase {
  action: "reconcile-settings";
  kind: "repository";
  changes: SettingChange[];
  /** The mirror-list line of the first entry in the repository. */
  location: Location;
}

/** What an entry's step carries out: an image entry, or a chart entry. */
export type EntryOf = { kind: "image"; entry: ImageEntry } | { kind: "chart"; entry: ChartEntry };

interface EntryStepFields extends StepBase {
  /**
   * What is copied: the normalised image reference (`docker.io/library/redis:7.0`,
   * `ghcr.io/org/app@sha256:…`), or for charts `oci://host/path/name:1.2.3` or
   * `https://repo.example.com/charts name@1.2.3`.
   */
  source: string;
  /** Target tag (a chart's tag, or the synthetic `sha256-<hex>` tag of a digest-only entry). */
  tag: string;
  /** Platforms to keep (empty: all). */
  platforms: string[];
  /** The mirror-list line the step comes from. */
  location: Location;
}

/**
 * Set on the copy, update or blocked step of a referrer: a signature, attestation or SBOM of the entry `of` (its
 * source), refering to `subject`. The step's `tag` is cosign's tag (`sha256-<hex>.sig`) or, for an OCI referrer,
 * its own digest (it is pushed by digest; the registry, or crane on one without the referrers API, lists it).
 */
export interface ReferrerOf {
  of: string;
  subject: string;
  kind: ReferrerKind;
  artifactType: string | null;
  /** Pushed under cosign's tag (true) or by digest (false). */
  tagged: boolean;
}

/**
 * The tag is absent from the target: copy it. `digest` is the pinned digest when the list pins one, or for an entry
 * with one platform the platform manifest the plan read upstream; else null.
 */
export type CopyStep = EntryStepFields &
  EntryOf & { action: "copy"; digest: string | null; targetDigest: null; referrer?: ReferrerOf };
/** The tag moved upstream (or the list pins another digest) and is mutable in the target: overwrite it. */
export type UpdateStep = EntryStepFields &
  EntryOf & { action: "update"; digest: string; targetDigest: string | null; referrer?: ReferrerOf };
/** The tag moved, but the target's tag is immutable: reported, never written. */
export type BlockedStep = EntryStepFields &
  EntryOf & { action: "blocked"; digest: string; targetDigest: string | null; referrer?: ReferrerOf };
/**
 * The target holds what the list asks for, but ECR archived the image (archive storage class: it cannot be
 * pulled): restore it to the standard storage class (UpdateImageStorageClass), never copy it again. `digest` is
 * what the tag holds and keeps.
 */
export type RestoreStep = EntryStepFields &
  EntryOf & { action: "restore"; digest: string | null; targetDigest: string | null };
/** The target holds what the list asks for. */
export type PresentStep = EntryStepFields &
  EntryOf & { action: "present"; digest: string | null; targetDigest: string | null };

/** A step for one mirror-list entry: every entry gets exactly one. */
export type EntryStep = CopyStep | UpdateStep | RestoreStep | BlockedStep | PresentStep;
/** What execution transfers (copy and verify). */
export type TransferStep = CopyStep | UpdateStep;

/** A tag under the managed prefixes that the list no longer names (prune on). */
export interface DeleteStep extends StepBase {
  action: "delete";
  kind: "image";
  tag: string;
  /** The digest the tag holds now. */
  targetDigest: string | null;
}

/**
 * One step of the plan, by `action`. A new kind of step is a new member here, a case in the planner
 * (./plan.ts), a phase or a case in `executePlan` (execute/execute.ts) and a verb in report/plan.ts.
 */
export type Step = CreateRepositoryStep | ReconcileSettingsStep | EntryStep | DeleteStep;

export function isEntryStep(step: Step): step is EntryStep {
  return (
    step.action !== "create-repository" && step.action !== "reconcile-settings" && step.action !== "delete"
  );
}

export function isTransferStep(step: Step): step is TransferStep {
  return step.action === "copy" || step.action === "update";
}

/** A step's fields as reports show them, with null where its kind has none. */
export interface StepFields {
  action: StepAction;
  kind: Step["kind"];
  source: string | null;
  repository: string;
  tag: string | null;
  /** The digest the target should hold after the step, when known (pinned, or observed upstream). */
  digest: string | null;
  /** The digest the target holds now, when it holds the tag. */
  targetDigest: string | null;
  platforms: string[];
  reason: string;
  location: Location | null;
}

export function stepFields(step: Step): StepFields {
  const { action, kind, repository, reason } = step;
  switch (step.action) {
    case "create-repository":
    case "reconcile-settings":
      return {
        action,
        kind,
        source: null,
        repository,
        tag: null,
        digest: null,
        targetDigest: null,
        platforms: [],
        reason,
        location: step.location,
      };
    case "delete":
      return {
        action,
        kind,
        source: null,
        repository,
        tag: step.tag,
        digest: null,
        targetDigest: step.targetDigest,
        platforms: [],
        reason,
        location: null,
      };
    default:
      return {
        action,
        kind,
        source: step.source,
        repository,
        tag: step.tag,
        digest: step.digest,
        targetDigest: step.targetDigest,
        platforms: step.platforms,
        reason,
        location: step.location,
      };
  }
}

/** A plan warning: message, hint and the list line, the shape every problem has (src/errors.ts). */
export type PlanWarning = Problem;

export interface Plan {
  /** Target registry address (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `127.0.0.1:5000`). */
  registry: string;
  /** `missing`: only absent tags are copied; `digest`: moved upstream tags are detected too. */
  resync: ResyncMode;
  steps: Step[];
  summary: Record<StepAction, number>;
  warnings: PlanWarning[];
  /**
   * The counted pulls the copies need from upstreams that state a pull budget (Docker Hub), with what is left,
   * as the plan's free HEAD requests read it; absent when no upstream stated one.
   */
  pulls?: PullNeed[];
  /** What each image tag range expanded to (from the lock, or from the upstream's tag list); absent without ranges. */
  ranges?: RangeExpansion[];
}

/** `needed` counted pulls from `upstream` (at least: each platform of a multi-arch image counts), `remaining` left. */
export interface PullNeed {
  upstream: string;
  needed: number;
  remaining: number;
  limit: number | null;
  windowSeconds: number | null;
}

export type ResyncMode = "missing" | "digest";

declare const planned: unique symbol;

/**
 * The mirror list a plan is made from and carried out with (`planRun`'s `list`): chart version ranges
 * resolved into charts, images found in charts (and their upstreams) added. The list as parsed is a
 * `MirrorList`; only `plannedList` makes this type.
 */
export type PlannedList = MirrorList & { readonly [planned]: true };

/** Marks a prepared list as planned; throws when a chart range is still unresolved (a programming error). */
export function plannedList(list: MirrorList): PlannedList {
  if ((list.chartRanges?.length ?? 0) > 0)
    throw new Error("chart version ranges are resolved before planning");
  if ((list.imageRanges?.length ?? 0) > 0) throw new Error("image tag ranges are resolved before planning");
  return list as PlannedList;
}
