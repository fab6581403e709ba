/**
 * Reads a packaged chart (`name-version.tgz`: a gzip'd tar with `<name>/Chart.yaml` at the top) far enough
 * to get its metadata. ustar, pax (`path=`) and GNU long names are understood. Pure.
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
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
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
    if ((type === "0" || type === "\0") && wanted(name))
      files.set(name.replace(/^\.\//, ""), Buffer.from(body));
  }
  return files;
}

/** Chart.yaml of a packaged chart. Throws when the archive holds none. */
export function readChartMetadata(tgz: Buffer): ChartMetadata {
  let tar: Buffer;
  try {
    tar = gunzipSync(tgz);
  } catch (e) {
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
