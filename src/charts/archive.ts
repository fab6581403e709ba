/**
 * Reads a packaged chart (`name-version.tgz`: a gzip'd tar with `<name>/Chart.yaml` at the top) far enough
 * to get its metadata. ustar, pax (`path=`) and GNU long names are understood. Pure. Bounded like helm's
 * own loader (pkg/chart/loader: 100 MiB decompressed, 5 MiB a file): a small archive that unpacks to
 * gigabytes is refused before it fills memory.
 */
import { gunzipSync } from "node:zlib";
import { parse as parseYaml } from "yaml";

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

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString("utf8");
}

/** The files of a tar archive whose path `wanted` accepts, by path. */
export function readTarFiles(tar: Buffer, wanted: (path: string) => boolean): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | null = null;
  let entries = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (++entries > CHART_LIMITS.maxEntries)
      throw new Error(`the chart archive has more than ${CHART_LIMITS.maxEntries} entries; not read`);
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) throw new Error("the chart archive has a corrupt tar header");
    const type = String.fromCharCode(header[156] ?? 0);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1];
      if (path) longName = path;
      continue;
    }
    if (type === "L") {
      longName = field(body, 0, body.length);
      continue;
    }
    if (type === "g") continue;
    const prefix = field(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = null;
    if ((type === "0" || type === "\0") && wanted(name)) {
      if (size > CHART_LIMITS.maxFileBytes)
        throw new Error(
          `${name} in the chart archive is ${size} bytes, more than the ${CHART_LIMITS.maxFileBytes} a chart file may have (helm's limit); not read`,
        );
      files.set(name.replace(/^\.\//, ""), Buffer.from(body));
    }
  }
  return files;
}

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
  const files = readTarFiles(tar, (p) => /^(?:\.\/)?[^/]+\/Chart\.yaml$/.test(p));
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
