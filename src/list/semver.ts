/**
 * Semantic versions and version constraints as helm reads them: Masterminds/semver v3
 * (`NewVersion`, `StrictNewVersion`, `NewConstraint`, `Check`), the library helm uses to pick chart
 * versions. Pure functions.
 *
 * Constraint syntax: comparisons `=`, `!=`, `>`, `<`, `>=`, `<=` (also `=>`, `=<`), tilde `~1.2.3`
 * (`~>` too), caret `^1.2.3`, wildcards `1.2.x`, `1.*`, `*` and partial versions (`1.2` means
 * `1.2.x`), hyphen ranges `1.2 - 1.4.5`, AND by space or comma, OR by `||`. A prerelease version
 * matches only a comparison that itself names a prerelease (Masterminds issue 21).
 */

export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated prerelease identifiers, `""` for a release. */
  prerelease: string;
  /** Build metadata (ignored in comparisons). */
  build: string;
  /** The text the version was read from. */
  original: string;
}

// Masterminds' loose `semVerRegex` (v3): a leading `v`, minor and patch optional.
const LOOSE =
  /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** `NewVersion`: loose parsing (`v1.2` is 1.2.0), or null. */
export function parseVersion(text: string): Version | null {
  const m = LOOSE.exec(text);
  if (!m) return null;
  return {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    patch: Number(m[3] ?? 0),
    prerelease: m[4] ?? "",
    build: m[5] ?? "",
    original: text,
  };
}

/** `StrictNewVersion`: exactly `MAJOR.MINOR.PATCH[-pre][+build]`, no `v` (helm reads OCI tags this way). */
export function parseStrictVersion(text: string): Version | null {
  if (!/^\d+\.\d+\.\d+(?:[-+]|$)/.test(text)) return null;
  return parseVersion(text);
}

function comparePrePart(s: string, o: string): number {
  if (s === o) return 0;
  if (s === "") return -1;
  if (o === "") return 1;
  const sn = /^\d+$/.test(s);
  const on = /^\d+$/.test(o);
  if (sn && on) return Number(s) > Number(o) ? 1 : -1;
  if (sn) return -1; // numbers sort before identifiers
  if (on) return 1;
  return s > o ? 1 : -1;
}

function comparePrerelease(a: string, b: string): number {
  const ap = a.split(".");
  const bp = b.split(".");
  for (let i = 0; i < Math.max(ap.length, bp.length); i++) {
    const d = comparePrePart(ap[i] ?? "", bp[i] ?? "");
    if (d !== 0) return d;
  }
  return 0;
}

/** SemVer precedence: -1, 0 or 1. Build metadata is ignored; a release sorts after its prereleases. */
export function compareVersions(a: Version, b: Version): number {
  for (const key of ["major", "minor", "patch"] as const) {
    if (a[key] !== b[key]) return a[key] > b[key] ? 1 : -1;
  }
  if (a.prerelease === b.prerelease) return 0;
  if (a.prerelease === "") return 1;
  if (b.prerelease === "") return -1;
  return comparePrerelease(a.prerelease, b.prerelease);
}

type Operator = "" | "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^";

interface Comparison {
  op: Operator;
  con: Version;
  dirty: boolean;
  minorDirty: boolean;
  patchDirty: boolean;
}

/** A parsed constraint: OR of ANDs. */
export interface Constraint {
  text: string;
  alternatives: Comparison[][];
}

const OPS = "=|!=|>|<|>=|=>|<=|=<|~|~>|\\^";
const CV =
  "v?(?:[0-9xX*]+)(?:\\.[0-9xX*]+)?(?:\\.[0-9xX*]+)?(?:-(?:[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?(?:\\+(?:[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?";
const CV_PARTS =
  /^v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
// Longest operators first so `>=` is not read as `>` then `=`.
const OPS_LONGEST = "!=|>=|=>|<=|=<|~>|=|>|<|~|\\^";
const COMPARISON = new RegExp(`^\\s*(${OPS_LONGEST})?\\s*(${CV})\\s*$`);
const FIND = new RegExp(`(${OPS_LONGEST})?\\s*(${CV})`, "g");
const VALID_SEGMENT = new RegExp(
  `^(\\s*(?:${OPS})?\\s*(?:${CV})\\s*)((?:\\s+|,\\s*)(?:${OPS})?\\s*(?:${CV})\\s*)*$`,
);
const HYPHEN = new RegExp(`\\s*(${CV})\\s+-\\s+(${CV})\\s*`, "g");

function isX(part: string | undefined): boolean {
  return part === "x" || part === "X" || part === "*";
}

function parseComparison(text: string): Comparison | null {
  const m = COMPARISON.exec(text);
  if (!m) return null;
  const op = (m[1] ?? "") as Operator;
  const parts = CV_PARTS.exec(m[2]!);
  if (!parts) return null;
  const [, major, minorDot, patchDot, pre] = parts;
  const minor = minorDot?.slice(1);
  const patch = patchDot?.slice(1);
  const suffix = pre ? `-${pre}` : "";
  let version: string;
  let dirty = false;
  let minorDirty = false;
  let patchDirty = false;
  if (isX(major)) {
    version = `0.0.0${suffix}`;
    dirty = true;
  } else if (minor === undefined || isX(minor)) {
    version = `${major}.0.0${suffix}`;
    dirty = minorDirty = true;
  } else if (patch === undefined || isX(patch)) {
    version = `${major}.${minor}.0${suffix}`;
    dirty = patchDirty = true;
  } else {
    version = `${major}.${minor}.${patch}${suffix}`;
  }
  const con = parseVersion(version);
  if (!con) return null; // a wildcard mixed into a number ("1x"), leading zeros
  return { op, con, dirty, minorDirty, patchDirty };
}

