/**
 * The chart images record (`chart-images.json` in the render folder): for each chart version with
 * `images: true`, what was rendered (source, name, version and a SHA-256 of its values) and the images
 * discovery found in it. The action commits it with the node configuration, so the next run (a pull
 * request's plan included) finds it in the workspace and skips the chart download and `helm template`
 * for every chart version whose key still matches. A changed version or values mapping misses the record
 * and is rendered again. Pure: charts/record.ts reads the file.
 */
import { createHash } from "node:crypto";
import type { ChartEntry, ChartImageDiscovery, MirrorList } from "../list/model.js";

/** The file's name in the render folder. */
export const CHART_IMAGES_FILE = "chart-images.json";

/** Bumped when the format or what discovery finds in a chart changes: an older record is then ignored. */
export const CHART_IMAGES_RECORD_VERSION = 1;

/** What discovery found in one chart version, rendered now or taken from a record. */
export interface ChartDiscovery {
  chart: ChartEntry;
  /** Normalised references (`docker.io/library/nginx:1.27`), sorted, before the list maps them. */
  images: string[];
  /** Discovery's warnings about the rendered manifests (an empty image, a bad annotation). */
  warnings: string[];
}

export interface ChartImagesRecordEntry {
  /** The HTTP repository URL or the `oci://` reference, as the list gives it. */
  source: string;
  name: string;
  version: string;
  /** SHA-256 (hex) of the canonical JSON of the chart's `values:` (`{}` when none). */
  valuesSha256: string;
  images: string[];
  warnings: string[];
}

export interface ChartImagesRecord {
  version: typeof CHART_IMAGES_RECORD_VERSION;
  /** Sorted by source, name, version, values hash. */
  charts: ChartImagesRecordEntry[];
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown, indent?: number): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    const object = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(object)
        .sort()
        .map((k) => [k, sortKeys(object[k])]),
    );
  }
  return value;
}

export function valuesSha256(discovery: ChartImageDiscovery | null): string {
  return createHash("sha256")
    .update(canonicalJson(discovery?.values ?? {}))
    .digest("hex");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function entryKey(e: Pick<ChartImagesRecordEntry, "source" | "name" | "version" | "valuesSha256">): string {
  return JSON.stringify([e.source, e.name, e.version, e.valuesSha256]);
}

/** The key of what rendering `chart` depends on: source, name, version and values. */
export function chartKey(chart: ChartEntry): string {
  return entryKey({
    source: chart.source,
    name: chart.name,
    version: chart.version,
    valuesSha256: valuesSha256(chart.images),
  });
}

function sortEntries(entries: ChartImagesRecordEntry[]): ChartImagesRecordEntry[] {
  const unique = new Map(entries.map((e) => [entryKey(e), e]));
  return [...unique.entries()].sort(([a], [b]) => compare(a, b)).map(([, e]) => e);
}

/** The record of these discoveries (charts that could not be rendered have none, so they are retried). */
export function chartImagesRecord(found: readonly ChartDiscovery[]): ChartImagesRecord {
  return {
    version: CHART_IMAGES_RECORD_VERSION,
    charts: sortEntries(
      found.map(({ chart, images, warnings }) => ({
        source: chart.source,
        name: chart.name,
        version: chart.version,
        valuesSha256: valuesSha256(chart.images),
        images: [...new Set(images)].sort(compare),
        warnings: [...warnings],
      })),
    ),
  };
}

/**
 * The entries still meaningful for `list`: a chart version it names with the same values, or (when the
 * list's ranges are not resolved, as in an offline render) any version of a range with the same values.
 */
export function recordForList(list: MirrorList, record: ChartImagesRecord): ChartImagesRecord {
  const charts = new Set(list.charts.filter((c) => c.images !== null).map(chartKey));
  const ranges = new Set(
    (list.chartRanges ?? [])
      .filter((r) => r.images !== null)
      .map((r) => JSON.stringify([r.source, r.name, valuesSha256(r.images)])),
  );
  return {
    version: CHART_IMAGES_RECORD_VERSION,
    charts: sortEntries(
      record.charts.filter(
        (e) => charts.has(entryKey(e)) || ranges.has(JSON.stringify([e.source, e.name, e.valuesSha256])),
      ),
    ),
  };
}

/** The file's text: canonical JSON, two-space indent, trailing newline. */
export function formatChartImagesRecord(record: ChartImagesRecord): string {
  return `${canonicalJson({ version: record.version, charts: sortEntries(record.charts) }, 2)}\n`;
}

/** What the record holds for this chart version, or null when it does not match (another version or values). */
export function recordedDiscovery(
  record: ChartImagesRecord | null,
  chart: ChartEntry,
): ChartDiscovery | null {
  if (!record) return null;
  const key = chartKey(chart);
  const entry = record.charts.find((e) => entryKey(e) === key);
  return entry ? { chart, images: [...entry.images], warnings: [...entry.warnings] } : null;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

/** Parses the file's text; a malformed record is an error message, never an exception. */
export function parseChartImagesRecord(
  text: string,
): { ok: true; record: ChartImagesRecord } | { ok: false; error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON (${(e as Error).message})` };
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    return { ok: false, error: "not a JSON object" };
  const { version, charts } = doc as Record<string, unknown>;
  if (version !== CHART_IMAGES_RECORD_VERSION)
    return {
      ok: false,
      error: `version ${JSON.stringify(version)} is not ${CHART_IMAGES_RECORD_VERSION}`,
    };
  if (!Array.isArray(charts)) return { ok: false, error: "charts is not a list" };
  const entries: ChartImagesRecordEntry[] = [];
  for (const [i, item] of charts.entries()) {
    const e = (typeof item === "object" && item !== null ? item : {}) as Record<string, unknown>;
    if (
      typeof e.source !== "string" ||
      typeof e.name !== "string" ||
      typeof e.version !== "string" ||
      typeof e.valuesSha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(e.valuesSha256) ||
      !isStringArray(e.images) ||
      !isStringArray(e.warnings)
    ) {
      return {
        ok: false,
        error: `charts[${i}] is not { source, name, version, valuesSha256, images, warnings }`,
      };
    }
    entries.push({
      source: e.source,
      name: e.name,
      version: e.version,
      valuesSha256: e.valuesSha256,
      images: [...e.images],
      warnings: [...e.warnings],
    });
  }
  return { ok: true, record: { version: CHART_IMAGES_RECORD_VERSION, charts: sortEntries(entries) } };
}
