/**
 * Reads a packaged chart (`name-version.tgz`: a gzip'd tar with `<name>/Chart.yaml` at the top) far enough
 * to get its metadata. ustar, pax (`path=`) and GNU long names are understood. Pure. Bounded like helm's
 * own loader (pkg/chart/loader: 100 MiB decompressed, 5 MiB a file): a small archive that unpacks to
 * gigabytes is refused before it fills memory.
 */
import { gunzipSync } from "node:zlib";
import { parse as parseYaml } from "yaml";
import { readTarFiles, type TarLimits } from "../tools/tar.js";

export interface ChartMetadata {
  name: string;
  version: string;
  appVersion: string | null;
  /** `annotations` from Chart.yaml, values as strings. */
  annotations: Record<string, string>;
}

const MiB = 1024 * 1024;

/** The limits for reading a chart archive. */
export const CHART_LIMITS = {
  /** The archive as downloaded. */
  maxArchiveBytes: 100 * MiB,
  /** The tar after gunzip (helm's MaxDecompressedChartSize). */
  maxDecompressedBytes: 100 * MiB,
  /** One file read from the archive (helm's MaxDecompressedFileSize). */
  maxFileBytes: 5 * MiB,
  /** Entries (files, folders, headers) in the archive. */
  maxEntries: 50_000,
} as const;

/** How `readTarFiles` reads a chart archive: the chart limits, in helm's words. */
const CHART_TAR: TarLimits = {
  maxEntries: CHART_LIMITS.maxEntries,
  maxFileBytes: CHART_LIMITS.maxFileBytes,
  what: "chart archive",
  perFile: "a chart file may have (helm's limit)",
};

/** Chart.yaml of a packaged chart. Throws when the archive holds none. */
export function readChartMetadata(tgz: Buffer): ChartMetadata {
  if (tgz.length > CHART_LIMITS.maxArchiveBytes)
    throw new Error(
      `the chart archive is ${tgz.length} bytes, more than ${CHART_LIMITS.maxArchiveBytes}; not read`,
    );
  let tar: Buffer;
  try {
    tar = gunzipSync(tgz, { maxOutputLength: CHART_LIMITS.maxDecompressedBytes });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new Error(
        `the chart archive unpacks to more than ${CHART_LIMITS.maxDecompressedBytes} bytes (helm's limit for a chart); not read`,
      );
    throw new Error(`the chart archive is not gzip data: ${(e as Error).message}`);
  }
  const files = readTarFiles(tar, (p) => /^(?:\.\/)?[^/]+\/Chart\.yaml$/.test(p), CHART_TAR);
  const text = [...files.values()][0];
  if (!text) throw new Error("the chart archive has no <name>/Chart.yaml");
  const doc = (parseYaml(text.toString("utf8")) ?? {}) as Record<string, unknown>;
  const annotations: Record<string, string> = {};
  const raw = doc.annotations;
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw)) if (v !== null && v !== undefined) annotations[k] = String(v);
  }
  return {
    name: String(doc.name ?? ""),
    version: String(doc.version ?? ""),
    appVersion: doc.appVersion === undefined || doc.appVersion === null ? null : String(doc.appVersion),
    annotations,
  };
}
