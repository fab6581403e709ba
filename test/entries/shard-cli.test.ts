// The sharded sync on the command line, against a plain registry as the target (`--registry-url`):
// `plan --shards N --plan-out DIR`, `sync --plan DIR --shard K` for the seed and each shard, `merge REPORT...`;
// and the usage errors of its flags.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { pushLayered } from "../harness/layered-images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let target: RunningRegistry;
let root: string;
let file: string;
const NAMES = ["alpha", "bravo", "charlie", "delta", "echo"];

beforeAll(async () => {
  [upstream, target] = await Promise.all([startRegistry(), startRegistry()]);
  root = await mkdtemp(join(tmpdir(), "shard-cli-"));
  await plantToolCache(join(root, "cache"), "crane");
  for (const [i, name] of NAMES.entries())
    await pushLayered(upstream.url, `library/${name}`, "1", { base: i < 3 ? "debian" : "alpine", app: name });
  file = join(root, "mirrors.yaml");
  await writeFile(
    file,
    `version: 1\nupstreams:\n  docker.io:\n    endpoint: ${upstream.url}\nimages:\n${NAMES.map((n) => `  - ${n}:1`).join("\n")}\n`,
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([upstream?.stop(), target?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const env = {
    ...process.env,
    RUNNER_TOOL_CACHE: join(root, "cache"),
    RUNNER_TEMP: root,
    ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane,
  };
  const saved = { ...process.env };
  Object.assign(process.env, env); // the tool cache and the stand-in read the process environment
  try {
    const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s), env });
    return { code, out, err };
  } finally {
    process.env = saved;
  }
}

describe("ecr-mirror plan --shards, sync --plan --shard, merge", () => {
  it("splits, carries out the seed and each shard, and merges into one report of every copy", async () => {
    const dir = join(root, "plans");
    const plan = await cli(["plan", file, "--registry-url", target.url, "--shards", "2", "--plan-out", dir]);
    expect(plan.code, plan.err).toBe(0);
    expect(plan.out).toContain("shard 0 (seed: repositories, shared layers): ");
    expect(JSON.parse(readFileSync(join(dir, "matrix.json"), "utf8"))).toEqual({
      include: [{ shard: 1 }, { shard: 2 }],
    });
    const reports: string[] = [];
    for (const k of [0, 1, 2]) {
      const report = join(root, `report-${k}.json`);
      const run = await cli([
        "sync",
        file,
        "--registry-url",
        target.url,
        "--plan",
        dir,
        "--shard",
        String(k),
        "--report",
        report,
      ]);
      expect(run.code, run.err).toBe(0);
      reports.push(report);
    }
    const merged = join(root, "merged.json");
    const merge = await cli([
      "merge",
      ...reports,
      "--list",
      file,
      "--registry-url",
      target.url,
      "--json",
      "--report",
      merged,
    ]);
    expect(merge.code, merge.err).toBe(0);
    const json = JSON.parse(merge.out);
    expect(json.counts).toMatchObject({ copied: NAMES.length, failed: 0 });
    expect(json.missingShards).toEqual([]);
    expect(JSON.parse(readFileSync(merged, "utf8")).counts.copied).toBe(NAMES.length);
    // Run again: every shard finds its tags present and copies nothing.
    const again = await cli([
      "sync",
      file,
      "--registry-url",
      target.url,
      "--plan",
      dir,
      "--shard",
      "1",
      "--json",
    ]);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).counts.copied).toBe(0);
  }, 120_000);

  it("refuses flags that do not go together, saying what to add", async () => {
    const noOut = await cli(["plan", file, "--shards", "2"]);
    expect(noOut.code).toBe(2);
    expect(noOut.err).toContain("ecr-mirror plan: --shards needs --plan-out DIR");
    const bad = await cli(["plan", file, "--shards", "none", "--plan-out", root]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--shards is "none"; expected a whole number of shards from 1 to 256');
    const alone = await cli(["plan", file, "--max-parallel", "2"]);
    expect(alone.code).toBe(2);
    expect(alone.err).toContain("--plan-out and --max-parallel go with --shards");
    const folder = await cli(["sync", file, "--registry-url", target.url, "--plan", root]);
    expect(folder.code).toBe(1);
    expect(folder.err).toContain("is a folder of shard plans; say which shard runs");
    const none = await cli(["merge"]);
    expect(none.code).toBe(2);
    expect(none.err).toContain("give the shards' report files");
  });
});
