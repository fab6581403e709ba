/**
 * Reads the chart images record a previous run wrote (`chart-images.json`, its format in
 * render/chart-images.ts), so discovery can skip the chart versions it already knows.
 */
import { readFile, stat } from "node:fs/promises";
import { type ChartImagesRecord, parseChartImagesRecord } from "../render/chart-images.js";

/** A record lists images per chart version: a few KiB in practice; anything near this is not one. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Reads a record file. An absent file is no record and no warning; an unreadable or malformed one is
 * no record and a warning (the charts are then rendered as without it).
 */
export async function readChartImagesRecord(
  path: string,
): Promise<{ record: ChartImagesRecord | null; warning: string | null }> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_RECORD_BYTES)
      return {
        record: null,
        warning: `${path} is ${size} bytes, more than the ${MAX_RECORD_BYTES} a chart images record may have; it is ignored and charts with images: true are rendered`,
      };
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { record: null, warning: null };
    return { record: null, warning: `${path} could not be read (${(e as Error).message}); it is ignored` };
  }
  const parsed = parseChartImagesRecord(text);
  if (!parsed.ok)
    return {
      record: null,
      warning: `${path} is not a chart images record: ${parsed.error}; it is ignored and charts with images: true are rendered`,
    };
  return { record: parsed.record, warning: null };
}
