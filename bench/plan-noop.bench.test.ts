// Benchmark: a no-op plan of 2,000 tags across 500 repositories against the harness's local ECR.
// Runs the bundled CLI as a process (as a user would), under strace (processes spawned) and
// GNU time (peak memory), and reads the ECR calls from the endpoint and the registry traffic from
// the gate and an upstream counting proxy. Writes bench/plan-noop.md.
// Run: npx vitest run --config bench/vitest.config.ts bench/plan-noop.bench.test.ts
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, expect, it } from "vitest";
import { mapWithConcurrency } from "../src/pool.js";
import { startCountingProxy } from "../test/harness/counting-proxy.js";
import { startEcr } from "../test/harness/ecr.js";
import { buildImage, pushBlob, pushManifest } from "../test/harness/images.js";
import { startRegistry } from "../test/harness/registry.js";

const REPOSITORIES = 500;
const TAGS_PER_REPOSITORY = 4;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

it("no-op plan: 2,000 tags in 500 repositories", async () => {
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

  // Seed: 500 repositories created through the API, 4 tags each pushed straight into the registry.
  const image = buildImage("bench");
  const names = Array.from({ length: REPOSITORIES }, (_, i) => `mirrors/bench/app${i}`);
  const tags = Array.from({ length: TAGS_PER_REPOSITORY }, (_, t) => `1.${t}`);
  const seedStart = performance.now();
  await mapWithConcurrency(names, 16, async (name) => {
    await client.send(new CreateRepositoryCommand({ repositoryName: name }));
    for (const blob of [image.config, ...image.layers])
      await pushBlob(target.url, name, { bytes: blob.bytes, digest: blob.descriptor.digest });
    for (const tag of tags)
      await pushManifest(target.url, name, tag, image.manifestBytes, image.manifest.mediaType);
  });
  const seedSeconds = (performance.now() - seedStart) / 1000;

  const dir = mkdtempSync(join(tmpdir(), "ecr-mirror-bench-"));
  const lines = names.map(
    (_name, i) => `  - { source: bench/app${i}, tags: [${tags.map((t) => `"${t}"`).join(", ")}] }`,
  );
  writeFileSync(
    join(dir, "mirrors.yaml"),
    `upstreams:\n  docker.io: { endpoint: "${upstream.url}" }\nimages:\n${lines.join("\n")}\n`,
  );
  ecr.resetCounts();
  upstream.resetCounts();

  const cli = join(import.meta.dirname, "..", "dist", "cli.js");
  const traceFile = join(dir, "strace.txt");
  const timeFile = join(dir, "time.txt");
  const useStrace = existsSync("/usr/bin/strace");
  const argv = [
    "-v",
    "-o",
    timeFile,
    ...(useStrace ? ["/usr/bin/strace", "-f", "-qq", "-e", "trace=execve", "-o", traceFile] : []),
    process.execPath,
    cli,
    "plan",
    "--json",
  ];
  const started = performance.now();
  const { stdout } = await promisify(execFile)("/usr/bin/time", argv, {
    cwd: dir,
    env: { PATH: process.env.PATH, ...ecr.env() },
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  const plan = JSON.parse(stdout);
  expect(plan.summary).toMatchObject({
    present: REPOSITORIES * TAGS_PER_REPOSITORY,
    copy: 0,
    "create-repository": 0,
  });

  const peakKiB = Number(
    readFileSync(timeFile, "utf8").match(/Maximum resident set size \(kbytes\): (\d+)/)?.[1],
  );
  // The first execve is node itself; anything after it is a process the plan spawned.
  const spawned = useStrace
    ? readFileSync(traceFile, "utf8")
        .split("\n")
        .filter((l) => /execve\(/.test(l) && !/ENOENT/.test(l)).length - 1
    : Number.NaN;
  const calls = { ...ecr.calls };
  const figures = {
    repositories: REPOSITORIES,
    tags: REPOSITORIES * TAGS_PER_REPOSITORY,
    ecrCalls: calls,
    ecrCallsTotal: Object.values(calls).reduce((a, b) => a + b, 0),
    registryRequestsToTarget: ecr.gateRequests().length,
    upstreamRequests: upstream.requests().length,
    processesSpawned: spawned,
    wallSeconds: Number(seconds.toFixed(2)),
    peakRssMiB: Number((peakKiB / 1024).toFixed(1)),
    seedSeconds: Number(seedSeconds.toFixed(1)),
  };
  // The bar from the issue: DescribeImages once per repository (plus pages), discovery in a handful, nothing upstream,
  // nothing spawned.
  expect(calls.DescribeImages).toBe(REPOSITORIES);
  expect(calls.DescribeRepositories).toBeLessThanOrEqual(2);
  expect(figures.upstreamRequests).toBe(0);
  expect(figures.registryRequestsToTarget).toBe(0);
  if (useStrace) expect(spawned).toBe(0);

  const md = `# No-op plan benchmark

\`npx vitest run --config bench/vitest.config.ts bench/plan-noop.bench.test.ts\` (${new Date().toISOString().slice(0, 10)}, 2 cores, Node ${process.version})

A mirror list of ${figures.tags} tags in ${figures.repositories} repositories, all present in the target
(the harness's local ECR endpoint in front of a real \`docker-registry\`); \`node dist/cli.js plan --json\`
run as a process under \`strace -f -e trace=execve\` and GNU \`time -v\`.

| figure | value |
| --- | --- |
| ECR API calls | ${Object.entries(calls)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")} (total ${figures.ecrCallsTotal}) |
| registry requests to the target | ${figures.registryRequestsToTarget} |
| upstream requests | ${figures.upstreamRequests} |
| processes spawned | ${figures.processesSpawned} |
| wall time | ${figures.wallSeconds} s |
| peak memory (RSS) | ${figures.peakRssMiB} MiB |

DescribeRepositories pages through the registry (1,000 a page), DescribeImages runs once per repository
(1,000 images a page with their tags and storage status, archived ones included, 8 at a time); no
tag is fetched, no upstream is asked (resync \`missing\`), no process is started.
Seeding the fixture took ${figures.seedSeconds} s and is not counted.
`;
  writeFileSync(join(import.meta.dirname, "plan-noop.md"), md);
  console.log(JSON.stringify(figures, null, 2));
});
