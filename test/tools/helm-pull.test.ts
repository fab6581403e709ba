// `helm pull --repo URL NAME --version V` saves the package under the base name of its URL in index.yaml
// (helm pkg/downloader/chart_downloader.go, DownloadTo: `name := filepath.Base(u.Path)`), which need not be
// `NAME-V.tgz`: the product must hand on the file helm wrote, not a name it guessed.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Helm } from "../../src/tools/helm.js";
import { makeChartTgz, type RunningChartRepo, startChartRepo } from "../harness/images.js";
import { STAND_IN_BIN } from "../stand-ins/stand-ins.js";

const tgz = makeChartTgz({ name: "demo-chart", version: "1.2.3" });
let repo: RunningChartRepo;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ecr-mirror-helm-pull-"));
  process.env.STANDIN_LOG ??= join(work, "stand-in.log");
  repo = await startChartRepo([
    { name: "demo-chart", version: "1.2.3", tgz, file: "packages/demo-chart_1.2.3.tgz" },
  ]);
});

afterAll(async () => {
  await repo?.stop();
  await rm(work, { recursive: true, force: true });
});

describe("helm pull from an HTTP chart repository", () => {
  it("returns the file helm wrote when index.yaml names the package otherwise", async () => {
    const helm = new Helm({
      binary: join(STAND_IN_BIN, "helm"),
      registryConfig: join(work, "registry.json"),
    });
    const dir = await mkdtemp(join(work, "pull-"));
    const file = await helm.pullFromRepository(repo.url, "demo-chart", "1.2.3", dir);
    expect(basename(file)).toBe("demo-chart_1.2.3.tgz");
    expect(readFileSync(file)).toEqual(tgz);
    expect(repo.requests.map((r) => `${r.path} ${r.status}`)).toEqual([
      "/index.yaml 200",
      "/packages/demo-chart_1.2.3.tgz 200",
    ]);
  });
});
