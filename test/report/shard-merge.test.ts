// The merge of a sharded sync's reports, read from the files the shards wrote: every step kept, counts summed,
// and a shard that failed or never reported fails the merged run without losing what the others copied.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MirrorError } from "../../src/errors.js";
import { mergeShardReports, readShardPlan, readShardReports } from "../../src/sharded.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "shard-merge-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const step = (repository: string, tag: string, outcome: string, action = "copy") => ({
  action,
  kind: "image",
  source: `docker.io/${repository}:${tag}`,
  repository: `mirrors/${repository}`,
  tag,
  outcome,
  digest: null,
  expectedDigest: null,
  attempts: 1,
  durationMs: 10,
  error: outcome === "failed" ? "upstream said 500" : null,
  reason: "new repository",
  file: "mirrors.yaml",
  line: 4,
});

async function report(name: string, shard: number, shards: number, steps: unknown[], ok = true) {
  const path = join(dir, name);
  await writeFile(
    path,
    JSON.stringify({
      registry: "127.0.0.1:5000",
      startedAt: `2026-12-02T01:0${shard}:00.000Z`,
      durationMs: 1000 * (shard + 1),
      ok,
      deletesSkipped: 0,
      processes: { "crane copy": steps.length },
      shard: { shard, shards },
      steps,
    }),
  );
  return path;
}

describe("mergeShardReports", () => {
  it("keeps every shard's steps, sums the counts and the processes, and takes the longest shard's time", async () => {
    const paths = [
      await report("0.json", 0, 2, [step("a", "1", "present", "present")]),
      await report("1.json", 1, 2, [step("b", "1", "copied"), step("c", "1", "copied")]),
      await report("2.json", 2, 2, [step("d", "1", "copied")]),
    ];
    const merged = mergeShardReports(await readShardReports(paths));
    expect(merged.missing).toEqual([]);
    expect(merged.report.ok).toBe(true);
    expect(merged.report.counts).toMatchObject({ copied: 3, present: 1, failed: 0 });
    expect(merged.report.durationMs).toBe(3000);
    expect(merged.processes).toEqual({ "crane copy": 4 });
    expect(merged.report.steps[1]!.location).toEqual({ file: "mirrors.yaml", line: 4, column: 1 });
  });

  it("fails when a shard failed a step or never reported, and keeps what the others copied", async () => {
    const failed = mergeShardReports(
      await readShardReports([
        await report("f0.json", 0, 2, []),
        await report("f1.json", 1, 2, [step("b", "1", "copied"), step("c", "1", "failed")], false),
        await report("f2.json", 2, 2, [step("d", "1", "copied")]),
      ]),
    );
    expect(failed.report.ok).toBe(false);
    expect(failed.report.counts).toMatchObject({ copied: 2, failed: 1 });
    expect(failed.report.failures.map((f) => f.repository)).toEqual(["mirrors/c"]);

    const missing = mergeShardReports(
      await readShardReports([
        await report("m0.json", 0, 2, []),
        await report("m1.json", 1, 2, [step("b", "1", "copied")]),
      ]),
    );
    expect(missing.missing).toEqual([2]);
    expect(missing.report.ok).toBe(false);
    expect(missing.report.counts.copied).toBe(1);
  });

  it("refuses a file that is not a sync report, or a shard plan that is not one, saying what to give", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, '{"hello": 1}');
    await expect(readShardReports([bad])).rejects.toThrow(`${bad} is not an ecr-mirror sync report`);
    const error = await readShardPlan(bad, null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MirrorError);
    expect((error as MirrorError).message).toBe(
      `${bad} is not an ecr-mirror shard plan (format ecr-mirror-shard/1)`,
    );
    expect((error as MirrorError).hint).toContain("ecr-mirror plan --shards N --plan-out DIR");
    await expect(readShardPlan(dir, null)).rejects.toThrow(
      "is a folder of shard plans; say which shard runs",
    );
  });
});
