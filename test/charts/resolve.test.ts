// Version ranges resolved at plan time against a real HTTP chart repository (index.yaml + packaged
// charts made here) and a real registry holding OCI charts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChartVersionLister, parseChartIndex } from "../../src/charts/repository.js";
import { resolveChartVersions } from "../../src/charts/resolve.js";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { makeChartTgz, pushChart, type RunningChartRepo, startChartRepo } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

let repo: RunningChartRepo;
let absolute: RunningChartRepo;
let registry: RunningRegistry;

const chart = (name: string, version: string) => ({ name, version, tgz: makeChartTgz({ name, version }) });

beforeAll(async () => {
  const versions = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "0.9.0"];
  [repo, absolute, registry] = await Promise.all([
    startChartRepo(versions.map((v) => chart("demo", v))),
    startChartRepo([chart("demo", "3.0.0")], { absoluteUrls: true }),
    startRegistry(),
  ]);
  for (const v of ["0.1.0", "0.2.0", "0.3.0+build.1"])
    await pushChart(registry.url, "charts", chart("app", v));
});

afterAll(async () => {
  await Promise.all([repo?.stop(), absolute?.stop(), registry?.stop()]);
});

function list(charts: string): MirrorList {
  const { list: parsed, problems } = parseMirrorList(`charts:\n${charts}`, "mirrors.yaml");
  if (!parsed) throw new Error(problems.map((p) => p.message).join("\n"));
  return parsed;
}

const lister = () => createChartVersionLister({ upstreams: [], credentials: [] });

describe("resolveChartVersions", () => {
  it("turns an HTTP range into the matching versions, highest first, prereleases left out", async () => {
    const { list: resolved, problems } = await resolveChartVersions(
      list(`  - source: ${repo.url}\n    name: demo\n    versionRange: "^1.0"\n    images: true\n`),
      lister(),
    );
    expect(problems).toEqual([]);
    expect(resolved.chartRanges).toEqual([]);
    expect(resolved.charts.map((c) => [c.version, c.tag, c.repository, c.resolvedFrom])).toEqual([
      ["1.1.0", "1.1.0", "charts/demo", "^1.0"],
      ["1.0.0", "1.0.0", "charts/demo", "^1.0"],
    ]);
    expect(resolved.charts[0]!.images).toEqual({ values: {} });
    expect(resolved.charts[0]!.location.line).toBe(4);
  });

  it("caps a range at the newest N and merges it with exact versions of the same chart", async () => {
    const { list: resolved } = await resolveChartVersions(
      list(
        `  - source: ${repo.url}\n    name: demo\n    versions: ["1.1.0", "0.9.0"]\n    versionRange: ">=1.0.0"\n    newest: 2\n`,
      ),
      lister(),
    );
    expect(resolved.charts.map((c) => c.version)).toEqual(["1.1.0", "0.9.0", "2.0.0"]);
  });

  it("fetches each repository's index.yaml once per run", async () => {
    const before = repo.requests.filter((r) => r.path === "/index.yaml").length;
    await resolveChartVersions(
      list(
        `  - source: ${repo.url}\n    name: demo\n    versionRange: "1.x"\n  - source: ${repo.url}\n    name: demo\n    versionRange: "2.x"\n`,
      ),
      lister(),
    );
    expect(repo.requests.filter((r) => r.path === "/index.yaml").length - before).toBe(1);
  });

  it("reads OCI tags as helm does (`_` is `+`), keeping the tag spelling for the target", async () => {
    const { list: resolved, problems } = await resolveChartVersions(
      list(`  - source: oci://${registry.host}/charts/app\n    versionRange: ">=0.2.0"\n`),
      lister(),
    );
    expect(problems).toEqual([]);
    expect(resolved.charts.map((c) => [c.version, c.tag])).toEqual([
      ["0.3.0+build.1", "0.3.0_build.1"],
      ["0.2.0", "0.2.0"],
    ]);
  });

  it("reports a range that matches nothing, an unknown chart and a missing OCI repository at their lines", async () => {
    const { problems } = await resolveChartVersions(
      list(
        [
          `  - source: ${repo.url}\n    name: demo\n    versionRange: ">=5.0.0"`,
          `  - source: ${repo.url}\n    name: nope\n    versionRange: "*"`,
          `  - source: oci://${registry.host}/charts/missing\n    versionRange: "*"`,
          "",
        ].join("\n"),
      ),
      lister(),
    );
    expect(problems.map((p) => [p.line, p.message])).toEqual([
      [4, `version range ">=5.0.0" matches none of the 5 versions of chart demo in ${repo.url} (index.yaml)`],
      [7, `chart nope is not in ${repo.url} (index.yaml)`],
      [9, `chart repository oci://${registry.host}/charts/missing does not exist`],
    ]);
    expect(problems[0]!.hint).toBe("the newest releases are 2.0.0, 1.1.0, 1.0.0");
  });

  it("reports an unreachable repository instead of failing the whole run", async () => {
    const { problems } = await resolveChartVersions(
      list(`  - source: http://127.0.0.1:9/charts\n    name: demo\n    versionRange: "*"\n`),
      lister(),
    );
    expect(problems[0]!.message).toMatch(/^cannot resolve version range "\*" of chart demo: cannot reach/);
  });
});

describe("parseChartIndex", () => {
  it("resolves relative package URLs against the repository, keeps absolute ones", () => {
    const index = parseChartIndex(
      `apiVersion: v1
entries:
  a:
    - version: 1.0.0
      urls: [a-1.0.0.tgz]
    - version: "2.0"
      urls: [https://cdn.example.com/a/a-2.0.tgz]
`,
      "https://charts.example.com/stable",
    );
    expect(index.get("a")).toEqual([
      { version: "1.0.0", urls: ["https://charts.example.com/stable/a-1.0.0.tgz"], digest: null },
      { version: "2.0", urls: ["https://cdn.example.com/a/a-2.0.tgz"], digest: null },
    ]);
  });

  it("reads a repository that writes absolute URLs", async () => {
    const index = await createChartVersionLister({ upstreams: [], credentials: [] }).index(absolute.url);
    expect(index.get("demo")?.[0]?.urls).toEqual([`${absolute.url}/demo-3.0.0.tgz`]);
  });

  it("rejects a document that is not a chart index", () => {
    expect(() => parseChartIndex("<html>", "https://x")).toThrow(/no entries/);
  });
});
