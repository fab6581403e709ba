/** Rules for `charts:`: each chart's source and name, where it lands, its versions or range, its images. */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import { checkUrl } from "../address-policy.js";
import type { ChartEntry, ChartImageDiscovery, ChartRange, Location, Target } from "../model.js";
import { CHART_VERSION, chartTag, repositoryNameProblem } from "../naming.js";
import type { Problems } from "../problems.js";
import { shown as q } from "../quote.js";
import { isValidTag, parseReference, referenceName } from "../reference.js";
import { mirrorListDefaults as defaults } from "../schema.js";
import { parseConstraint } from "../semver.js";
import { bool, get, keyNode, str, strings } from "../yaml-nodes.js";

/** Where a chart comes from: its kind, normalised source and name. */
interface ChartOrigin {
  kind: ChartEntry["kind"];
  source: string;
  name: string;
}

/** A chart entry read up to its versions. */
interface Chart extends ChartOrigin {
  repository: string;
  images: ChartImageDiscovery | null;
}

/** The chart versions and ranges read so far, versions by repository:tag. */
interface ChartIndex {
  entries: ChartEntry[];
  ranges: ChartRange[];
  byKey: Map<string, ChartEntry>;
}

export function readCharts(
  node: Node | undefined,
  target: Target,
  problems: Problems,
): { charts: ChartEntry[]; chartRanges: ChartRange[] } {
  const index: ChartIndex = { entries: [], ranges: [], byKey: new Map() };
  if (isSeq(node)) for (const item of node.items) readChart(item, target, problems, index);
  return { charts: index.entries, chartRanges: index.ranges };
}

function readChart(item: unknown, target: Target, problems: Problems, index: ChartIndex): void {
  const sourceNode = get(item, "source");
  const raw = str(sourceNode);
  if (raw === undefined) return;
  const origin = readOrigin(item, raw, sourceNode, problems);
  if (origin === null) return;
  const repository = readChartRepository(item, origin, target, sourceNode, problems);
  if (repository === null) return;
  const chart: Chart = { ...origin, repository, images: readChartImages(item, problems) };
  if (!checkVersionKeys(item, chart, sourceNode, problems)) return;
  readRange(item, chart, problems, index);
  for (const v of strings(get(item, "versions"))) readVersion(v.value, v.node, chart, problems, index);
}

/** The source as an OCI reference or an HTTP chart repository URL, and the chart's name. */
function readOrigin(
  item: unknown,
  raw: string,
  sourceNode: Node | undefined,
  problems: Problems,
): ChartOrigin | null {
  const urlRefused = checkUrl(raw, ["https", "http", "oci"]);
  if (!urlRefused.ok) {
    problems.error(problems.locate(sourceNode), `chart source: ${urlRefused.reason}`, urlRefused.hint);
    return null;
  }
  return raw.startsWith("oci://")
    ? readOciOrigin(item, raw, sourceNode, problems)
    : readHttpOrigin(item, raw, sourceNode, problems);
}

/** `oci://host/path/name`, without a version; `name:` if given must be the reference's last part. */
function readOciOrigin(
  item: unknown,
  raw: string,
  sourceNode: Node | undefined,
  problems: Problems,
): ChartOrigin | null {
  const rest = raw.slice("oci://".length).replace(/\/+$/, "");
  const parsed = parseReference(rest);
  if (
    !parsed.ok ||
    !rest.includes("/") ||
    (parsed.value.domain === "docker.io" && !rest.startsWith("docker.io/"))
  ) {
    problems.error(
      problems.locate(sourceNode),
      `invalid OCI chart reference ${q(raw)}${parsed.ok ? ": it names no registry host" : `: ${parsed.error}`}`,
      "expected oci://host/path/name, e.g. oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
    );
    return null;
  }
  if (parsed.value.tag !== null || parsed.value.digest !== null) {
    problems.error(
      problems.locate(sourceNode),
      `the OCI chart reference ${q(raw)} carries a version`,
      "leave the version out of source and list it under versions:",
    );
    return null;
  }
  const last = parsed.value.path.split("/").pop()!;
  const nameNode = get(item, "name");
  const name = str(nameNode);
  if (name !== undefined && name !== last) {
    problems.error(
      problems.locate(nameNode),
      `name ${q(name)} differs from the chart named by the OCI reference (${q(last)})`,
      "remove name: for OCI charts, or use target: to store it under another name",
    );
    return null;
  }
  return { kind: "oci", source: `oci://${referenceName(parsed.value)}`, name: last };
}

