// The action from source with image tag ranges: a sync renders the range's resolution into the render folder
// (image-ranges.lock.json, beside the node configuration it commits), and the next plan, a pull request's
// included, takes the range's tags from that lock without a single upstream request.
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RANGES_LOCK_FILE } from "../../src/list/tag-ranges.js";
import { run } from "../../src/main.js";
import { type RunningProxy, startCountingProxy } from "../harness/counting-proxy.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { inputsOf, recordingDeps } from "./recording-core.js";

let root: string;
let target: RunningRegistry;
let upstreamRegistry: RunningRegistry;
let upstream: RunningProxy;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "action-ranges-"));
  [target, upstreamRegistry] = await Promise.all([startRegistry(), startRegistry()]);
  upstream = await startCountingProxy({ url: upstreamRegistry.url });
  for (const tag of ["0.9.0", "1.0.0", "1.1.0", "2.0.0-rc.1"])
    await pushImage(upstreamRegistry.url, "team/app", tag, { seed: `app-${tag}` });
  // The target holds what the range selects and the configurator image: the sync copies nothing.
  for (const tag of ["1.0.0", "1.1.0"])
    await pushImage(target.url, "mirrors/team/app", tag, { seed: `app-${tag}` });
  await pushImage(target.url, "mirrors/team/configurator", "1", { seed: "configurator" });
});

afterAll(async () => {
  await upstream?.stop();
  await Promise.all([target?.stop(), upstreamRegistry?.stop()]);
  await rm(root, { recursive: true, force: true });
});

const LIST = () => `target:
  region: eu-west-1
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
  - source: team/app
    versionRange: ">=1.0.0 <2.0.0"
  - team/configurator:1
`;

function inputs(mode: "plan" | "sync") {
  return inputsOf({
    "mirror-file": "mirrors.yaml",
    mode,
    "registry-url": target.url,
    "render-dir": "deploy/ecr-mirror",
    "commit-back": "none",
    "configurator-image": "team/configurator:1",
  });
}

describe("the action with an image tag range", () => {
  it("sync writes the lock into the render folder; the next plan takes the range from it with no upstream request", async () => {
    const workspace = await mkdtemp(join(root, "ws-"));
    await writeFile(join(workspace, "mirrors.yaml"), LIST());
    const temp = await mkdtemp(join(root, "temp-"));

    upstream.resetCounts();
    const synced = recordingDeps(workspace, { RUNNER_TEMP: temp });
    await run(inputs("sync"), synced.deps);
    expect(synced.recorded.failed).toEqual([]);
    expect(upstream.counts()["tags-list"]).toBe(1);
    // The sync's report says what the range expanded to.
    const report = JSON.parse(readFileSync(join(temp, "ecr-mirror-report.json"), "utf8"));
    expect(report.ranges).toEqual([expect.objectContaining({ tags: ["1.1.0", "1.0.0"], from: "upstream" })]);
    const lock = JSON.parse(readFileSync(join(workspace, "deploy/ecr-mirror", RANGES_LOCK_FILE), "utf8"));
    expect(lock.ranges).toEqual([
      {
        source: "docker.io/team/app",
        versionRange: ">=1.0.0 <2.0.0",
        pattern: null,
        newest: null,
        tags: ["1.1.0", "1.0.0"],
      },
    ]);
    // The lock is one of the render folder's own files (commit-back commits those).
    expect(readFileSync(join(workspace, "deploy/ecr-mirror/.ecr-mirror-files"), "utf8")).toContain(
      RANGES_LOCK_FILE,
    );

    upstream.resetCounts();
    const planned = recordingDeps(workspace, { RUNNER_TEMP: temp });
    await run(inputs("plan"), planned.deps);
    expect(planned.recorded.failed).toEqual([]);
    expect(upstream.requests()).toEqual([]);
    const log = planned.recorded.log.join("\n");
    expect(log).toContain(`Tag range lock: 1 range(s) in deploy/ecr-mirror/${RANGES_LOCK_FILE}`);
    expect(log).toContain('Tag range docker.io/team/app versionRange ">=1.0.0 <2.0.0" -> 1.1.0, 1.0.0');
    expect(planned.recorded.summary).toContain("from the lock");
  });

  it("a malformed lock is a warning and the range is resolved from the upstream", async () => {
    const workspace = await mkdtemp(join(root, "ws-"));
    await writeFile(join(workspace, "mirrors.yaml"), LIST());
    await mkdir(join(workspace, "deploy/ecr-mirror"), { recursive: true });
    await writeFile(
      join(workspace, "deploy/ecr-mirror", RANGES_LOCK_FILE),
      '{"version": 1, "ranges": [{"tags": [1]}]}',
    );
    upstream.resetCounts();
    const planned = recordingDeps(workspace, { RUNNER_TEMP: await mkdtemp(join(root, "temp-")) });
    await run(inputs("plan"), planned.deps);
    expect(planned.recorded.failed).toEqual([]);
    expect(planned.recorded.annotations).toEqual([
      expect.objectContaining({
        severity: "warning",
        title: "Tag range lock ignored",
        message: expect.stringContaining("is not a tag range lock: ranges[0] is not a range"),
      }),
    ]);
    expect(upstream.counts()["tags-list"]).toBe(1);
  });
});
