/**
 * Reads files out of a tar archive held in memory (ustar, pax `path=` and GNU long names), bounded: at most
 * `maxEntries` entries and `maxFileBytes` for each file taken out. Used for chart archives
 * (charts/archive.ts) and for the crane and helm release archives (./install.ts). Pure.
 */

/** The bounds for one kind of archive, and the words its errors use. */
export interface TarLimits {
  maxEntries: number;
  maxFileBytes: number;
  /** The archive in an error message (`chart archive`). */
  what: string;
  /** After "more than the N bytes" (`a chart file may have (helm's limit)`). */
  perFile: string;
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString("utf8");
}

/** The name a pax (`x`, its `path=`) or GNU long-name (`L`) entry gives the next entry, if any. */
function longNameIn(type: string, body: Buffer): string | null {
  if (type === "x") return /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1] || null;
  if (type === "L") return field(body, 0, body.length);
  return null;
}

/** The entry's name from its ustar header (prefix and name fields). */
function headerName(header: Buffer): string {
  const prefix = field(header, 345, 155);
  return prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
}

/** The files of a tar archive whose path `wanted` accepts, by path. */
export function readTarFiles(
  tar: Buffer,
  wanted: (path: string) => boolean,
  limits: TarLimits,
): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | null = null;
  let entries = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (++entries > limits.maxEntries)
      throw new Error(`the ${limits.what} has more than ${limits.maxEntries} entries; not read`);
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) throw new Error(`the ${limits.what} has a corrupt tar header`);
    const type = String.fromCharCode(header[156] ?? 0);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "x" || type === "L" || type === "g") {
      longName = longNameIn(type, body) ?? longName;
      continue;
    }
    const name = longName ?? headerName(header);
    longName = null;
    if ((type === "0" || type === "\0") && wanted(name)) {
      if (size > limits.maxFileBytes)
        throw new Error(
          `${name} in the ${limits.what} is ${size} bytes, more than the ${limits.maxFileBytes} ${limits.perFile}; not read`,
        );
      files.set(name.replace(/^\.\//, ""), Buffer.from(body));
    }
  }
  return files;
}