/** An HTTP chart repository's base URL (where index.yaml lives) and the chart's `name:` in it. */
function readHttpOrigin(
  item: unknown,
  raw: string,
  sourceNode: Node | undefined,
  problems: Problems,
): ChartOrigin | null {
  const source = chartRepositoryUrl(raw, sourceNode, problems);
  if (source === null) return null;
  const nameNode = get(item, "name");
  const name = str(nameNode);
  if (name === undefined) {
    problems.error(
      problems.locate(sourceNode),
      "a chart from an HTTP repository needs name:",
      "add name: <chart name> as it appears in the repository's index.yaml",
    );
    return null;
  }
  const nameRefused = chartNameProblem(name);
  if (nameRefused) {
    problems.error(
      problems.locate(nameNode),
      `chart name ${q(name)} ${nameRefused}`,
      "give the chart's name as its Chart.yaml and the repository's index.yaml spell it (letters, digits, '.', '_', '-')",
    );
    return null;
  }
  return { kind: "http", source, name };
}

/** The repository's base URL without trailing slashes, or null (reported). */
function chartRepositoryUrl(raw: string, sourceNode: Node | undefined, problems: Problems): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.error(
      problems.locate(sourceNode),
      `${q(raw)} is not a URL`,
      "expected an HTTP chart repository URL or oci://host/path/name",
    );
    return null;
  }
  if (url.search || url.hash) {
    problems.error(
      problems.locate(sourceNode),
      "a chart repository URL has no query or fragment",
      "give the repository's base URL, where index.yaml lives",
    );
    return null;
  }
  const source = url.toString().replace(/\/+$/, "");
  if (source.endsWith("/index.yaml")) {
    problems.error(
      problems.locate(sourceNode),
      "give the chart repository's base URL, not its index.yaml",
      `write ${q(source.slice(0, -"/index.yaml".length))}`,
    );
    return null;
  }
  return source;
}

/**
 * Helm's rule for a chart name: pkg/chart/metadata.go `Validate` refuses `.`, `..` and any name that is not its
 * own `filepath.Base` (a `/`), and pkg/chartutil/create.go allows `^[a-zA-Z0-9._-]+$`. A leading `-` would reach
 * `helm pull` as a flag.
 */
function chartNameProblem(name: string): string | null {
  if (name === "." || name === "..") return "is not allowed (helm refuses . and ..)";
  if (/[/\\]/.test(name)) return "is a path; a chart name has no /";
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) return "has characters helm does not allow in a chart name";
  if (name.startsWith("-")) return "starts with -";
  return null;
}

/** `<chart prefix>/<target or name>`, or null when that is no valid name, or would rename an HTTP chart. */
function readChartRepository(
  item: unknown,
  origin: ChartOrigin,
  target: Target,
  sourceNode: Node | undefined,
  problems: Problems,
): string | null {
  const { kind, name } = origin;
  const targetNode = get(item, "target");
  const targetName = str(targetNode) ?? name;
  const repository = `${target.chartPrefix}/${targetName}`;
  const nameProblem = repositoryNameProblem(repository, target.type);
  if (nameProblem) {
    problems.error(
      problems.locate(get(item, "name") ?? sourceNode),
      `chart ${q(name)} cannot land in the target: ${nameProblem}`,
      "use target: to give it a valid repository name",
    );
    return null;
  }
  if (kind === "http" && targetNode && targetName.split("/").pop() !== name) {
    // helm push names the repository after the chart (`<remote>/<name from Chart.yaml>`): it can
    // nest a chart deeper, but never rename it.
    problems.error(
      problems.locate(targetNode),
      `a chart from an HTTP repository cannot be renamed: helm push stores ${name} as <prefix>/${name}`,
      `keep the name as the last part and nest it instead, e.g. target: ${targetName.replace(/[^a-z0-9._-]+/g, "-")}/${name}`,
    );
    return null;
  }
  return repository;
}

