/** The `validate --json` document: one element per image source and tag (or digest), one per chart version. */

import type { MirrorList } from "../list/model.js";
import { describeRange, RANGES_LOCK_FILE } from "../list/tag-ranges.js";
import { redirectLines } from "./redirects.js";

export interface ValidatedImageJson {
  source: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  platforms?: string[];
}

export interface ValidatedChartJson {
  source: string;
  name: string;
  repository: string;
  version: string;
}

/** An image tag range, resolved at plan time (`versionRange`, `pattern`, `newest` as written). */
export interface ValidatedImageRangeJson {
  source: string;
  repository: string;
  versionRange: string | null;
  pattern: string | null;
  newest: number | null;
  platforms?: string[];
  line: number;
}

export function listToJson(list: MirrorList): {
  images: ValidatedImageJson[];
  charts: ValidatedChartJson[];
  imageRanges?: ValidatedImageRangeJson[];
} {
  const ranges = list.imageRanges ?? [];
  return {
    images: list.images.map((i) => ({
      source: i.source,
      repository: i.repository,
      tag: i.reference.tag,
      digest: i.reference.digest,
      ...(i.platforms.length > 0 ? { platforms: i.platforms } : {}),
    })),
    charts: list.charts.map((c) => ({
      source: c.source,
      name: c.name,
      repository: c.repository,
      version: c.version,
    })),
    ...(ranges.length > 0
      ? {
          imageRanges: ranges.map((r) => ({
            source: r.source,
            repository: r.repository,
            versionRange: r.versionRange,
            pattern: r.pattern,
            newest: r.newest,
            ...(r.platforms.length > 0 ? { platforms: r.platforms } : {}),
            line: r.location.line,
          })),
        }
      : {}),
  };
}

/** One line a person reads after a successful validation. */
export function listSummary(list: MirrorList): string {
  const repositories = new Set(list.images.map((i) => i.repository)).size;
  const chartRepos = new Set(list.charts.map((c) => c.repository)).size;
  const lines = [
    `${list.file}: valid. ${list.images.length} image tag${list.images.length === 1 ? "" : "s"} in ${repositories} repositor${repositories === 1 ? "y" : "ies"}, ${list.charts.length} chart version${list.charts.length === 1 ? "" : "s"} in ${chartRepos} repositor${chartRepos === 1 ? "y" : "ies"}.`,
  ];
  const ranges = list.chartRanges ?? [];
  if (ranges.length > 0) {
    lines.push(
      `Chart version ranges (resolved at plan time): ${ranges.map((r) => `${r.name} ${r.range}${r.newest !== null ? ` (newest ${r.newest})` : ""}`).join(", ")}.`,
    );
  }
  const imageRanges = list.imageRanges ?? [];
  if (imageRanges.length > 0)
    lines.push(
      `Image tag ranges (resolved at plan time, then kept in ${RANGES_LOCK_FILE}): ${imageRanges.map((r) => `${r.source} ${describeRange(r)}`).join("; ")}.`,
    );
  const discovering = [
    ...new Set([...list.charts, ...ranges].filter((c) => c.images !== null).map((c) => c.name)),
  ];
  if (discovering.length > 0) lines.push(`Images are discovered at plan time in: ${discovering.join(", ")}.`);
  lines.push(...redirectLines(list));
  return lines.join("\n");
}
