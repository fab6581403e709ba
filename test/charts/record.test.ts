// The chart images record (chart-images.json): deterministic text, keyed by what was rendered (source, name,
// version, values), and used by prepareCharts instead of rendering a chart version whose key matches.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChartRenderer } from "../../src/charts/discover.js";
import { prepareCharts } from "../../src/charts/prepare.js";
import { readChartImagesRecord } from "../../src/charts/record.js";
import type { ChartEntry, MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import {
  type ChartDiscovery,
  chartImagesRecord,
  formatChartImagesRecord,
  parseChartImagesRecord,
  recordedDiscovery,
  valuesSha256,
} from "../../src/render/chart-images.js";
import { renderNodeConfig } from "../../src/render/index.js";
import { CONFIGURATOR, ECR_REGISTRY } from "../render/fixtures.js";

function list(values = "{ tag: '1.0' }", version = "1.0.0"): MirrorList {
  const { list: parsed, problems } = parseMirrorList(
    `target:
  registry: ${ECR_REGISTRY}
  region: eu-west-1
images:
  - redis:7.0
charts:
  - source: oci://ghcr.io/org/a
    versions: ["${version}"]
    images: true
    values: ${values}
  - source: https://charts.example.com
    name: b
    versions: ["2.0.0"]
    images: true
  - source: https://charts.example.com
    name: plain
    versions: ["3.0.0"]
`,
    "mirrors.yaml",
  );
  if (!parsed) throw new Error(problems.map((p) => p.message).join("\n"));
  return parsed;
}

const [a, b] = list().charts as [ChartEntry, ChartEntry];
const found: ChartDiscovery[] = [
  { chart: a, images: ["quay.io/org/tool:1", "docker.io/library/redis:7.0"], warnings: [] },
  { chart: b, images: ["registry.k8s.io/pause:3.10"], warnings: ["chart b 2.0.0: x is empty"] },
];

describe("the chart images record", () => {
  it("is the same text whatever the order it was found in: sorted keys, entries and images, a trailing newline", () => {
    const text = formatChartImagesRecord(chartImagesRecord(found));
    expect(formatChartImagesRecord(chartImagesRecord([...found].reverse()))).toBe(text);
    expect(text.endsWith("}\n")).toBe(true);
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(["charts", "version"]);
    expect(doc.version).toBe(1);
    expect(doc.charts.map((c: { source: string }) => c.source)).toEqual([
      "https://charts.example.com",
      "oci://ghcr.io/org/a",
    ]);
    expect(Object.keys(doc.charts[1])).toEqual([
      "images",
      "name",
      "source",
      "valuesSha256",
      "version",
      "warnings",
    ]);
    expect(doc.charts[1]).toMatchObject({
      name: "a",
      version: "1.0.0",
      images: ["docker.io/library/redis:7.0", "quay.io/org/tool:1"],
    });
    expect(doc.charts[0].warnings).toEqual(["chart b 2.0.0: x is empty"]);
  });

  it("hashes the values by content, not by the order of their keys", () => {
    expect(valuesSha256({ values: { a: 1, b: { c: [1, 2], d: null } } })).toBe(
      valuesSha256({ values: { b: { d: null, c: [1, 2] }, a: 1 } }),
    );
    expect(valuesSha256({ values: { a: 1 } })).not.toBe(valuesSha256({ values: { a: 2 } }));
    expect(valuesSha256(null)).toBe(valuesSha256({ values: {} }));
  });

  it("matches a chart version only with the same source, name, version and values", () => {
    const parsed = parseChartImagesRecord(formatChartImagesRecord(chartImagesRecord(found)));
    if (!parsed.ok) throw new Error(parsed.error);
    const record = parsed.record;
    expect(recordedDiscovery(record, a)?.images).toEqual([
      "docker.io/library/redis:7.0",
      "quay.io/org/tool:1",
    ]);
    expect(recordedDiscovery(record, list("{ tag: '1.0' }").charts[0]!)).not.toBeNull();
    expect(recordedDiscovery(record, list("{ tag: '1.1' }").charts[0]!)).toBeNull(); // values changed
    expect(recordedDiscovery(record, list("{ tag: '1.0' }", "1.0.1").charts[0]!)).toBeNull(); // version changed
    expect(recordedDiscovery(record, { ...a, source: "oci://ghcr.io/other/a" })).toBeNull();
  });

  it("rejects malformed records with a reason, and reads an absent file as no record without a warning", async () => {
    expect(parseChartImagesRecord("{")).toMatchObject({ ok: false });
    expect(parseChartImagesRecord('{"version":2,"charts":[]}')).toEqual({
      ok: false,
      error: "version 2 is not 1",
    });
    expect(parseChartImagesRecord('{"version":1,"charts":[{"source":"x"}]}')).toMatchObject({
      ok: false,
      error: expect.stringContaining("charts[0]"),
    });
    const dir = await mkdtemp(join(tmpdir(), "chart-record-"));
    try {
      expect(await readChartImagesRecord(join(dir, "absent.json"))).toEqual({ record: null, warning: null });
      await writeFile(join(dir, "bad.json"), "not json");
      const bad = await readChartImagesRecord(join(dir, "bad.json"));
      expect(bad.record).toBeNull();
      expect(bad.warning).toMatch(/bad\.json is not a chart images record: not JSON/);
      // A record grown past any real size (a hostile pull request) is not read into memory.
      await writeFile(join(dir, "huge.json"), Buffer.alloc(17 * 1024 * 1024, 0x20));
      const huge = await readChartImagesRecord(join(dir, "huge.json"));
      expect(huge.record).toBeNull();
      expect(huge.warning).toMatch(
        /huge\.json is 17825792 bytes, more than the 16777216 a chart images record may have/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("prepareCharts with a record", () => {
  const rendered: string[] = [];
  const renderer: ChartRenderer = {
    async render(chart) {
      rendered.push(`${chart.name}@${chart.version}`);
      const image = chart.name === "a" ? "quay.io/org/tool:1" : "registry.k8s.io/pause:3.10";
      return {
        manifests: `apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  containers:\n    - image: ${image}\n    - image: ""\n`,
        metadata: { annotations: {} },
      };
    },
  };
  const prepare = (l: MirrorList, known: Awaited<ReturnType<typeof prepareCharts>> | null) =>
    prepareCharts(l, {
      upstreamCredentials: [],
      renderer,
      known: known ? chartImagesRecord(known.discovered) : null,
    });

  let fresh: Awaited<ReturnType<typeof prepareCharts>>;
  beforeAll(async () => {
    fresh = await prepare(list(), null);
  });
  afterAll(() => {
    rendered.length = 0;
  });

  it("renders nothing for chart versions the record holds, and plans the same list and warnings", async () => {
    expect(rendered).toEqual(["a@1.0.0", "b@2.0.0"]);
    expect(fresh.rendered).toBe(2);
    rendered.length = 0;
    const again = await prepare(list(), fresh);
    expect(rendered).toEqual([]);
    expect(again.rendered).toBe(0);
    expect(again.list).toEqual(fresh.list);
    expect(again.warnings).toEqual(fresh.warnings);
    expect(again.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^chart a 1\.0\.0: Pod\/p spec\.containers\[1\]\.image is empty/),
      expect.stringMatching(/^chart b 2\.0\.0: Pod\/p spec\.containers\[1\]\.image is empty/),
    ]);
    expect(again.list.images.map((i) => i.source)).toEqual([
      "docker.io/library/redis:7.0",
      "quay.io/org/tool:1",
      "registry.k8s.io/pause:3.10",
    ]);
  });

  it("renders a chart version whose values changed, and only that one", async () => {
    rendered.length = 0;
    const changed = await prepare(list("{ tag: '2.0' }"), fresh);
    expect(rendered).toEqual(["a@1.0.0"]);
    expect(changed.rendered).toBe(1);
  });
});

describe("chart-images.json in the render folder", () => {
  const input = { registry: null, region: null, configuratorImage: CONFIGURATOR };

  it("is written, for the chart versions the list names, when a chart has images: true", () => {
    const stale: ChartDiscovery = { chart: { ...a, version: "0.9.0" }, images: ["x.io/y:1"], warnings: [] };
    const result = renderNodeConfig(list(), {
      ...input,
      chartImages: chartImagesRecord([...found, stale]),
    });
    if (!result.ok) throw new Error(result.problems.map((p) => p.message).join("\n"));
    const file = result.files.find((f) => f.path === "chart-images.json");
    expect(file?.content).toBe(formatChartImagesRecord(chartImagesRecord(found)));
  });

  it("is absent when no chart has images: true", () => {
    const { list: plain } = parseMirrorList(
      `target: { registry: ${ECR_REGISTRY}, region: eu-west-1 }\nimages: [redis:7.0]\ncharts:\n  - source: https://c.example.com\n    name: x\n    versions: ["1.0.0"]\n`,
      "mirrors.yaml",
    );
    const result = renderNodeConfig(plain!, { ...input, chartImages: chartImagesRecord(found) });
    if (!result.ok) throw new Error(result.problems.map((p) => p.message).join("\n"));
    expect(result.files.map((f) => f.path)).not.toContain("chart-images.json");
  });
});