/** `images: true` and `values:` of a chart entry. */
function readChartImages(item: unknown, problems: Problems): ChartImageDiscovery | null {
  const valuesNode = get(item, "values");
  const values = isMap(valuesNode) ? ((valuesNode as YAMLMap).toJSON() as Record<string, unknown>) : {};
  if ((bool(get(item, "images")) ?? defaults["charts[].images"]) === true) return { values };
  if (valuesNode) {
    problems.warn(
      problems.locate(keyNode(item, "values")),
      "values: is only used to discover the chart's images, and images: is not true",
      "add images: true to mirror the images the chart deploys, or remove values:",
    );
  }
  return null;
}

/** A chart names `versions:`, `versionRange:` or both (false when neither); `newest:` only with a range. */
function checkVersionKeys(
  item: unknown,
  chart: Chart,
  sourceNode: Node | undefined,
  problems: Problems,
): boolean {
  const rangeNode = get(item, "versionRange");
  if (!get(item, "versions") && !rangeNode) {
    problems.error(
      problems.locate(sourceNode),
      `chart ${chart.name} names no version`,
      'add versions: ["1.2.3"] or versionRange: ">=1.2.0 <2.0.0"',
    );
    return false;
  }
  if (get(item, "newest") && !rangeNode) {
    problems.error(
      problems.locate(keyNode(item, "newest")),
      "newest: only applies to a versionRange",
      "add versionRange:, or remove newest:",
    );
  }
  return true;
}

function readRange(item: unknown, chart: Chart, problems: Problems, index: ChartIndex): void {
  const rangeNode = get(item, "versionRange");
  const range = str(rangeNode);
  if (range === undefined) return;
  const parsed = parseConstraint(range);
  if (!parsed.ok) {
    problems.error(
      problems.locate(rangeNode),
      `version range ${q(range)} is not valid: ${parsed.error}`,
      'write it as helm reads --version: ">=4.10.0 <5.0.0", "~4.11", "^1.2 || ^2.0", "4.x"',
    );
    return;
  }
  const location = problems.locate(rangeNode);
  if (clashes(chart, location, index, problems)) return;
  const newestNode = get(item, "newest");
  const newest = isScalar(newestNode) && typeof newestNode.value === "number" ? newestNode.value : null;
  const { kind, source, name, repository, images } = chart;
  index.ranges.push({ kind, source, name, repository, range, newest, images, location });
}

function readVersion(version: string, node: Node, chart: Chart, problems: Problems, index: ChartIndex): void {
  const location = problems.locate(node);
  if (!CHART_VERSION.test(version)) {
    problems.error(
      location,
      `chart version ${q(version)} is not a semantic version`,
      parseConstraint(version).ok
        ? `versions: lists exact versions; for a range write versionRange: ${q(version)}`
        : "Helm chart versions are SemVer 2, e.g. 4.11.3 or 1.0.0-rc.1",
    );
    return;
  }
  const tag = chartTag(version);
  if (!isValidTag(tag)) {
    problems.error(location, `chart version ${q(version)} cannot be stored as an OCI tag (${q(tag)})`);
    return;
  }
  const { kind, source, name, repository, images } = chart;
  const key = `${repository}:${tag}`;
  const previous = index.byKey.get(key);
  if (previous) {
    if (previous.source !== source || previous.name !== name) {
      problems.error(
        location,
        `${repository}:${tag} would hold both ${name} from ${source} and ${previous.name} from ${previous.source} (line ${previous.location.line})`,
        "give one chart its own repository name with target:",
      );
    }
    return;
  }
  if (clashes(chart, location, index, problems)) return;
  const entry: ChartEntry = { kind, source, name, repository, version, tag, location, images };
  index.byKey.set(key, entry);
  index.entries.push(entry);
}

/** Another chart already landing in this chart's repository, reported at `location`; true when there is one. */
function clashes(chart: Chart, location: Location, index: ChartIndex, problems: Problems): boolean {
  const other = [...index.entries, ...index.ranges].find(
    (e) => e.repository === chart.repository && (e.source !== chart.source || e.name !== chart.name),
  );
  if (!other) return false;
  problems.error(
    location,
    `charts ${chart.name} from ${chart.source} and ${other.name} from ${other.source} (line ${other.location.line}) both land in ${chart.repository}`,
    "give one chart its own repository name with target:",
  );
  return true;
}
