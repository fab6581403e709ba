/**
 * Where things land in the target registry: repository names for images and charts, chart tags
 * and the synthetic tag of digest-only entries. Pure functions.
 */

/** ECR's repository-name rule (CreateRepository `repositoryName` pattern) and length limits. */
const ECR_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const ECR_NAME_MIN = 2;
export const ECR_NAME_MAX = 256;

/** The Distribution spec's name rule, for targets that are plain OCI registries. */
const DISTRIBUTION_NAME =
  /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$/;
const DISTRIBUTION_NAME_MAX = 255;

export type TargetType = "ecr" | "oci";

/** Why `name` cannot be a repository in the target, or null when it can. */
export function repositoryNameProblem(name: string, type: TargetType): string | null {
  return type === "ecr" ? ecrNameProblem(name) : distributionNameProblem(name);
}

function ecrNameProblem(name: string): string | null {
  if (name.length < ECR_NAME_MIN || name.length > ECR_NAME_MAX) {
    return `ECR repository names are ${ECR_NAME_MIN} to ${ECR_NAME_MAX} characters; "${truncate(name)}" has ${name.length}`;
  }
  if (ECR_NAME.test(name)) return null;
  return `"${truncate(name)}" is not a valid ECR repository name: it has ${ecrNameFlaw(name)}`;
}

/** What an invalid ECR name has that ECR refuses, the likeliest cause first. */
const ECR_NAME_FLAWS: readonly [RegExp, string][] = [
  [/[A-Z]/, "upper-case letters"],
  [/:/, "':' (a port or IPv6 address)"],
  [/[[\]]/, "brackets (an IPv6 address)"],
  [/[._-]{2,}/, "two separators in a row ('__' or '--' are valid upstream but not in ECR)"],
];

function ecrNameFlaw(name: string): string {
  return ECR_NAME_FLAWS.find(([pattern]) => pattern.test(name))?.[1] ?? "characters ECR does not allow";
}

function distributionNameProblem(name: string): string | null {
  if (name.length > DISTRIBUTION_NAME_MAX) {
    return `repository names are at most ${DISTRIBUTION_NAME_MAX} characters; "${truncate(name)}" has ${name.length}`;
  }
  if (!DISTRIBUTION_NAME.test(name)) return `"${truncate(name)}" is not a valid repository name`;
  return null;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 40)}…${s.slice(-30)}` : s;
}

/** Default prefix an upstream lands under: `docker.io/<path>` at `<prefix>/<path>`, others at `<prefix>/<host>/<path>`. */
export function defaultUpstreamPrefix(host: string, imagePrefix: string): string {
  return host === "docker.io" ? imagePrefix : `${imagePrefix}/${host}`;
}

/** Helm turns `+` into `_` when it stores a chart version as an OCI tag. */
export function chartTag(version: string): string {
  return version.replaceAll("+", "_");
}

/**
 * The tag a digest-only entry is stored under, so `ListImages` (TAGGED) sees it and lifecycle
 * rules on untagged images do not expire it: `sha256-<hex>` (the cosign-style spelling).
 */
export function syntheticTag(digest: string): string {
  return digest.replace(":", "-");
}

/** Helm chart versions are SemVer 2 (helm also accepts a leading `v`). */
export const CHART_VERSION =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
