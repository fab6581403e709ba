/**
 * The plan: what a sync would do, one step per mirror-list entry (plus repository creations and,
 * with pruning, deletions). A pure value computed by ./plan.ts from the validated list, the
 * observed target and, in resync mode `digest`, the upstream digests.
 */
import type { ChartEntry, ImageEntry, Location } from "../list/model.js";

export type StepAction = "create-repository" | "copy" | "update" | "blocked" | "present" | "delete";
export const STEP_ACTIONS: readonly StepAction[] = [
  "create-repository",
  "copy",
  "update",
  "blocked",
  "present",
  "delete",
];

export interface Step {
  action: StepAction;
  kind: "repository" | "image" | "chart";
  /**
   * What is copied: the normalised image reference (`docker.io/library/redis:7.0`,
   * `ghcr.io/org/app@sha256:…`), or for charts `oci://host/path/name:1.2.3` or
   * `https://repo.example.com/charts name@1.2.3`. Null for repository creations and deletions.
   */
  source: string | null;
  /** Target repository (`mirrors/library/redis`). */
  repository: string;
  /** Target tag (a chart's tag, or the synthetic `sha256-<hex>` tag of a digest-only entry). Null for creations. */
  tag: string | null;
  /** The digest the target should hold after the step, when known (pinned, or observed upstream). */
  digest: string | null;
  /** The digest the target holds now, when it holds the tag. */
  targetDigest: string | null;
  /** Platforms to keep (empty: all). */
  platforms: string[];
  /** Why, in words a person reads in the plan. */
  reason: string;
  /** The mirror-list line the step comes from. */
  location: Location | null;
  /** The entry the step carries out (images and charts). */
  entry: ImageEntry | ChartEntry | null;
}

export interface PlanWarning {
  message: string;
  hint?: string;
  location?: Location;
}

export interface Plan {
  /** Target registry address (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `127.0.0.1:5000`). */
  registry: string;
  /** `missing`: only absent tags are copied; `digest`: moved upstream tags are detected too. */
  resync: ResyncMode;
  steps: Step[];
  summary: Record<StepAction, number>;
  warnings: PlanWarning[];
}

export type ResyncMode = "missing" | "digest";
