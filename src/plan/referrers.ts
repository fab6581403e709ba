/**
 * Referrers in the plan (entries with `referrers: true`): a copy step for every signature, attestation and SBOM the
 * upstream has for the digest the target holds (or is about to) and the target lacks, right after its image's step.
 * Pure: what the upstream and the target list comes from observe/referrers.ts.
 *
 * - An OCI referrer is copied by digest; the target lists it (its referrers API, or crane updates the referrers tag
 *   schema's `sha256-<hex>` index on a registry without one). A digest-only entry's synthetic tag is that same
 *   `sha256-<hex>` name, so on a target without the referrers API its OCI referrers are left out, with a warning
 *   (crane would overwrite the mirrored image's tag with the referrers index); cosign's tags still travel.
 * - A cosign tag (`sha256-<hex>.sig`) is copied as a tag; one the target holds with other content (a signature added
 *   upstream: cosign rewrites the tag) is updated where the tag is mutable, else blocked like any tag.
 * - Nothing is planned for a blocked image (the target keeps other content than the signatures name).
 * Referrer tags are never pruned while their subject stays (see `keptForSubject`).
 */
import { MirrorError } from "../errors.js";
import type { ImageEntry, ListProblem } from "../list/model.js";
import type { ObservedRepository, ObservedTarget, Referrer, ReferrersOf } from "../observe/model.js";
import type { EntryStep, Plan, PlannedList, ReferrerOf, Step, StepAction } from "./model.js";
import { isEntryStep, STEP_ACTIONS } from "./model.js";
import { tagIsMutable } from "./mutability.js";

export interface ReferrerPlanInput {
  /** By entry source: what refers to its digest upstream. */
  upstream: ReadonlyMap<string, ReferrersOf>;
  /** By entry source: what the target holds of them; absent when the target could not be asked. */
  target: ReadonlyMap<string, ReferrersOf>;
  /** By entry source: upstream answers refused (another subject, too many referrers, not manifests). */
  refused: ReadonlyMap<string, string>;
  /** By entry source: upstreams that could not be asked. */
  failures: ReadonlyMap<string, string>;
}

/** A tag that holds what refers to `digest`: the referrers tag schema's index, or one of cosign's tags. */
const REFERRER_TAG = /^(sha256)-([0-9a-f]{64})(?:\.(?:sig|att|sbom))?$/;

/**
 * Whether `tag` is a referrer tag (cosign's `sha256-<hex>.sig|.att|.sbom`, or the referrers tag schema's
 * `sha256-<hex>`) of a digest in `kept`: pruning keeps it while its subject stays.
 */
export function keptForSubject(tag: string, kept: ReadonlySet<string>): boolean {
  const m = REFERRER_TAG.exec(tag);
  return m !== null && kept.has(`${m[1]}:${m[2]}`);
}

/** A located error for every entry whose upstream referrers were refused. */
export function referrerProblems(
  images: readonly ImageEntry[],
  refused: ReadonlyMap<string, string>,
): ListProblem[] {
  return images.flatMap((entry): ListProblem[] => {
    const why = refused.get(entry.source);
    return why === undefined
      ? []
      : [
          {
            ...entry.location,
            severity: "error",
            message: `the referrers of ${entry.source} are refused: ${why}`,
            hint: "a referrer must be a manifest whose subject is this image's digest; ask the image's publisher, or set referrers: false on this entry to mirror the image without them",
          },
        ];
  });
}

const KIND_WORDS: Record<Referrer["kind"], string> = {
  signature: "signature",
  attestation: "attestation",
  sbom: "SBOM",
  artifact: "artifact",
};

function describe(r: Referrer, of: string): string {
  const how = r.tag !== null ? "cosign tag" : `OCI referrer${r.artifactType ? `, ${r.artifactType}` : ""}`;
  return `${KIND_WORDS[r.kind]} of ${of} (${how})`;
}

/** The step for referrer `r` of `step`'s image, which the target holds with `held` (undefined: not at all). */
function referrerStep(
  step: EntryStep & { kind: "image" },
  subject: string,
  r: Referrer,
  held: string | undefined,
  repo: ObservedRepository | undefined,
): EntryStep {
  const { entry } = step;
  const source = `${entry.reference.domain}/${entry.reference.path}@${r.digest}`;
  const referrer: ReferrerOf = {
    of: entry.source,
    subject,
    kind: r.kind,
    artifactType: r.artifactType,
    tagged: r.tag !== null,
  };
  const base = {
    kind: "image" as const,
    entry: {
      source,
      reference: { domain: entry.reference.domain, path: entry.reference.path, tag: null, digest: r.digest },
      repository: entry.repository,
      platforms: [],
      location: entry.location,
    },
    source,
    repository: step.repository,
    tag: r.tag ?? r.digest,
    platforms: [],
    location: entry.location,
    referrer,
  };
  const what = describe(r, entry.source);
  if (held === undefined)
    return { ...base, action: "copy", digest: r.digest, targetDigest: null, reason: what };
  if (!repo || tagIsMutable(base.tag, repo.imageTagMutability, repo.imageTagMutabilityExclusionFilters)) {
    return {
      ...base,
      action: "update",
      digest: r.digest,
      targetDigest: held,
      reason: `${what}: changed upstream (cosign rewrites the tag when a signature or attestation is added); the tag is mutable, so it is overwritten`,
    };
  }
  return {
    ...base,
    action: "blocked",
    digest: r.digest,
    targetDigest: held,
    reason: `${what}: changed upstream, but ${base.tag} is immutable in ${step.repository}; exclude it with imageTagMutabilityExclusionFilters: ["sha256-*"] and set target.reconcileSettings: true`,
  };
}

