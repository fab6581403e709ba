// A copy into a target that already holds the manifest: crane pushes nothing and prints
// `existing manifest: TAG@DIGEST`, no `digest:` line (go-containerregistry pkg/v1/remote/write.go,
// manifestExists). The copier takes the digest from that line: no extra `crane digest` process.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCopier } from "../../src/execute/copier.js";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { CopyStep } from "../../src/plan/model.js";
import { Crane } from "../../src/tools/crane.js";
import { InvocationCounter } from "../../src/tools/runner.js";
import { type PushedIndex, pushIndex, tagDigest } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { toolBinary } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let target: RunningRegistry;
let work: string;
let nginx: PushedIndex;

beforeAll(async () => {
  [upstream, target] = await Promise.all([startRegistry(), startRegistry()]);
  work = await mkdtemp(join(tmpdir(), "copier-existing-"));
  process.env.STANDIN_LOG ??= join(work, "invocations.jsonl");
  nginx = await pushIndex(upstream.url, "library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "nginx-existing",
  });
});

afterAll(async () => {
  await Promise.all([upstream?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The list's one entry as the planner's copy step, and the list's upstreams. */
function parsed(): { step: CopyStep; upstreams: MirrorList["upstreams"] } {
  const yaml = `version: 1
target:
  type: ecr
  registry: ${target.host}
upstreams:
  docker.io:
    endpoint: http://${upstream.host}
images:
  - source: nginx
    tags: ["1.27"]
    platforms: [linux/arm64]
`;
  const { list, problems } = parseMirrorList(yaml, "mirrors.yaml");
  if (!list || problems.length > 0) throw new Error(JSON.stringify(problems));
  const entry = list.images[0]!;
  const step: CopyStep = {
    action: "copy",
    kind: "image",
    source: entry.source,
    repository: entry.repository,
    tag: entry.reference.tag!,
    digest: null,
    targetDigest: null,
    platforms: entry.platforms,
    reason: "missing",
    location: entry.location,
    entry,
  };
  return { step, upstreams: list.upstreams };
}

describe("a copy into a target that already holds the manifest", () => {
  it("starts only the crane copy and verifies the digest crane named", async () => {
    const { step, upstreams } = parsed();
    const copierWith = (counter: InvocationCounter) =>
      createCopier({
        crane: new Crane({ binary: toolBinary("crane"), counter }),
        upstreams,
        registry: target.host,
        targetPlainHttp: async () => true,
        workDir: work,
        targetDigest: (repository, tag) => tagDigest(target.url, repository, tag),
      });
    // The first sync writes the arm64 manifest; the second finds it there.
    const first = copierWith(new InvocationCounter());
    await first.verify(step, await first.copy(step));
    const counter = new InvocationCounter();
    const again = copierWith(counter);
    const copied = await again.copy(step);
    expect(copied.digest).toBe(nginx.platforms["linux/arm64"]);
    expect(await again.verify(step, copied)).toBe(nginx.platforms["linux/arm64"]);
    expect(counter.toJSON()).toEqual({ "crane copy": 1 });
  });
});
