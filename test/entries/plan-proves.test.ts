// The pull-request review's plan proves every copy can happen: each entry to copy is asked for upstream (a
// manifest HEAD, free against Docker Hub's limits) and one the upstream does not have fails the plan on its
// line, before it merges. A plan with nothing to copy still sends nothing upstream. Real registries on
// 127.0.0.1 (the upstream behind an endpoint, the target), the action from source.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/main.js";
import { makeChartTgz, pushImage, type RunningChartRepo, startChartRepo } from "../harness/images.js";
import { startBudgetedUpstream } from "../harness/pull-budget.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { inputsOf, recordingDeps } from "./recording-core.js";

let upstream: RunningRegistry;
let target: RunningRegistry;
let root: string;
let appDigest: string;
let charts: RunningChartRepo;

beforeAll(async () => {
  [upstream, target] = await Promise.all([startRegistry(), startRegistry()]);
  charts = await startChartRepo([
    { name: "web", version: "1.0.0", tgz: makeChartTgz({ name: "web", version: "1.0.0" }) },
  ]);
  appDigest = (await pushImage(upstream.url, "team2/app2", "1.0.0", { seed: "app2" })).digest;
  await pushImage(target.url, "mirrors/team2/app2", "1.0.0", { seed: "app2" });
  root = await mkdtemp(join(tmpdir(), "ecr-mirror-proves-"));
}, 30_000);

afterAll(async () => {
  await Promise.all([upstream?.stop(), target?.stop(), charts?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

async function plan(images: string[], chartVersions: string[] = [], endpoint?: string) {
  const workspace = await mkdtemp(join(root, "ws-"));
  await mkdir(join(workspace, "config"));
  const list = `version: 1
upstreams:
  docker.io:
    endpoint: ${endpoint ?? upstream.url}
images:
${images.map((i) => `  - ${i}`).join("\n")}
${chartVersions.length ? `charts:\n  - source: ${charts.url}\n    name: web\n    versions: [${chartVersions.join(", ")}]\n` : ""}`;
  await writeFile(join(workspace, "config", "mirrors.yaml"), list);
  const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: workspace });
  const before = upstream.accessLog().length;
  await run(
    inputsOf({ "mirror-file": "config/mirrors.yaml", mode: "plan", "registry-url": target.url }),
    deps,
  );
  return { recorded, upstreamAsked: upstream.accessLog().slice(before) };
}

describe("a plan proves every copy can happen", () => {
  it("fails on the lines of a tag and a repository the upstream does not have, and copies nothing", async () => {
    const { recorded, upstreamAsked } = await plan([
      "team2/app2:1.0.0", // present in the target: not asked
      "team2/app2:9.9.9", // no such tag upstream
      "nosuch/repo:1.0", // no such repository upstream
      `team2/app2@${"sha256:".padEnd(71, "0")}`, // no such digest upstream
    ]);
    const errors = recorded.annotations.filter((a) => a.severity === "error" && a.startLine);
    expect(errors.map((a) => a.startLine)).toEqual([7, 8, 9]);
    expect(errors[0]!.message).toContain("docker.io/team2/app2:9.9.9 is not in the upstream registry");
    expect(errors[1]!.message).toContain("docker.io/nosuch/repo:1.0 is not in the upstream registry");
    expect(errors[2]!.message).toContain("sha256:0000");
    expect(recorded.failed).toHaveLength(1);
    expect(recorded.failed[0]).toContain("the mirror list names images the upstream registries do not have");
    // One HEAD per entry to copy, nothing else: no GET (a pull on Docker Hub), nothing for the present tag.
    expect(upstreamAsked.filter((e) => e.path.includes("/manifests/")).map((e) => e.method)).toEqual([
      "HEAD",
      "HEAD",
      "HEAD",
    ]);
    expect(upstreamAsked.every((e) => e.method === "HEAD" || e.path === "/v2/")).toBe(true);
    expect(upstreamAsked.some((e) => e.path.includes("/v2/team2/app2/manifests/1.0.0"))).toBe(false);
    // Nothing was written to the target.
    const seeding = "ecr-mirror-test-images";
    expect(
      target.accessLog().filter((e) => e.userAgent !== seeding && !["GET", "HEAD"].includes(e.method)),
    ).toEqual([]);
  });

  it("plans green when every copy exists upstream, with one HEAD per copy", async () => {
    await pushImage(upstream.url, "team2/app2", "2.0.0", { seed: "app2-2" });
    const { recorded, upstreamAsked } = await plan([
      "team2/app2:1.0.0",
      "team2/app2:2.0.0",
      `team2/app2@${appDigest}`,
    ]);
    expect(recorded.failed).toEqual([]);
    expect(recorded.outputs).toMatchObject({ copy: "2", present: "1" });
    expect(
      upstreamAsked.filter((e) => e.path.includes("/manifests/")).map((e) => [e.method, e.path]),
    ).toEqual(
      expect.arrayContaining([
        ["HEAD", "/v2/team2/app2/manifests/2.0.0"],
        ["HEAD", `/v2/team2/app2/manifests/${appDigest}`],
      ]),
    );
    expect(upstreamAsked.filter((e) => e.method !== "HEAD" && e.path !== "/v2/")).toEqual([]);
  });

  it("a plan with nothing to copy sends nothing upstream", async () => {
    const { recorded, upstreamAsked } = await plan(["team2/app2:1.0.0"]);
    expect(recorded.failed).toEqual([]);
    expect(upstreamAsked).toEqual([]);
  });
});

describe("a plan proves every chart version it copies", () => {
  it("fails on the line of a version the repository's index.yaml does not list; a listed one plans green", async () => {
    const bad = await plan(["team2/app2:1.0.0"], ["1.0.0", "9.9.9"]);
    const errors = bad.recorded.annotations.filter((a) => a.severity === "error" && a.startLine);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.startLine).toBe(10);
    expect(errors[0]!.message).toContain("index.yaml has no web 9.9.9 (it has 1.0.0)");
    expect(bad.recorded.failed).toHaveLength(1);

    const good = await plan(["team2/app2:1.0.0"], ["1.0.0"]);
    expect(good.recorded.failed).toEqual([]);
    expect(good.recorded.outputs).toMatchObject({ copy: "1" });
  });
});

describe("a plan says how many counted pulls the sync needs", () => {
  it("reads the budget from its free HEADs and warns when the copies need more than is left", async () => {
    await pushImage(upstream.url, "team2/app2", "3.0.0", { seed: "app2-3" });
    await pushImage(upstream.url, "team2/app2", "4.0.0", { seed: "app2-4" });
    const hub = await startBudgetedUpstream(upstream, { limit: 100, remaining: 1 });
    try {
      const { recorded } = await plan(["team2/app2:3.0.0", "team2/app2:4.0.0"], [], hub.proxy.url);
      expect(recorded.failed).toEqual([]);
      const log = recorded.log.join("\n");
      expect(log).toContain(
        `Pulls from ${hub.proxy.host}: at least 2 counted (each platform of a multi-arch image counts), 1 of 100 left per 6 h`,
      );
      expect(recorded.annotations.map((a) => a.message).join("\n")).toContain(
        `needs at least 2 counted pulls from ${hub.proxy.host}, which has 1 left`,
      );
      expect(recorded.summary).toContain("at least 2 counted");
      expect(hub.spent()).toBe(0); // HEADs only: the plan spent none of the budget
    } finally {
      await hub.proxy.stop();
    }
  });
});