export type ConstraintResult = { ok: true; value: Constraint } | { ok: false; error: string };

/** `NewConstraint`: parses a constraint such as `>=4.10.0 <5.0.0`, `~1.2`, `^2 || ^3`. */
export function parseConstraint(text: string): ConstraintResult {
  if (text.trim() === "") return { ok: false, error: "the version range is empty" };
  const rewritten = text.replace(HYPHEN, (_all, low: string, high: string) => `>= ${low}, <= ${high}`);
  const alternatives: Comparison[][] = [];
  for (const segment of rewritten.split("||")) {
    if (!VALID_SEGMENT.test(segment)) return { ok: false, error: `improper constraint: ${segment.trim()}` };
    const comparisons: Comparison[] = [];
    for (const m of segment.matchAll(FIND)) {
      const c = parseComparison(m[0]);
      if (!c) return { ok: false, error: `improper constraint: ${m[0].trim()}` };
      comparisons.push(c);
    }
    alternatives.push(comparisons);
  }
  return { ok: true, value: { text, alternatives } };
}

function tilde(v: Version, c: Comparison): boolean {
  if (compareVersions(v, c.con) < 0) return false;
  if (c.con.major === 0 && c.con.minor === 0 && c.con.patch === 0 && !c.minorDirty && !c.patchDirty)
    return true;
  if (v.major !== c.con.major) return false;
  return v.minor === c.con.minor || c.minorDirty;
}

function caret(v: Version, c: Comparison): boolean {
  if (compareVersions(v, c.con) < 0) return false;
  if (c.con.major > 0 || c.minorDirty) return v.major === c.con.major;
  if (v.major > 0) return false;
  if (c.con.minor > 0 || c.patchDirty) return v.minor === c.con.minor;
  if (v.minor > 0) return false;
  return v.patch === c.con.patch;
}

/** `!=` with a wildcard (`!= 1.2.x`): outside the named major or minor. */
function notEqualDirty(v: Version, c: Comparison, cmp: number): boolean {
  if (v.major !== c.con.major) return true;
  if (c.minorDirty) return false;
  if (v.minor !== c.con.minor) return true;
  if (c.patchDirty) return false;
  return cmp !== 0;
}

/** `>` with a wildcard (`> 1.2.x`): above the named major or minor. */
function greaterDirty(v: Version, c: Comparison, cmp: number): boolean {
  if (v.major !== c.con.major) return v.major > c.con.major;
  if (c.minorDirty) return false;
  if (c.patchDirty) return v.minor > c.con.minor;
  return cmp > 0;
}

/** `<=` with a wildcard (`<= 1.2.x`): up to the end of the named major or minor. */
function lessOrEqualDirty(v: Version, c: Comparison): boolean {
  if (v.major > c.con.major) return false;
  return !(v.major === c.con.major && v.minor > c.con.minor && !c.minorDirty);
}

function check(v: Version, c: Comparison): boolean {
  // A prerelease only matches a comparison that names a prerelease.
  if (v.prerelease !== "" && c.con.prerelease === "") return false;
  const cmp = compareVersions(v, c.con);
  switch (c.op) {
    case "":
    case "=":
      return c.dirty ? tilde(v, c) : cmp === 0;
    case "!=":
      return c.dirty ? notEqualDirty(v, c, cmp) : cmp !== 0;
    case ">":
      return c.dirty ? greaterDirty(v, c, cmp) : cmp > 0;
    case "<":
      return cmp < 0;
    case ">=":
    case "=>":
      return cmp >= 0;
    case "<=":
    case "=<":
      return c.dirty ? lessOrEqualDirty(v, c) : cmp <= 0;
    case "~":
    case "~>":
      return tilde(v, c);
    case "^":
      return caret(v, c);
  }
}

/** `Constraints.Check`: whether `v` satisfies any alternative (all of its comparisons). */
export function satisfies(v: Version, constraint: Constraint): boolean {
  return constraint.alternatives.some((all) => all.every((c) => check(v, c)));
}

/**
 * The versions (as written) that satisfy `constraint`, highest first, at most `newest` of them.
 * Unparseable versions are skipped; `strict` reads them as helm reads OCI tags.
 */
export function selectVersions(
  versions: readonly string[],
  constraint: Constraint,
  newest: number | null = null,
  parse: (text: string) => Version | null = parseVersion,
): string[] {
  const matching = versions
    .map(parse)
    .filter((v): v is Version => v !== null && satisfies(v, constraint))
    .sort((a, b) => compareVersions(b, a) || a.original.localeCompare(b.original));
  const unique: Version[] = [];
  for (const v of matching) if (!unique.some((u) => u.original === v.original)) unique.push(v);
  return (newest === null ? unique : unique.slice(0, newest)).map((v) => v.original);
}
