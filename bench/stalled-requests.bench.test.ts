// Benchmark: how long an in-process request takes to fail against a stalled upstream, with the
// product's default limits and real timers (no shortened timeouts, no instant sleep): upstream
// digest checks (resync `digest`) of 20 tags behind a registry that accepts and never answers,
// an index.yaml that drips one byte a second, and one that stalls after its headers.
// Writes bench/stalled-requests.md.
// Run: npx vitest run --config bench/vitest.config.ts bench/stalled-requests.bench.test.ts
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createChartVersionLister } from "../src/charts/repository.js";
import { mapWithConcurrency } from "../src/pool.js";
import { DistributionClient } from "../src/registry/distribution.js";
import { INDEX_LIMITS, MANIFEST_LIMITS } from "../src/registry/http.js";
import { type FaultProxy, startFaultProxy } from "../test/harness/fault-proxy.js";
import { makeChartTgz, type RunningChartRepo, startChartRepo } from "../test/harness/images.js";
import { type RunningRegistry, startRegistry } from "../test/harness/registry.js";

let registry: RunningRegistry;
let repo: RunningChartRepo;
let proxy: FaultProxy;
let charts: FaultProxy;
const rows: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  repo = await startChartRepo([
    { name: "demo", version: "1.0.0", tgz: makeChartTgz({ name: "demo", version: "1.0.0" }) },
  ]);
  proxy = await startFaultProxy(registry.url, { rules: [{ path: /./, fault: { kind: "stall" } }] });
  charts = await startFaultProxy(repo.url);
});
afterAll(async () => {
  await Promise.all([proxy?.stop(), charts?.stop(), repo?.stop(), registry?.stop()]);
  writeFileSync(
    join(import.meta.dirname, "stalled-requests.md"),
    [
      "# Time to fail on a stalled upstream (in process)",
      "",
      `\`npx vitest run --config bench/vitest.config.ts bench/stalled-requests.bench.test.ts\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version})`,
      "",
      `Default limits: headers ${MANIFEST_LIMITS.headersTimeoutMs / 1000} s, idle ${MANIFEST_LIMITS.idleTimeoutMs / 1000} s, ` +
        `manifest body ${MANIFEST_LIMITS.bodyDeadlineMs / 1000} s, index.yaml body ${INDEX_LIMITS.bodyDeadlineMs / 1000} s; ` +
        "registry operations retry within a 60 s budget, index.yaml within 120 s. Before: no timeout at all (the plan never ended).",
      "",
      "| fault | requests sent | time to fail | message |",
      "| --- | --- | --- | --- |",
      ...rows,
      "",
    ].join("\n"),
  );
});

async function measure(label: string, sent: () => number, work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const error = await work().then(
    () => null,
    (e: Error) => e,
  );
  const seconds = (performance.now() - t0) / 1000;
  expect(error).not.toBeNull();
  rows.push(
    `| ${label} | ${sent()} | ${seconds.toFixed(1)} s | ${String(error?.message).split("\n")[0]!.replace(/\|/g, "\\|")} |`,
  );
  return seconds;
}

it("20 digest checks against a registry that never answers", async () => {
  const client = new DistributionClient({ baseUrl: proxy.url });
  const tags = Array.from({ length: 20 }, (_, i) => `t${i}`);
  const seconds = await measure(
    "registry accepts and never answers: 20 manifest HEADs, 8 at a time",
    () => proxy.requests().length,
    async () => {
      const results = await mapWithConcurrency(tags, 8, (t) =>
        client.headManifest("library/x", t).then(
          () => null,
          (e: Error) => e,
        ),
      );
      const failed = results.filter((r) => r !== null);
      expect(failed).toHaveLength(20);
      throw failed.at(-1);
    },
  );
  expect(seconds).toBeLessThan(120);
});

it("an index.yaml that drips one byte a second", async () => {
  charts.clearFaults();
  charts.addFault({ path: /index\.yaml$/, fault: { kind: "drip", intervalMs: 1000 } });
  const before = charts.requests().length;
  const seconds = await measure(
    "index.yaml drips 1 byte/s",
    () => charts.requests().length - before,
    () => createChartVersionLister({ upstreams: [], credentials: [] }).repositoryVersions(charts.url, "demo"),
  );
  expect(seconds).toBeLessThan(600);
});

it("an index.yaml whose body stalls after the headers", async () => {
  charts.clearFaults();
  charts.addFault({ path: /index\.yaml$/, fault: { kind: "stall-body", afterBytes: 10 } });
  const before = charts.requests().length;
  const seconds = await measure(
    "index.yaml headers, then nothing",
    () => charts.requests().length - before,
    () => createChartVersionLister({ upstreams: [], credentials: [] }).repositoryVersions(charts.url, "demo"),
  );
  expect(seconds).toBeLessThan(200);
});
