/**
 * Reads a mirror-list file into the typed `MirrorList`, or into located problems. Pure: the text
 * comes in, values come out; the caller reads the file and prints or annotates the problems.
 *
 * The stages, each in its own file: the bounds and the pre-scan that refuse hostile text (./limits.ts,
 * ./prescan.ts), the YAML layer (./yaml-document.ts), the structure check against the schema
 * (./validate-structure.ts, ./schema.ts), and the rules of each section (./rules/).
 */
import { isScalar, LineCounter } from "yaml";
import { MAX_DEPTH, MAX_LIST_BYTES, TOO_DEEP_HINT, TOO_LARGE_HINT } from "./limits.js";
import type { MirrorList } from "./model.js";
import { prescan } from "./prescan.js";
import { finish, type ParseResult, type Problems, refuse } from "./problems.js";
import { readCharts } from "./rules/charts.js";
import { checkRepositoryClashes } from "./rules/clashes.js";
import { readImageDefaults, readImages } from "./rules/images.js";
import { readTarget } from "./rules/target.js";
import { readUpstreams } from "./rules/upstreams.js";
import { mirrorListSchema } from "./schema.js";
import { type SchemaNode, validateStructure } from "./validate-structure.js";
import { readYaml } from "./yaml-document.js";
import { get } from "./yaml-nodes.js";

export { MAX_DEPTH, MAX_LIST_BYTES, MAX_LIST_ITEMS } from "./limits.js";
export type { ParseResult } from "./problems.js";
export { type ImageEntryResult, imageEntryFor } from "./rules/images.js";
export { DEFAULT_REPOSITORY_SETTINGS } from "./rules/repository-settings.js";
export { DEFAULT_CHART_PREFIX, DEFAULT_IMAGE_PREFIX } from "./rules/target.js";

/** Parses and validates a mirror list. `file` is the path shown in every problem. */
export function parseMirrorList(text: string, file: string): ParseResult {
  if (text.length > MAX_LIST_BYTES) {
    return refuse(
      file,
      `the mirror list is larger than ${MAX_LIST_BYTES / 1024 / 1024} MiB (${text.length} characters)`,
      TOO_LARGE_HINT,
    );
  }
  const hostile = prescan(text);
  if (hostile) {
    const { line, column } = position(text, hostile.offset);
    return refuse(file, hostile.problem.message, hostile.problem.hint, line, column);
  }
  try {
    return parseText(text, file);
  } catch (e) {
    // The yaml library catches its own stack overflows; this is the net for any other.
    if (!(e instanceof RangeError)) throw e;
    return refuse(
      file,
      `the mirror list cannot be read: it is nested too deeply (${MAX_DEPTH} levels at most)`,
      TOO_DEEP_HINT,
    );
  }
}

/** Line and column of `offset`, counting only the lines before it (the text may be huge). */
function position(text: string, offset: number): { line: number; column: number } {
  const lines = new LineCounter();
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1))
    lines.addNewLine(i + 1);
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function parseText(text: string, file: string): ParseResult {
  const { root, problems } = readYaml(text, file);
  if (problems.hasErrors) return finish(problems, null);
  if (root === null || (isScalar(root) && root.value === null)) {
    problems.error(
      problems.at(0),
      "the mirror list is empty",
      "start with `images:` and a list of references, e.g. `- redis:7.0`",
    );
    return finish(problems, null);
  }
  for (const p of validateStructure(root, mirrorListSchema as SchemaNode)) {
    problems.error(problems.at(p.offset), p.message, p.hint);
  }
  // The rules read only well-typed nodes, so structural errors and theirs are reported together.
  const list = readList(root, file, problems);
  return finish(problems, problems.hasErrors ? null : list);
}

/** The sections, each by its rules (./rules/), then what holds across them. */
function readList(root: unknown, file: string, problems: Problems): MirrorList {
  const target = readTarget(get(root, "target"), problems);
  const upstreams = readUpstreams(get(root, "upstreams"), target, problems);
  const defaults = readImageDefaults(get(root, "defaults"));
  const { images, imageRanges } = readImages(get(root, "images"), target, upstreams, problems, defaults);
  const { charts, chartRanges } = readCharts(get(root, "charts"), target, problems);
  checkRepositoryClashes([...images, ...imageRanges], [...charts, ...chartRanges], problems);
  const named = images.length + imageRanges.length + charts.length + chartRanges.length;
  if (named === 0 && !problems.hasErrors) {
    problems.error(
      problems.at(0),
      "the mirror list names no images and no charts",
      "add `images:` or `charts:`",
    );
  }
  // The hosts images use, and those listed in `upstreams` (for their prefix and endpoint); which of them
  // nodes redirect is decided in ./redirects.ts (only hosts an image uses).
  const usedUpstreams = [...upstreams.values()].filter(
    (u) => u.location !== null || [...images, ...imageRanges].some((i) => i.reference.domain === u.host),
  );
  usedUpstreams.sort((a, b) => a.host.localeCompare(b.host));
  return {
    file,
    target,
    upstreams: usedUpstreams,
    images,
    ...(defaults.referrers ? { referrersByDefault: true as const } : {}),
    charts,
    chartRanges,
    imageRanges,
  };
}
