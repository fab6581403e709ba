/**
 * What observation found: the target's repositories with their tags and digests, and what upstream tags
 * point at now (resync mode `digest`; and, for platform-filtered entries the plan copies, what they hold). Written by ./ecr.ts, ./oci-registry.ts and ./upstream.ts,
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
  /**
   * The repository's other settings, read only with `target.reconcileSettings` and only for repositories the list
   * names (ECR targets): what the planner compares with the list's `repositorySettings`.
   */
  settings?: ObservedSettings;
  /** For tags of entries with several platforms (a subset index written by `crane index filter`): its children. */
  subsetChildren?: Map<string, IndexChild[]>;
}

/** An ECR repository's settings besides tag mutability, as observation read them. */
export interface ObservedSettings {
  scanOnPush: boolean;
  encryption: { type: string; kmsKey: string | null };
  /** The lifecycle policy text (GetLifecyclePolicy), or null when there is none. */
  lifecyclePolicy: string | null;
  /** The repository policy text (GetRepositoryPolicy), or null when there is none. */
  repositoryPolicy: string | null;
  /** Resource tags (ListTagsForResource). */
  tags: Record<string, string>;
}

/** The status of an ECR image that is not ACTIVE (DescribeImages' `imageStatus`). */
export type ArchivedStatus = "ARCHIVED" | "ACTIVATING";

export interface ObservedTarget {
  registry: string;
  repositories: Map<string, ObservedRepository>;
}

/** A platform as an index descriptor or an image config carries it (OCI image-spec field names). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
  features?: string[];
}

/** One manifest an index lists: its digest, and its platform (null when the descriptor has none). */
export interface IndexChild {
  digest: string;
  platform: Platform | null;
}

/**
 * What an upstream tag holds, as far as platform filtering needs to know: an index and its children, or one image
 * and the platform its config blob names (null when the config names none).
 */
export type UpstreamContent =
  | { kind: "index"; children: IndexChild[] }
  | { kind: "image"; platform: Platform | null };

/** What an upstream tag points at now, keyed by the entry's `source`. */
export interface UpstreamDigest {
  /** The manifest or index digest the tag resolves to. */
  digest: string;
  /** For platform-filtered entries: what the tag holds (read with the manifest GET, and a single image's config). */
  content?: UpstreamContent;
}

/** What a referrer is, as its artifact type (or cosign's tag suffix) says. */
export type ReferrerKind = "signature" | "attestation" | "sbom" | "artifact";

/** A manifest that refers to a mirrored digest: an OCI referrer (its `subject`) or one of cosign's tags. */
export interface Referrer {
  /** The referrer manifest's digest. */
  digest: string;
  artifactType: string | null;
  kind: ReferrerKind;
  /** cosign's tag (`sha256-<hex>.sig`), or null for an OCI referrer (pushed by digest; its `subject` names the image). */
  tag: string | null;
  /** How it was found: the referrers API, the referrers tag schema, or cosign's tag. */
  via: "api" | "tag" | "cosign";
}

/** What refers to one digest in one registry, and whether that registry has the referrers API (`via`). */
export interface ReferrersOf {
  subject: string;
  via: "api" | "tag";
  referrers: Referrer[];
  /** Referrers listed but not mirrorable, each with why (an OCI 1.1 release-candidate artifact manifest). */
  skipped?: string[];
}
