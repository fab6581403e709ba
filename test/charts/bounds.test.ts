// Hostile chart repositories and archives: an index.yaml that drips, stalls, is huge or is an alias
// bomb, and a small chart archive that unpacks to gigabytes. Each fails in bounded time and
// memory, naming the limit; a transient fault on index.yaml is retried.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHART_LIMITS, readChartMetadata } from "../../src/charts/archive.js";
import { createChartVersionLister, parseChartIndex } from "../../src/charts/repository.js";
import { type HttpLimits, indexLimits } from "../../src/registry/http.js";
import { type FaultProxy, SERVER_ERROR_BODY, startFaultProxy } from "../harness/fault-proxy.js";
import { deterministicTar, makeChartTgz, type RunningChartRepo, startChartRepo } from "../harness/images.js";

const FAST: HttpLimits = {
  headersTimeoutMs: 400,
  idleTimeoutMs: 300,
  bodyDeadlineMs: 1000,
  maxBytes: 1024 * 1024,
};

let repo: RunningChartRepo;
let proxy: FaultProxy;

beforeAll(async () => {
  repo = await startChartRepo([
    { name: "demo", version: "1.0.0", tgz: makeChartTgz({ name: "demo", version: "1.0.0" }) },
  ]);
  proxy = await startFaultProxy(repo.url);
});
afterAll(async () => {
  await proxy?.stop();
  await repo?.stop();
});

const lister = (limits: HttpLimits = FAST) =>
  createChartVersionLister({ upstreams: [], credentials: [], limits, sleep: async () => {} });

async function timed<T>(work: Promise<T>): Promise<{ ms: number; result: T | Error }> {
  const t0 = performance.now();
  const result = await work.catch((e: Error) => e);
  return { ms: performance.now() - t0, result };
}

describe("index.yaml from a hostile or broken server", () => {
  it("a dripping index.yaml fails at the body deadline instead of hanging the plan", async () => {
    proxy.clearFaults();
    proxy.addFault({ path: /index\.yaml$/, fault: { kind: "drip", intervalMs: 20 } });
    const { ms, result } = await timed(lister().repositoryVersions(proxy.url, "demo"));
    expect(String(result)).toMatch(
      /GET http:\/\/127\.0\.0\.1:\d+\/index\.yaml: the answer took longer than 1 s to arrive \(\d+ bytes read\) \(gave up after 3 attempts/,
    );
    expect(ms).toBeLessThan(3 * 1000 + 1500);
  });

  it("a stalled index.yaml is retried and read when the server answers", async () => {
    proxy.clearFaults();
    proxy.addFault({ path: /index\.yaml$/, fault: { kind: "stall" }, times: 1 });
    expect(await lister().repositoryVersions(proxy.url, "demo")).toEqual(["1.0.0"]);
  });

  it("a 500 with a JSON body is retried", async () => {
    proxy.clearFaults();
    proxy.addFault({
      path: /index\.yaml$/,
      fault: { kind: "status", status: 500, body: SERVER_ERROR_BODY },
      times: 2,
    });
    expect(await lister().repositoryVersions(proxy.url, "demo")).toEqual(["1.0.0"]);
  });

  it("an index.yaml above the limit is refused before it is read, with how to raise the limit", async () => {
    proxy.clearFaults();
    const big = Buffer.alloc(3 * 1024 * 1024, 0x20);
    proxy.addFault({ path: /index\.yaml$/, fault: { kind: "status", status: 200, body: big } });
    const limits = indexLimits({ ECR_MIRROR_MAX_INDEX_MIB: "2" });
    expect(limits.maxBytes).toBe(2 * 1024 * 1024);
    const { result } = await timed(lister(limits).repositoryVersions(proxy.url, "demo"));
    expect(String(result)).toMatch(
      /the answer is larger than 2097152 bytes \(Content-Length 3145728\); not read/,
    );
    expect(String(result)).toMatch(/hint: set ECR_MIRROR_MAX_INDEX_MIB/);
  });

  it("the default limit is 32 MiB (parsing costs about 40 times that in memory)", () => {
    expect(indexLimits({}).maxBytes).toBe(32 * 1024 * 1024);
    expect(indexLimits({ ECR_MIRROR_MAX_INDEX_MIB: "nonsense" }).maxBytes).toBe(32 * 1024 * 1024);
  });

  it("an alias bomb (billion laughs) in index.yaml is refused, not expanded", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const bomb = `${levels.join("\n")}\nentries:\n  demo:\n    - version: 1.0.0\n      urls: *i\n`;
    const t0 = performance.now();
    expect(() => parseChartIndex(bomb, "https://charts.example.com")).toThrow(
      /index\.yaml is not valid YAML: .*alias/i,
    );
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("chart archives", () => {
  it("a small archive that unpacks past 100 MiB is refused before it fills memory", () => {
    const tar = deterministicTar([
      { path: "demo/Chart.yaml", content: "name: demo\nversion: 1.0.0\n" },
      { path: "demo/big.bin", content: Buffer.alloc(CHART_LIMITS.maxDecompressedBytes + 1024) },
    ]);
    const tgz = gzipSync(tar, { level: 9 });
    expect(tgz.length).toBeLessThan(1024 * 1024);
    expect(() => readChartMetadata(tgz)).toThrow(
      "the chart archive unpacks to more than 104857600 bytes (helm's limit for a chart); not read",
    );
  });

  it("a Chart.yaml larger than helm's 5 MiB per file is refused", () => {
    const chartYaml = `name: demo\nversion: 1.0.0\ndescription: "${"x".repeat(6 * 1024 * 1024)}"\n`;
    const tgz = gzipSync(deterministicTar([{ path: "demo/Chart.yaml", content: chartYaml }]));
    expect(() => readChartMetadata(tgz)).toThrow(
      /demo\/Chart\.yaml in the chart archive is \d+ bytes, more than the 5242880/,
    );
  });

  it("a well-formed chart still reads", () => {
    expect(readChartMetadata(makeChartTgz({ name: "demo", version: "1.2.3" }))).toMatchObject({
      name: "demo",
      version: "1.2.3",
    });
  });
});