/** The referrer steps for one entry's step, in the order the upstream lists them. */
function stepsFor(
  step: EntryStep & { kind: "image" },
  upstream: ReferrersOf,
  target: ReferrersOf | undefined,
  observed: ObservedTarget,
  ecr: boolean,
  warn: (message: string, hint?: string) => void,
): EntryStep[] {
  const entry = step.entry;
  const repo = observed.repositories.get(step.repository);
  const heldOci = new Set(target?.referrers.filter((r) => r.tag === null).map((r) => r.digest) ?? []);
  const heldTags = new Map(
    target?.referrers.filter((r) => r.tag !== null).map((r) => [r.tag!, r.digest] as const) ?? [],
  );
  const steps: EntryStep[] = [];
  const skippedOci = upstream.referrers.filter(
    (r) => r.tag === null && entry.reference.tag === null && target?.via !== "api" && !heldOci.has(r.digest),
  );
  if (skippedOci.length > 0)
    warn(
      `${skippedOci.length} OCI referrer${skippedOci.length === 1 ? "" : "s"} of ${entry.source} ${skippedOci.length === 1 ? "is" : "are"} not mirrored: the target has no referrers API, and the referrers tag schema's tag is this digest-only entry's own tag (${step.tag})`,
      "mirror the image under a tag as well (e.g. name:tag@sha256:…), or use a target with the OCI referrers API; cosign's signature tags are mirrored",
    );
  for (const why of upstream.skipped ?? [])
    warn(
      `a referrer of ${entry.source} is not mirrored: ${why}`,
      "ask the publisher to push it as an OCI image manifest with artifactType (OCI 1.1)",
    );
  // ECR refuses a manifest whose artifactType has parameters (`;version=0.2`, sigstore bundles): aws/containers-roadmap#2306.
  const refusedByEcr = ecr ? upstream.referrers.filter((r) => r.artifactType?.includes(";")) : [];
  for (const r of refusedByEcr)
    warn(
      `${describe(r, entry.source)} is not mirrored: ECR refuses an artifact type with parameters (${r.artifactType})`,
      "ECR accepts media types without ';' only (aws/containers-roadmap#2306); the other referrers are mirrored",
    );
  for (const r of upstream.referrers) {
    if (skippedOci.includes(r) || refusedByEcr.includes(r)) continue;
    const held = r.tag === null ? (heldOci.has(r.digest) ? r.digest : undefined) : heldTags.get(r.tag);
    if (held === r.digest) continue;
    steps.push(referrerStep(step, upstream.subject, r, held, repo));
  }
  return steps;
}

/**
 * The plan with each entry's referrer steps after its own step, the summary counted again. Throws a `MirrorError`
 * with located problems when an upstream's referrers were refused (`referrerProblems`): nothing of such a plan runs.
 */
export function planReferrers(
  plan: Plan,
  list: PlannedList,
  observed: ObservedTarget,
  input: ReferrerPlanInput,
): Plan {
  const problems = referrerProblems(list.images, input.refused);
  if (problems.length > 0) {
    throw new MirrorError(
      "the upstream registries list referrers that cannot be mirrored as they are; nothing was copied:",
      {
        hint: "each referrer must name the image's digest as its subject; the errors above say which does not",
        problems,
      },
    );
  }
  const warnings = [...plan.warnings];
  const steps: Step[] = [];
  for (const step of plan.steps) {
    steps.push(step);
    if (!isEntryStep(step) || step.kind !== "image" || !step.entry.referrers || step.action === "blocked")
      continue;
    const source = step.entry.source;
    const failure = input.failures.get(source);
    if (failure !== undefined)
      warnings.push({
        message: `could not look for the referrers of ${source} upstream (${failure}); its signatures are not mirrored this run`,
        location: step.entry.location,
      });
    const upstream = input.upstream.get(source);
    if (!upstream) continue;
    const warn = (message: string, hint?: string) =>
      warnings.push({ message, ...(hint ? { hint } : {}), location: step.entry.location });
    steps.push(
      ...stepsFor(step, upstream, input.target.get(source), observed, list.target.type === "ecr", warn),
    );
  }
  const summary = Object.fromEntries(STEP_ACTIONS.map((a) => [a, 0])) as Record<StepAction, number>;
  for (const s of steps) summary[s.action]++;
  return { ...plan, steps, summary, warnings };
}
