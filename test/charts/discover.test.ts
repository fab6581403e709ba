// Images found in charts join the list as the list would map them, marked with the charts that use them.
import { describe, expect, it } from "vitest";
import { addChartImages } from "../../src/charts/discover.js";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";

function list(text: string): MirrorList {
  const { list: parsed, problems } = parseMirrorList(text, "mirrors.yaml");
  if (!parsed) throw new Error(problems.map((p) => p.message).join("\n"));
  return parsed;
}

const base = list(`upstreams:
  localhost:5000: { prefix: mirrors/local }
images:
  - redis:7.0
charts:
  - source: oci://ghcr.io/org/a
    versions: ["1.0.0"]
    images: true
  - source: oci://ghcr.io/org/b
    versions: ["2.0.0"]
    images: true
`);
const [a, b] = base.charts as [MirrorList["charts"][0], MirrorList["charts"][0]];

describe("addChartImages", () => {
  const { list: merged, warnings } = addChartImages(base, [
    { chart: a, images: ["docker.io/library/redis:7.0", "quay.io/org/tool:1", "localhost:5000/app:2"] },
    { chart: b, images: ["quay.io/org/tool:1", "registry.k8s.io/pause:3.10", "localhost:6000/x:1"] },
  ]);

  it("maps each image like a list entry and names every chart that uses it", () => {
    expect(
      merged.images.map((i) => [i.source, i.repository, i.fromCharts?.map((o) => `${o.name}@${o.version}`)]),
    ).toEqual([
      ["docker.io/library/redis:7.0", "mirrors/library/redis", undefined], // the list's own entry stays
      ["quay.io/org/tool:1", "mirrors/quay.io/org/tool", ["a@1.0.0", "b@2.0.0"]],
      ["localhost:5000/app:2", "mirrors/local/app", ["a@1.0.0"]],
      ["registry.k8s.io/pause:3.10", "mirrors/registry.k8s.io/pause", ["b@2.0.0"]],
    ]);
  });

  it("adds the new upstream hosts, so nodes redirect them too", () => {
    expect(merged.upstreams.map((u) => u.host)).toEqual([
      "docker.io",
      "localhost:5000",
      "quay.io",
      "registry.k8s.io",
    ]);
  });

  it("warns about an image that cannot land in the target instead of failing", () => {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(
      /^chart b 2\.0\.0 uses localhost:6000\/x:1, which is not mirrored: it cannot land/,
    );
    expect(warnings[0]!.location?.line).toBe(10); // the chart version it came from
  });
});
