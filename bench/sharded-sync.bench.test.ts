// Benchmark: the sharded sync against one job, on the first-sync corpus (100 tags in 60 repositories over 5 base
// images, a third two-platform) into the local ECR (BLOB_MOUNTING ENABLED, PutImage throttled at 10/s for the
// account). One job, then 2 and 3 sync shards running at once (each paced at 10 / shards manifest PUTs a second):
// wall time of the plan job, the seed, the shards and the merge, manifest PUTs a second per shard and in total,
// bytes uploaded against the floor. Writes its section of bench/RESULTS.md.
//   npx vitest run --config bench/vitest.config.ts bench/sharded-sync.bench.test.ts
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { carryOutPlan } from "../src/execute/sync.js";
import { parseMirrorList } from "../src/list/parse.js";
import { connectTarget, planRun, type SyncRunOptions } from "../src/run.js";
import { mergeRun, planShardedRun, type ShardReport, shardSyncRun } from "../src/sharded.js";
import { SecretMask } from "../src/tools/credentials.js";
import { type LocalEcr, startEcr } from "../test/harness/ecr.js";
import { type LayeredImage, pushLayered, uniqueBlobBytes } from "../test/harness/layered-images.js";
import { type RunningRegistry, startRegistry } from "../test/harness/registry.js";
import { REAL_TOOLS, toolBinary } from "../test/stand-ins/stand-ins.js";

const BASES = ["debian", "ubuntu", "alpine", "distroless", "busybox"];
/** ECR_MIRROR_BENCH_SCALE=20: the same corpus twenty times over (2,000 tags in 1,200 repositories), one job against 3 shards. */
const SCALE = Number(process.env.ECR_MIRROR_BENCH_SCALE ?? "1");
const REPOSITORIES = 60 * SCALE;
const PUT_IMAGE_RATE = 10;

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let work: string;
const tags: { repository: string; tag: string; image: LayeredImage }[] = [];

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing, blobMounting: "ENABLED", putImageRate: PUT_IMAGE_RATE });
  work = await mkdtemp(join(tmpdir(), "bench-sharded-"));
  for (let i = 0; i < REPOSITORIES; i++) {
    const repository = `library/app-${String(i).padStart(SCALE > 1 ? 4 : 2, "0")}`;
    const platforms = i % 3 === 0 ? ["linux/amd64", "linux/arm64"] : ["linux/amd64"];
    for (const tag of i % 60 < 40 ? ["1.0", "1.1"] : ["1.0"]) {
      const image = await pushLayered(upstream.url, repository, tag, {
        base: BASES[i % BASES.length]!,
        app: `${repository}:${tag}`,
        platforms,
        baseBytes: 512 * 1024,
        appBytes: 32 * 1024,
      });
      tags.push({ repository, tag, image });
    }
  }
}, 300_000 * SCALE);

