/**
 * What observation found: the target's repositories with their tags and digests, and (resync mode
 * `digest`) what upstream tags point at now. Written by ./ecr.ts, ./oci-registry.ts and ./upstream.ts,
 * read by the planner (plan/plan.ts). Types only.
 */
import type { TagMutability } from "../list/model.js";

/** What the target holds: per repository under the managed prefixes, its tags and their digests. */
export interface ObservedRepository {
  name: string;
  imageTagMutability: TagMutability;
  imageTagMutabilityExclusionFilters: string[];
  /**
   * tag -> digest; null where the observer did not need to look the digest up (plain registries). On ECR every
   * tag, archived ones included.
   */
  tags: Map<string, string | null>;
  /**
   * ECR's archive storage class: the tags whose image is not ACTIVE, with its status (ARCHIVED: cannot be
   * pulled until restored; ACTIVATING: being restored). Absent or without the tag: the image is active.
   */
  archived?: Map<string, ArchivedStatus>;
  /** For platform-filtered tags holding a subset index: tag -> platform -> manifest digest, when observed. */
  platformDigests?: Map<string, Record<string, string>>;
}

/** The status of an ECR image that is not ACTIVE (DescribeImages' `imageStatus`). */
export type ArchivedStatus = "ARCHIVED" | "ACTIVATING";

export interface ObservedTarget {
  registry: string;
  repositories: Map<string, ObservedRepository>;
}

/** What an upstream tag points at now (resync mode `digest`), keyed by the entry's `source`. */
export interface UpstreamDigest {
  /** The manifest or index digest the tag resolves to. */
  digest: string;
  /** For multi-platform images: platform (`linux/amd64`) -> platform manifest digest. */
  platforms?: Record<string, string>;
}
