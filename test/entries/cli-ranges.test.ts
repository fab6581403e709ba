// The terminal with image tag ranges (src/cli-commands.ts from source): `render --out` writes the lock beside the
// node configuration, `plan --lock FILE` takes the range from it with no upstream request, `--relock` and
// `--resync digest` ask the upstream again, and a --lock file that does not exist is a warning.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { RANGES_LOCK_FILE } from "../../src/list/tag-ranges.js";
import { type RunningProxy, startCountingProxy } from "../harness/counting-proxy.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

let dir: string;
let target: RunningRegistry;
let upstreamRegistry: RunningRegistry;
let upstream: RunningProxy;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cli-ranges-"));
  [target, upstreamRegistry] = await Promise.all([startRegistry(), startRegistry()]);
  upstream = await startCountingProxy({ url: upstreamRegistry.url });
  for (const tag of ["1.0.0", "1.1.0", "2.0.0"])
    await pushImage(upstreamRegistry.url, "team/app", tag, { seed: `app-${tag}` });
  await writeFile(
    join(dir, "mirrors.yaml"),
    `target:
  region: eu-west-1
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
  - source: team/app
    versionRange: "1.x"
`,
  );
});

afterAll(async () => {
  await upstream?.stop();
  await Promise.all([target?.stop(), upstreamRegistry?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), env: {} });
  return { code, out, err };
}

describe("ecr-mirror with an image tag range", () => {
  it("render writes the lock; plan --lock takes the range from it; --relock and --resync digest ask again", async () => {
    // Inside the current folder (render writes only below it).
    const out = relative(process.cwd(), join(".vitest-tmp", basename(dir), "out"));
    const list = join(dir, "mirrors.yaml");
    const rendered = await cli([
      "render",
      list,
      "--out",
      out,
      "--registry-url",
      target.url,
      "--configurator-digest",
      `sha256:${"a".repeat(64)}`,
    ]);
    expect(rendered.err).toBe("");
    expect(rendered.code).toBe(0);
    const lockFile = join(out, RANGES_LOCK_FILE);
    expect(JSON.parse(readFileSync(lockFile, "utf8")).ranges[0].tags).toEqual(["1.1.0", "1.0.0"]);

    await pushImage(upstreamRegistry.url, "team/app", "1.2.0", { seed: "app-1.2.0" });
    upstream.resetCounts();
    const locked = await cli(["plan", list, "--registry-url", target.url, "--lock", lockFile, "--json"]);
    expect(locked.code).toBe(0);
    expect(JSON.parse(locked.out).ranges).toEqual([
      expect.objectContaining({ tags: ["1.1.0", "1.0.0"], from: "lock" }),
    ]);
    // plan proves each copy with a HEAD; the range itself asked nothing.
    expect(upstream.counts()["tags-list"] ?? 0).toBe(0);

    for (const flags of [["--relock"], ["--resync", "digest"]]) {
      upstream.resetCounts();
      const asked = await cli([
        "plan",
        list,
        "--registry-url",
        target.url,
        "--lock",
        lockFile,
        "--json",
        ...flags,
      ]);
      expect(asked.code).toBe(0);
      expect(JSON.parse(asked.out).ranges[0]).toMatchObject({
        tags: ["1.2.0", "1.1.0", "1.0.0"],
        from: "upstream",
      });
      expect(upstream.counts()["tags-list"]).toBe(1);
    }
    await rm(join(".vitest-tmp", basename(dir)), { recursive: true, force: true });
  });

  it("a --lock file that does not exist is a warning, and the range is resolved", async () => {
    const r = await cli([
      "plan",
      join(dir, "mirrors.yaml"),
      "--registry-url",
      target.url,
      "--lock",
      join(dir, "none.json"),
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("none.json does not exist; tag ranges are resolved from their upstreams");
    expect(r.out).toContain('Tag range docker.io/team/app versionRange "1.x" -> 1.2.0, 1.1.0, 1.0.0');
  });
});
