// Reads a chart package (.tgz) the way helm's loader sees it: files below the top folder,
// Chart.yaml parsed. Handles ustar (with the name prefix field) and skips pax/GNU headers.
import { gunzipSync } from "node:zlib";
import { parse as parseYaml } from "yaml";

function field(block, start, length) {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString("utf8");
}

/** @returns {Map<string, Buffer>} regular files by full path inside the archive */
export function readTar(tar) {
  const files = new Map();
  let offset = 0;
  let longName = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = field(header, 345, 155);
    let name = field(header, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (type === "L") longName = field(body, 0, body.length);
    else {
      if (longName) {
        name = longName;
        longName = null;
      }
      if (type === "0" || type === "\u0000") files.set(name.replace(/^\.\//, ""), Buffer.from(body));
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/**
 * @returns {{ name: string, metadata: Record<string, unknown>, files: Map<string, Buffer> }}
 *   files keyed by path below the chart folder (`templates/x.yaml`)
 */
export function readChartArchive(bytes, source = "chart") {
  let tar;
  try {
    tar = gunzipSync(bytes);
  } catch (error) {
    throw new Error(`${source}: not a gzip chart archive (${error.message})`);
  }
  const all = readTar(tar);
  const chartYamlPath = [...all.keys()].find((p) => /^[^/]+\/Chart\.yaml$/.test(p));
  if (!chartYamlPath) throw new Error(`${source}: Chart.yaml file is missing`);
  const top = chartYamlPath.split("/")[0];
  const files = new Map();
  for (const [path, body] of all) {
    if (path.startsWith(`${top}/`)) files.set(path.slice(top.length + 1), body);
  }
  const metadata = parseYaml(files.get("Chart.yaml").toString("utf8")) ?? {};
  if (!metadata.name || !metadata.version) throw new Error(`${source}: Chart.yaml needs name and version`);
  return { name: metadata.name, metadata, files };
}

/**
 * The config blob helm pushes: chart.Metadata as Go's encoding/json writes it (struct field
 * order, empty fields omitted).
 */
export function chartConfigJson(metadata) {
  const order = [
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
  ];
  const out = {};
  for (const key of order) {
    const value = metadata[key];
    if (value === undefined || value === null || value === "" || value === false) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out[key] = key === "version" || key === "appVersion" ? String(value) : value;
  }
  return Buffer.from(JSON.stringify(out), "utf8");
}
