// The mirror list's defaults have one source (mirrorListDefaults in src/list/schema.ts). These tests hold to it what
// a user reads: the README's defaults table and the `# default` notes of its example, the `default`s of the committed
// JSON Schema an editor shows, and the values the parser fills in.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import { mirrorListDefaults } from "../../src/list/schema.js";

const root = join(import.meta.dirname, "..", "..");
const table: Record<string, unknown> = mirrorListDefaults;

/** The README's "## The mirror list" section, up to the next second-level heading. */
function mirrorListSection(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const start = readme.indexOf("\n## The mirror list\n");
  expect(start).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The rows of the section's `| key | default |` table, cells without their backticks. */
function readmeTable(section: string): Record<string, string> {
  const lines = section.split("\n");
  const header = lines.findIndex((l) => /^\|\s*key\s*\|\s*default\s*\|/.test(l));
  expect(header, "the mirror-list section has a | key | default | table").toBeGreaterThanOrEqual(0);
  const rows: Record<string, string> = {};
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [key, value] = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim().replace(/^`|`$/g, ""));
    rows[key!] = value!;
  }
  return rows;
}

/**
 * The defaults the section's YAML example states in comments: `key: value   # default…` (the value is the default)
 * and `key: value   # A (default), B` (A is). Paths come from the indentation.
 */
function exampleDefaults(section: string): Record<string, string> {
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const found: Record<string, string> = {};
  const path: { indent: number; key: string }[] = [];
  for (const line of yaml.split("\n")) {
    const m = /^(\s*)([\w.]+):\s*(.*?)\s*(?:#\s*(.*))?$/.exec(line);
    if (!m) continue;
    const [, spaces, key, value, comment] = m;
    while (path.length > 0 && path[path.length - 1]!.indent >= spaces!.length) path.pop();
    const at = [...path.map((p) => p.key), key].join(".");
    path.push({ indent: spaces!.length, key: key! });
    if (comment === undefined) continue;
    const named = /(\w+) \(default\)/.exec(comment)?.[1];
    if (named !== undefined) found[at in table ? at : `${at}.type`] = named;
    else if (/^default\b/.test(comment)) found[at] = value!.replace(/^"|"$/g, "");
  }
  return found;
}

/** Every `default` of the JSON Schema, by the table's key syntax (object defaults spread into their keys). */
function schemaDefaults(node: unknown, at: string, out: Record<string, unknown>): Record<string, unknown> {
  if (node === null || typeof node !== "object") return out;
  const s = node as Record<string, unknown>;
  if ("default" in s) {
    const value = s.default;
    if (value !== null && typeof value === "object")
      for (const [k, v] of Object.entries(value)) out[`${at}.${k}`] = v;
    else out[at] = value;
  }
  for (const [k, child] of Object.entries((s.properties ?? {}) as Record<string, unknown>))
    schemaDefaults(child, at ? `${at}.${k}` : k, out);
  if (typeof s.additionalProperties === "object") schemaDefaults(s.additionalProperties, `${at}.<host>`, out);
  if (s.items) schemaDefaults(s.items, `${at}[]`, out);
  for (const branch of (s.oneOf ?? []) as unknown[]) schemaDefaults(branch, at, out);
  return out;
}

describe("the mirror list's defaults", () => {
  it("are the README's defaults table, row for row", () => {
    const rows = readmeTable(mirrorListSection());
    const expected = Object.fromEntries(Object.entries(table).map(([k, v]) => [k, String(v)]));
    expect(rows).toEqual(expected);
  });

  it("are what the README's example says in its `# default` comments", () => {
    const stated = exampleDefaults(mirrorListSection());
    // imagePrefix, chartPrefix, prune, imageTagMutability and encryption say so today.
    expect(Object.keys(stated).length).toBeGreaterThanOrEqual(5);
    for (const [key, value] of Object.entries(stated)) {
      expect(key in table, `${key} is in the defaults table`).toBe(true);
      expect(value, key).toBe(String(table[key]));
    }
  });

  it("are the `default`s of the committed JSON Schema (tag mutability MUTABLE, as the parser reads it)", () => {
    const schema = JSON.parse(readFileSync(join(root, "schema", "mirrors.schema.json"), "utf8"));
    expect(schemaDefaults(schema, "", {})).toEqual(table);
    expect(schema.properties.target.properties.repositorySettings.properties.imageTagMutability.default).toBe(
      "MUTABLE",
    );
  });

  it("are what the parser fills in when the list leaves every key out", () => {
    const text = [
      "upstreams:",
      "  quay.io: {}",
      "images:",
      "  - quay.io/prometheus/node-exporter:v1.8.2",
      "charts:",
      "  - source: oci://ghcr.io/org/charts/app",
      '    versions: ["1.0.0"]',
    ].join("\n");
    const { list, problems } = parseMirrorList(text, "mirrors.yaml");
    expect(problems).toEqual([]);
    const upstream = list!.upstreams.find((u) => u.host === "quay.io")!;
    const filled: Record<string, unknown> = {
      "target.type": list!.target.type,
      "target.imagePrefix": list!.target.imagePrefix,
      "target.chartPrefix": list!.target.chartPrefix,
      "target.prune": list!.target.prune,
      "target.maxDeletions": list!.target.maxDeletions,
      "target.reconcileSettings": list!.target.reconcileSettings,
      "target.repositorySettings.imageTagMutability": list!.target.repositorySettings.imageTagMutability,
      "target.repositorySettings.scanOnPush": list!.target.repositorySettings.scanOnPush,
      "target.repositorySettings.encryption.type": list!.target.repositorySettings.encryption.type,
      "upstreams.<host>.redirect": upstream.redirect,
      "upstreams.<host>.fallback": upstream.fallback,
      "charts[].images": list!.charts[0]!.images !== null,
      "defaults.referrers": list!.images[0]!.referrers === true,
    };
    expect(filled).toEqual(table);
  });
});