afterAll(async () => {
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

function listFor(prefix: string) {
  const yaml = `version: 1
target:
  type: ecr
  region: ${ecr.region}
  registry: ${ecr.registryHost}
  imagePrefix: ${prefix}
upstreams:
  docker.io:
    endpoint: ${upstream.url}
images:
${tags.map((t) => `  - docker.io/${t.repository}:${t.tag}`).join("\n")}
`;
  const { list } = parseMirrorList(yaml, "bench.yaml");
  if (!list) throw new Error("bench list invalid");
  return list;
}

/** Manifest PUTs the gate accepted into `repositories` (or under `prefix`): count and mean rate. */
function puts(match: (path: string) => boolean) {
  const at = ecr
    .gateRequests()
    .filter((r) => r.kind === "manifest-put" && r.status === 201 && match(r.path))
    .map((r) => r.at);
  const span = at.length > 1 ? (Math.max(...at) - Math.min(...at)) / 1000 : 0;
  return { count: at.length, rate: span > 0 ? (at.length - 1) / span : 0 };
}

function uploaded(prefix: string): number {
  return ecr
    .gateRequests()
    .filter((r) => r.kind === "blob-upload" && (r.method === "PUT" || r.method === "PATCH"))
    .filter((r) => r.path.includes(`/${prefix}/`))
    .reduce((n, r) => n + r.bytes, 0);
}

interface Row {
  run: string;
  plan: number;
  seed: number;
  shards: number;
  merge: number;
  total: number;
  perShard: string;
  rate: number;
  bytes: number;
  copied: number;
}

const options = (): SyncRunOptions => ({
  resync: "missing",
  upstreamCredentials: [],
  mask: new SecretMask(() => {}),
  craneBinary: toolBinary("crane"),
  tempRoot: work,
  putImageRate: PUT_IMAGE_RATE,
  log: () => {},
  progress: () => {},
});

async function single(prefix: string): Promise<Row> {
  const list = listFor(prefix);
  ecr.resetCounts();
  const t0 = performance.now();
  const target = await connectTarget(list, { mask: new SecretMask(() => {}), ecrClient: ecr.client() });
  const planned = await planRun(list, target, { resync: "missing", upstreamCredentials: [] });
  const { report } = await carryOutPlan(planned.plan, planned.list, {
    ...options(),
    progress: () => {},
    target,
  });
  const total = (performance.now() - t0) / 1000;
  expect(report.ok).toBe(true);
  const all = puts((p) => p.includes(`/${prefix}/`));
  return {
    run: "1 job",
    plan: 0,
    seed: 0,
    shards: total,
    merge: 0,
    total,
    perShard: all.rate.toFixed(1),
    rate: all.rate,
    bytes: uploaded(prefix),
    copied: report.counts.copied,
  };
}

async function sharded(prefix: string, n: number): Promise<Row> {
  const list = listFor(prefix);
  ecr.resetCounts();
  const target = await connectTarget(list, { mask: new SecretMask(() => {}), ecrClient: ecr.client() });
  const t0 = performance.now();
  const planned = await planShardedRun(list, target, {
    resync: "missing",
    upstreamCredentials: [],
    proveCopies: true,
    shards: n,
  });
  const t1 = performance.now();
  const report = (r: Awaited<ReturnType<typeof shardSyncRun>>): ShardReport => ({
    path: `shard-${r.shard.shard}`,
    shard: r.shard.shard,
    shards: r.shard.shards,
    report: r.report,
    processes: r.processes,
  });
  const seed = await shardSyncRun(list, target, planned.files[0]!, options());
  const t2 = performance.now();
  const shards = await Promise.all(
    planned.files.slice(1).map((f) => shardSyncRun(list, target, f, options())),
  );
  const t3 = performance.now();
  const merged = await mergeRun(list, target, [seed, ...shards].map(report), options());
  const t4 = performance.now();
  for (const f of merged.report.failures.slice(0, 5))
    console.error("failed:", JSON.stringify(f).slice(0, 2000));
  expect(merged.report.ok).toBe(true);
  const rates = planned.files.slice(1).map((f) => {
    const repos = new Set(f.entries.map((e) => e.repository));
    return puts((p) => [...repos].some((r) => p.includes(`/v2/${r}/manifests/`))).rate;
  });
  const all = puts((p) => p.includes(`/${prefix}/`));
  return {
    run: `${n} shards (+ seed of ${planned.files[0]!.entries.length} copies)`,
    plan: (t1 - t0) / 1000,
    seed: (t2 - t1) / 1000,
    shards: (t3 - t2) / 1000,
    merge: (t4 - t3) / 1000,
    total: (t4 - t0) / 1000,
    perShard: rates.map((r) => r.toFixed(1)).join(", "),
    rate: all.rate,
    bytes: uploaded(prefix),
    copied: merged.report.counts.copied,
  };
}

/** What limited the runs, from the figures: the quota when the PUT rate came near it, else the copies themselves. */
function readIt(rows: readonly Row[]): string {
  const one = rows[0]!;
  const best = rows.reduce((a, b) => (b.total < a.total ? b : a));
  const nearQuota = rows.some((r) => r.rate >= PUT_IMAGE_RATE * 0.8);
  if (nearQuota)
    return `the PUT rate came near the quota of ${PUT_IMAGE_RATE}/s, so the shards, which divide it, were no faster than one job (${one.total.toFixed(1)} s against ${best.total.toFixed(1)} s at best) and added the plan job, the seed and the merge.`;
  return `the quota was not the limit here (at most ${Math.max(...rows.map((r) => r.rate)).toFixed(1)} PUTs a second against ${PUT_IMAGE_RATE}): the copies were (crane processes on one shared 2-core machine), and N shards keep N times \`concurrency\` copies in flight, so ${best.run} took ${best.total.toFixed(1)} s against ${one.total.toFixed(1)} s for one job.`;
}

const MARK = SCALE > 1 ? `sharded-sync-x${SCALE}` : "sharded-sync";
const MARK_START = `<!-- ${MARK}: written by bench/sharded-sync.bench.test.ts -->`;
const MARK_END = `<!-- /${MARK} -->`;

it(`${100 * SCALE} tags: one job against ${SCALE > 1 ? "3 shards" : "2 and 3 shards"} at once, sharing one PutImage quota`, async () => {
  const floor = uniqueBlobBytes(tags.map((t) => t.image));
  const rows =
    SCALE > 1
      ? [await single("one"), await sharded("three", 3)]
      : [await single("one"), await sharded("two", 2), await sharded("three", 3)];
  for (const r of rows) {
    expect(r.copied).toBe(tags.length);
    expect(r.rate).toBeLessThanOrEqual(PUT_IMAGE_RATE * 1.1);
  }
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const s = (x: number) => `${x.toFixed(1)} s`;
  const table = rows.map(
    (r) =>
      `| ${r.run} | ${s(r.plan)} | ${s(r.seed)} | ${s(r.shards)} | ${s(r.merge)} | ${s(r.total)} | ${r.perShard} | ${r.rate.toFixed(1)}/s | ${mib(r.bytes)} (${(r.bytes / floor).toFixed(2)}x) |`,
  );
  const section = `${MARK_START}
## Sharded sync: ${tags.length} tags, one job against ${SCALE > 1 ? "3 shards" : "2 and 3 shards"}

Generated by \`npx vitest run --config bench/vitest.config.ts bench/sharded-sync.bench.test.ts\` on
${new Date().toISOString().slice(0, 10)}, ${REAL_TOOLS ? "with the REAL crane" : "with the crane STAND-IN"}, all jobs on one 2-core machine
(on GitHub each shard is its own runner). ${SCALE > 1 ? `The corpus above ${SCALE} times over` : "Same corpus as above"}: ${tags.length} tags in ${REPOSITORIES} repositories over ${BASES.length}
base images, floor ${mib(floor)}. The local ECR throttles PutImage at ${PUT_IMAGE_RATE}/s for the whole account; each of N
shards running at once paces itself at ${PUT_IMAGE_RATE}/N. Phases: the plan job (observe, prove, read layers,
split), the seed (repositories and the first image of every shared layer), the sync shards at once, the merge.

| Run | Plan job | Seed | Shards | Merge | Total | PUT rate per shard | PUT rate, all | Bytes uploaded (vs floor) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${table.join("\n")}

How to read it: ${readIt(rows)} Shard when one runner is the limit (the 6-hour job limit, its network
interface, its disk or CPU for large layers): with the PutImage quota as the limit the shards divide it, and N
shards cannot go faster than one job at the quota. Layer sharing holds across shards: the seed uploads the
shared layers once and the shards mount them (bytes uploaded against the floor above).
${MARK_END}`;
  const path = new URL("./RESULTS.md", import.meta.url);
  const old = await readFile(path, "utf8").catch(() => "");
  const start = old.indexOf(MARK_START);
  const end = old.indexOf(MARK_END);
  await writeFile(
    path,
    start >= 0 && end > start
      ? `${old.slice(0, start)}${section}${old.slice(end + MARK_END.length)}`
      : `${old.trimEnd()}\n\n${section}\n`,
  );
  console.log(section);
}, 3_600_000);
