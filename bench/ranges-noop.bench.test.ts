// Benchmark: image tag ranges in a plan. 100 range entries over 100 upstream repositories (20 tags each) against
// the harness's local ECR, planned from source three times: with no lock (every range resolved: one tag list per
// repository), with the lock the first plan returned (no upstream request at all), and relocked. Writes
// bench/ranges-noop.md.
// Run: npx vitest run --config bench/vitest.config.ts bench/ranges-noop.bench.test.ts
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, expect, it } from "vitest";
import { parseMirrorList } from "../src/list/parse.js";
import { mapWithConcurrency } from "../src/pool.js";
import { connectTarget, planRun } from "../src/run.js";
import { SecretMask } from "../src/tools/credentials.js";
import { startCountingProxy } from "../test/harness/counting-proxy.js";
import { startEcr } from "../test/harness/ecr.js";
import { pushImage } from "../test/harness/images.js";
import { startRegistry } from "../test/harness/registry.js";

const REPOSITORIES = 100;
const TAGS = 20;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

it("plans of 100 tag ranges: no lock, with the lock, relocked", async () => {
  const [target, upstreamRegistry] = await Promise.all([startRegistry(), startRegistry()]);
  cleanups.push(
    () => target.stop(),
    () => upstreamRegistry.stop(),
  );
  const upstream = await startCountingProxy({ url: upstreamRegistry.url });
  cleanups.push(() => upstream.stop());
  const ecr = await startEcr({ registry: target });
  cleanups.push(() => ecr.stop());
  const client = new ECRClient({
    region: ecr.region,
    endpoint: ecr.apiUrl,
    credentials: { accessKeyId: "t", secretAccessKey: "t" },
  });
  const jobs = Array.from({ length: REPOSITORIES * TAGS }, (_, i) => ({
    repo: `team/app-${Math.floor(i / TAGS)}`,
    tag: `1.${i % TAGS}.0`,
  }));
  await mapWithConcurrency(jobs, 8, (j) =>
    pushImage(upstreamRegistry.url, j.repo, j.tag, { seed: `${j.repo}:${j.tag}` }),
  );
  const entries = Array.from(
    { length: REPOSITORIES },
    (_, r) => `  - source: team/app-${r}\n    versionRange: ">=1.10.0 <2.0.0"\n    newest: 5`,
  );
  const list = parseMirrorList(
    `upstreams:\n  docker.io: { endpoint: "${upstream.url}" }\nimages:\n${entries.join("\n")}\n`,
    "mirrors.yaml",
  ).list!;
  const connected = await connectTarget(list, {
    mask: new SecretMask(() => {}),
    ecrClient: client,
    region: ecr.region,
  });

  const rows: string[] = [];
  const measure = async (name: string, ranges: Parameters<typeof planRun>[2]["ranges"]) => {
    upstream.resetCounts();
    const started = performance.now();
    const r = await planRun(list, connected, { resync: "missing", upstreamCredentials: [], ranges });
    const ms = performance.now() - started;
    const requests = upstream.requests().length;
    rows.push(
      `| ${name} | ${r.plan.summary.copy} | ${requests} | ${upstream.counts()["tags-list"] ?? 0} | ${ms.toFixed(0)} |`,
    );
    return { r, requests };
  };
  const first = await measure("no lock", { lock: null });
  expect(first.r.plan.summary.copy).toBe(REPOSITORIES * 5);
  const locked = await measure("with the lock", { lock: first.r.rangesLock });
  expect(locked.requests).toBe(0);
  await measure("relocked", { lock: first.r.rangesLock, relock: true });

  const text = [
    "# Image tag ranges in a plan",
    "",
    `${REPOSITORIES} range entries (\`versionRange: ">=1.10.0 <2.0.0"\`, \`newest: 5\`) over ${REPOSITORIES} upstream repositories of ${TAGS} tags each, planned from source against the local ECR (the target holds none of them).`,
    "",
    "| plan | tags to copy | upstream requests | tag lists | ms |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ].join("\n");
  writeFileSync(join(import.meta.dirname, "ranges-noop.md"), text);
  process.stdout.write(`${text}\n`);
});
