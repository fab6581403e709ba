/**
 * Platforms as crane picks them (go-containerregistry v0.22, read in its sources). The planner uses these to know
 * which manifest `crane copy --platform` or `crane index filter --platform ...` will write, so that a resync compares
 * the right digests and a platform the upstream image lacks is an error before anything is copied. Pure.
 */
import type { IndexChild, Platform, UpstreamContent } from "../observe/model.js";

/** What crane takes an index child without a platform for: `defaultPlatform` (pkg/v1/remote/options.go). */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

/** A list platform (`os/arch[/variant][:osversion]`) as `v1.ParsePlatform` reads it (pkg/v1/platform.go). */
export function parsePlatform(text: string): Platform {
  const [base = "", osVersion] = text.trim().split(":");
  const [os = "", architecture = "", variant] = base.split("/");
  return {
    os,
    architecture,
    ...(variant ? { variant } : {}),
    ...(osVersion ? { "os.version": osVersion } : {}),
  };
}

/** `os/arch[/variant][:osversion]`, as `v1.Platform.String` writes it. */
export function formatPlatform(p: Platform): string {
  const path = [p.os, p.architecture, p.variant].filter(Boolean).join("/");
  return p["os.version"] ? `${path}:${p["os.version"]}` : path;
}

const subset = (have: readonly string[] | undefined, want: readonly string[] | undefined): boolean =>
  (want ?? []).every((w) => (have ?? []).includes(w));

/**
 * Whether `given` (a child's or an image's platform) matches `required` (a list platform): crane's rule,
 * `matchesPlatform` in pkg/v1/remote/index.go. os and architecture equal; variant and os.version compared only
 * when `required` names them, so `linux/arm64` matches Docker Hub's `linux/arm64/v8` and `linux/arm64/v8` does not
 * match a child without variant (go-containerregistry has no arm64 -> v8 default); the required features and
 * os.features a subset of the given ones. For a required platform with os and architecture (the list's schema
 * demands both) this is also `v1.Platform.Satisfies` (pkg/v1/platform.go), which `crane index filter` uses.
 */
export function platformMatches(given: Platform, required: Platform): boolean {
  if (given.os !== required.os || given.architecture !== required.architecture) return false;
  if (required["os.version"] && given["os.version"] !== required["os.version"]) return false;
  if (required.variant && given.variant !== required.variant) return false;
  return subset(given["os.features"], required["os.features"]) && subset(given.features, required.features);
}

/**
 * The child `crane copy|digest --platform P` takes from an index (`childByPlatform`, pkg/v1/remote/index.go): the
 * first in index order that matches, a child without a platform counting as linux/amd64. Null: crane fails
 * ("no child with platform").
 */
export function childForPlatform(children: readonly IndexChild[], wanted: string): IndexChild | null {
  const required = parsePlatform(wanted);
  return children.find((c) => platformMatches(c.platform ?? DEFAULT_PLATFORM, required)) ?? null;
}

/**
 * The children `crane index filter --platform A --platform B` keeps (`filterIndex`, `satisfiesPlatforms` in
 * cmd/crane/cmd/index.go): every child that matches one of the platforms, in index order; a child without a
 * platform is dropped (not taken for linux/amd64 here).
 */
export function childrenForPlatforms(
  children: readonly IndexChild[],
  wanted: readonly string[],
): IndexChild[] {
  const required = wanted.map(parsePlatform);
  return children.filter((c) => c.platform !== null && required.some((r) => platformMatches(c.platform!, r)));
}

/** What crane writes for an entry's platforms from what the upstream tag holds, or why it would not be that. */
export type PlatformSelection =
  /** The manifests crane writes: one platform's manifest, or the children of the subset index (in index order). */
  | { ok: true; digests: string[] }
  /** `missing`: the list's platforms the upstream lacks; `has`: the platforms it has, as a person reads them. */
  | { ok: false; missing: string[]; has: string[]; singleImage: boolean };

/** How an index child's platform reads in a hint. */
function shownChild(child: IndexChild, filtering: boolean): string {
  if (child.platform) return formatPlatform(child.platform);
  return filtering
    ? "a child without platform (index filter drops it)"
    : "linux/amd64 (a child without platform)";
}

/**
 * Which manifests crane writes for `platforms` (one: `crane copy --platform`; several: `crane index filter`) from
 * `content`, the upstream tag whose digest is `digest`. A single-platform image is crane's silent substitute: crane
 * copies it whatever platform was asked for (pkg/crane/copy.go Copy), and `crane index filter` refuses it; it is
 * selected only when its config's platform matches.
 */
export function selectPlatforms(
  content: UpstreamContent,
  digest: string,
  platforms: readonly string[],
): PlatformSelection {
  const filtering = platforms.length > 1;
  if (content.kind === "image") {
    const has = content.platform ? [formatPlatform(content.platform)] : [];
    const missing = platforms.filter(
      (p) => !content.platform || !platformMatches(content.platform, parsePlatform(p)),
    );
    if (missing.length === 0 && !filtering) return { ok: true, digests: [digest] };
    return { ok: false, missing: missing.length > 0 ? missing : [...platforms], has, singleImage: true };
  }
  const has = [...new Set(content.children.map((c) => shownChild(c, filtering)))];
  if (!filtering) {
    const child = childForPlatform(content.children, platforms[0]!);
    return child
      ? { ok: true, digests: [child.digest] }
      : { ok: false, missing: [...platforms], has, singleImage: false };
  }
  const missing = platforms.filter((p) => childrenForPlatforms(content.children, [p]).length === 0);
  if (missing.length > 0) return { ok: false, missing, has, singleImage: false };
  return { ok: true, digests: childrenForPlatforms(content.children, platforms).map((c) => c.digest) };
}
