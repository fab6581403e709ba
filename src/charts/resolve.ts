/**
 * Chart version ranges (`versionRange:`, optionally `newest: N`) resolved at plan time into concrete
 * chart versions: from the HTTP repository's `index.yaml` (helm's loose version reading) or from the
 * OCI repository's tag list (tags read as helm does: `_` back to `+`, strict SemVer). The result is a
 * mirror list with only concrete `ChartEntry`s, which the planner then diffs against the target like
 * any exact version. The decision is pure; the listing sits behind `ChartVersionLister`.
 */
import type { ChartEntry, ChartRange, ListProblem, MirrorList } from "../list/model.js";
import { chartTag } from "../list/naming.js";
import { isValidTag } from "../list/reference.js";
import { parseConstraint, parseStrictVersion, parseVersion, selectVersions } from "../list/semver.js";
import type { PlanWarning } from "../plan/model.js";

/** Where the published versions of a chart come from. */
export interface ChartVersionLister {
  /** The versions `index.yaml` lists for `name` in the HTTP repository, or null when it lists no such chart. */
  repositoryVersions(repositoryUrl: string, name: string): Promise<string[] | null>;
  /** The tags of an OCI chart repository (`oci://host/path/name`), or null when it does not exist. */
  registryTags(source: string): Promise<string[] | null>;
}

export interface ResolvedChartList {
  /** The list with every range replaced by the versions it matched (`chartRanges` empty). */
  list: MirrorList;
  warnings: PlanWarning[];
  /** Ranges that could not be resolved (unreachable index, unknown chart, no matching version). */
  problems: ListProblem[];
}

/** A range without `newest:` that matches more than this many versions gets a warning. */
export const MANY_VERSIONS = 10;

export async function resolveChartVersions(
  list: MirrorList,
  lister: ChartVersionLister,
): Promise<ResolvedChartList> {
  const ranges = list.chartRanges ?? [];
  const warnings: PlanWarning[] = [];
  const problems: ListProblem[] = [];
  if (ranges.length === 0) return { list: { ...list, chartRanges: [] }, warnings, problems };
  const charts = [...list.charts];
  const taken = new Set(charts.map((c) => `${c.repository}:${c.tag}`));
  const error = (range: ChartRange, message: string, hint?: string) =>
    problems.push({ ...range.location, severity: "error", message, ...(hint ? { hint } : {}) });

  const listed = await Promise.all(ranges.map((range) => publishedVersions(range, lister)));
  ranges.forEach((range, i) => {
    const selection = selectVersionsFor(range, listed[i]!);
    if ("problem" in selection) {
      error(range, selection.problem, selection.hint);
      return;
    }
    const { selected } = selection;
    if (range.newest === null && selected.length > MANY_VERSIONS) {
      warnings.push({
        message: `version range "${range.range}" of chart ${range.name} matches ${selected.length} versions; all of them are mirrored`,
        hint: "add newest: N to keep only the highest N",
        location: range.location,
      });
    }
    for (const version of selected) {
      const entry = rangeEntry(range, version, warnings);
      if (!entry) continue;
      const key = `${range.repository}:${entry.tag}`;
      if (taken.has(key)) continue; // listed exactly too, or by another range of the same chart
      taken.add(key);
      charts.push(entry);
    }
  });
  // In list order: a range's versions where the range is written.
  charts.sort((a, b) => a.location.line - b.location.line || a.location.column - b.location.column);
  return { list: { ...list, charts, chartRanges: [] }, warnings, problems };
}

type Published = { versions: string[] | null } | { error: string };

/** The versions a range selects from what its upstream publishes, or the problem that it cannot. */
function selectVersionsFor(
  range: ChartRange,
  published: Published,
): { selected: string[] } | { problem: string; hint?: string } {
  const where = range.kind === "oci" ? range.source : `${range.source} (index.yaml)`;
  if ("error" in published) {
    return {
      problem: `cannot resolve version range "${range.range}" of chart ${range.name}: ${published.error}`,
      hint:
        range.kind === "oci"
          ? "check the oci:// reference and the registry credentials"
          : "check the repository URL; its index.yaml must be reachable from this runner",
    };
  }
  if (published.versions === null) {
    return {
      problem:
        range.kind === "oci"
          ? `chart repository ${range.source} does not exist`
          : `chart ${range.name} is not in ${where}`,
      hint: "check the chart name and the repository",
    };
  }
  const constraint = parseConstraint(range.range);
  if (!constraint.ok) return { problem: `version range "${range.range}" is not valid: ${constraint.error}` };
  const parse = range.kind === "oci" ? parseStrictVersion : parseVersion;
  const selected = selectVersions(published.versions, constraint.value, range.newest, parse);
  if (selected.length > 0) return { selected };
  const newest = selectVersions(published.versions, parseConstraintOrThrow("*"), 3, parse);
  return {
    problem: `version range "${range.range}" matches none of the ${published.versions.length} versions of chart ${range.name} in ${where}`,
    hint:
      newest.length > 0
        ? `the newest releases are ${newest.join(", ")}`
        : "it publishes no release versions (prereleases match only a range that names one)",
  };
}

/** The chart entry for one version a range selected, or null (with a warning) when its tag is not valid. */
function rangeEntry(range: ChartRange, version: string, warnings: PlanWarning[]): ChartEntry | null {
  const tag = chartTag(version);
  if (!isValidTag(tag)) {
    warnings.push({
      message: `chart ${range.name} ${version} cannot be stored as an OCI tag ("${tag}"); skipped`,
      location: range.location,
    });
    return null;
  }
  return {
    kind: range.kind,
    source: range.source,
    name: range.name,
    repository: range.repository,
    version,
    tag,
    location: range.location,
    images: range.images,
    resolvedFrom: range.range,
  };
}

function parseConstraintOrThrow(text: string) {
  const c = parseConstraint(text);
  if (!c.ok) throw new Error(c.error);
  return c.value;
}

async function publishedVersions(range: ChartRange, lister: ChartVersionLister): Promise<Published> {
  try {
    if (range.kind === "oci") {
      const tags = await lister.registryTags(range.source);
      // helm stores `+` as `_` in tags and reads them back the same way.
      return { versions: tags === null ? null : tags.map((t) => t.replaceAll("_", "+")) };
    }
    return { versions: await lister.repositoryVersions(range.source, range.name) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
