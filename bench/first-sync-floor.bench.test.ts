// Benchmark: a first sync at the physical floor. 100 tags in 60 repositories over 5 base images (a third of them
// two-platform indexes), ecr-mirror into the local ECR with BLOB_MOUNTING ENABLED and DISABLED, side by side with
// `skopeo sync` into a plain registry (skopeo mounts blobs it has seen within one registry). Counts the bytes each
// target received as blob uploads against the unique-blob floor, requests to each side, mounts, the busiest second
// of manifest PUTs, processes and wall time, and writes its section of bench/RESULTS.md.
//   npx vitest run --config bench/vitest.config.ts bench/first-sync-floor.bench.test.ts
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, PutAccountSettingCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, expect, it } from "vitest";
import { carryOutPlan } from "../src/execute/sync.js";
import { parseMirrorList } from "../src/list/parse.js";
import { connectTarget, planRun } from "../src/run.js";
import { SecretMask } from "../src/tools/credentials.js";
import { InvocationCounter } from "../src/tools/runner.js";
import {
  type ProxiedRequest,
  type RunningProxy,
  startCountingProxy,
} from "../test/harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../test/harness/ecr.js";
import { type LayeredImage, pushLayered, uniqueBlobBytes } from "../test/harness/layered-images.js";
import { type RunningRegistry, startRegistry } from "../test/harness/registry.js";
import { REAL_TOOLS, toolBinary } from "../test/stand-ins/stand-ins.js";

const BASES = ["debian", "ubuntu", "alpine", "distroless", "busybox"];
const REPOSITORIES = 60; // 40 with two tags, 20 with one: 100 tags
const BASE_BYTES = 512 * 1024;
const APP_BYTES = 32 * 1024;
const PUT_IMAGE_RATE = 10;

let upstream: RunningRegistry;
let upstreamProxy: RunningProxy;
let ecrBacking: RunningRegistry;
let ecr: LocalEcr;
let skopeoTarget: RunningRegistry;
let skopeoProxy: RunningProxy;
let work: string;
const tags: { repository: string; tag: string; image: LayeredImage }[] = [];

beforeAll(async () => {
  [upstream, ecrBacking, skopeoTarget] = await Promise.all([
    startRegistry(),
    startRegistry(),
    startRegistry(),
  ]);
  ecr = await startEcr({ registry: ecrBacking, blobMounting: "ENABLED", putImageRate: PUT_IMAGE_RATE });
  upstreamProxy = await startCountingProxy(upstream);
  skopeoProxy = await startCountingProxy(skopeoTarget);
  work = await mkdtemp(join(tmpdir(), "bench-floor-"));
  for (let i = 0; i < REPOSITORIES; i++) {
    const repository = `library/app-${String(i).padStart(2, "0")}`;
    const base = BASES[i % BASES.length]!;
    const platforms = i % 3 === 0 ? ["linux/amd64", "linux/arm64"] : ["linux/amd64"];
    for (const tag of i < 40 ? ["1.0", "1.1"] : ["1.0"]) {
      const image = await pushLayered(upstream.url, repository, tag, {
        base,
        app: `${repository}:${tag}`,
        platforms,
        baseBytes: BASE_BYTES,
        appBytes: APP_BYTES,
      });
      tags.push({ repository, tag, image });
    }
  }
}, 300_000);

afterAll(async () => {
  await Promise.all([upstreamProxy?.stop(), skopeoProxy?.stop(), ecr?.stop()]);
  await Promise.all([upstream?.stop(), ecrBacking?.stop(), skopeoTarget?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

interface Figures {
  tool: string;
  run: string;
  seconds: number;
  /** The tool's error when it ended without finishing (its last line). */
  failed?: string;
  bytesUploaded: number;
  mounts: number;
  upstreamRequests: number;
  upstreamManifestGets: number;
  targetRequests: number;
  ecrApiCalls: number;
  manifestPuts: number;
  busiestSecond: number;
  /** Manifest PUTs a second from the first to the last. */
  meanPutRate: number;
  /** Manifest PUTs the target throttled (429). */
  throttled: number;
  processes: number;
}

const REFUSALS = ["unauthorized", "name-unknown", "tag-invalid", "unsupported", "archived", "throttled"];
const total = (counts: Record<string, number | undefined>) =>
  Object.entries(counts)
    .filter(([k]) => !REFUSALS.includes(k))
    .reduce((n, [, v]) => n + (v ?? 0), 0);

function targetFigures(requests: ProxiedRequest[]) {
  const uploads = requests.filter(
    (r) => r.kind === "blob-upload" && (r.method === "PUT" || r.method === "PATCH"),
  );
  const mounts = requests.filter(
    (r) => r.kind === "blob-upload" && r.method === "POST" && r.path.includes("mount=") && r.status === 201,
  );
  const puts = requests.filter((r) => r.kind === "manifest-put" && r.status === 201).map((r) => r.at);
  const busiestSecond = Math.max(0, ...puts.map((t) => puts.filter((u) => u >= t && u < t + 1000).length));
  const span = puts.length > 1 ? (Math.max(...puts) - Math.min(...puts)) / 1000 : 0;
  return {
    meanPutRate: span > 0 ? (puts.length - 1) / span : 0,
    throttled: requests.filter((r) => r.kind === "manifest-put" && r.status === 429).length,
    bytesUploaded: uploads.reduce((sum, r) => sum + r.bytes, 0),
    mounts: mounts.length,
    manifestPuts: puts.length,
    busiestSecond,
  };
}

async function ecrMirrorRun(run: string, prefix: string, mounting: "ENABLED" | "DISABLED"): Promise<Figures> {
  const yaml = `version: 1
target:
  type: ecr
  region: ${ecr.region}
  registry: ${ecr.registryHost}
  imagePrefix: ${prefix}
upstreams:
  docker.io:
    endpoint: http://${upstreamProxy.host}
images:
${tags.map((t) => `  - docker.io/${t.repository}:${t.tag}`).join("\n")}
`;
  const { list } = parseMirrorList(yaml, "bench.yaml");
  if (!list) throw new Error("bench list invalid");
  const client = ecr.client();
  await client.send(new PutAccountSettingCommand({ name: "BLOB_MOUNTING", value: mounting }));
  upstreamProxy.resetCounts();
  ecr.resetCounts();
  const mask = new SecretMask(() => {});
  const counter = new InvocationCounter();
  const t0 = performance.now();
  const target = await connectTarget(list, { mask, ecrClient: client });
  const planned = await planRun(list, target, { resync: "missing", upstreamCredentials: [] });
  const { report } = await carryOutPlan(planned.plan, planned.list, {
    target,
    upstreamCredentials: [],
    mask,
    craneBinary: toolBinary("crane"),
    counter,
    tempRoot: work,
    putImageRate: PUT_IMAGE_RATE,
    log: () => {},
    progress: () => {},
  });
  const seconds = (performance.now() - t0) / 1000;
  expect(report.ok).toBe(true);
  const up = upstreamProxy.counts();
  return {
    tool: "ecr-mirror",
    run,
    seconds,
    ...targetFigures(ecr.gateRequests()),
    upstreamRequests: total(up),
    upstreamManifestGets: up["manifest-get"] ?? 0,
    targetRequests: total(ecr.gateCounts()),
    ecrApiCalls: Object.values(ecr.calls).reduce((a, b) => a + b, 0),
    processes: counter.count(),
  };
}

function skopeo(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("skopeo", args, { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`skopeo ${args[0]} failed: ${stderr}`)) : resolve(),
    );
  });
}

/**
 * `skopeo sync` of the same tags, either into the local ECR (the same PutImage quota ecr-mirror keeps to; skopeo
 * cannot create ECR repositories, so they are created first, outside the figures) or into a registry without a quota.
 * Into the quota, a throttled manifest PUT fails skopeo's copy of that image unless it is given `--retry-times`.
 */
async function skopeoRun(run: string, into: "ecr" | "registry"): Promise<Figures> {
  const byRepository = new Map<string, string[]>();
  for (const t of tags) byRepository.set(t.repository, [...(byRepository.get(t.repository) ?? []), t.tag]);
  const yaml = `${upstreamProxy.host}:\n  tls-verify: false\n  images:\n${[...byRepository]
    .map(([repo, list]) => `    ${repo}:\n${list.map((t) => `      - "${t}"`).join("\n")}`)
    .join("\n")}\n`;
  const file = join(work, "skopeo-sync.yaml");
  await writeFile(file, yaml);
  const destination = into === "ecr" ? `${ecr.registryHost}/skopeo` : `${skopeoProxy.host}/mirrors`;
  if (into === "ecr") {
    const client = ecr.client();
    await client.send(new PutAccountSettingCommand({ name: "BLOB_MOUNTING", value: "ENABLED" }));
    // skopeo sync writes DEST/<last path component>: library/app-00 lands at skopeo/app-00.
    for (const repository of byRepository.keys())
      await client.send(
        new CreateRepositoryCommand({ repositoryName: `skopeo/${repository.split("/").pop()}` }),
      );
  }
  upstreamProxy.resetCounts();
  skopeoProxy.resetCounts();
  ecr.resetCounts();
  const t0 = performance.now();
  const failed = await skopeo([
    "sync",
    "--all",
    "--src",
    "yaml",
    "--dest",
    "docker",
    "--dest-tls-verify=false",
    // Into the quota skopeo needs its retries: without them a throttled manifest PUT ends the sync
    // (`writing manifest: … toomanyrequests: Rate exceeded`).
    ...(into === "ecr" ? ["--dest-creds", `AWS:${ecr.password}`, "--retry-times", "5"] : []),
    file,
    destination,
  ]).then(
    () => undefined,
    (e: Error) =>
      /Rate exceeded|toomanyrequests|TOOMANYREQUESTS/i.test(e.message)
        ? "toomanyrequests: Rate exceeded"
        : e.message,
  );
  if (failed && into === "registry") throw new Error(failed);
  const seconds = (performance.now() - t0) / 1000;
  const up = upstreamProxy.counts();
  const target = into === "ecr" ? ecr.gateRequests() : skopeoProxy.requests();
  return {
    tool: "skopeo sync",
    run,
    seconds,
    ...(failed ? { failed } : {}),
    ...targetFigures(target),
    upstreamRequests: total(up),
    upstreamManifestGets: up["manifest-get"] ?? 0,
    targetRequests: total(into === "ecr" ? ecr.gateCounts() : skopeoProxy.counts()),
    ecrApiCalls: 0,
    processes: 1,
  };
}

const MARK_START = "<!-- first-sync-floor: written by bench/first-sync-floor.bench.test.ts -->";
const MARK_END = "<!-- /first-sync-floor -->";

it("first sync of 100 tags over 5 base images: bytes against the floor, time against skopeo sync", async () => {
  const floor = uniqueBlobBytes(tags.map((t) => t.image));
  const perRepository = [...new Set(tags.map((t) => t.repository))].reduce((sum, repository) => {
    const seen = new Map<string, number>();
    for (const t of tags.filter((x) => x.repository === repository))
      for (const b of t.image.blobs) seen.set(b.descriptor.digest, b.bytes.length);
    return sum + [...seen.values()].reduce((a, b) => a + b, 0);
  }, 0);
  const shared = await ecrMirrorRun("first sync, BLOB_MOUNTING ENABLED", "shared", "ENABLED");
  const noop = await ecrMirrorRun("no-op resync", "shared", "ENABLED");
  const unshared = await ecrMirrorRun("first sync, BLOB_MOUNTING DISABLED", "unshared", "DISABLED");
  const sk = await skopeoRun("first sync, into the local ECR (same quota)", "ecr");
  const unquoted = await skopeoRun("first sync, into a registry without a quota", "registry");
  const figures = [shared, noop, unshared, sk, unquoted];

  expect(shared.bytesUploaded).toBeLessThanOrEqual(floor * 1.05);
  expect(shared.meanPutRate).toBeLessThanOrEqual(PUT_IMAGE_RATE);
  expect(noop.upstreamRequests).toBe(0);
  expect(noop.processes).toBe(0);
  // At most one extra counted read per new platform image: the in-process read beside crane's own.
  expect(shared.upstreamManifestGets).toBeLessThanOrEqual(2 * shared.manifestPuts);
  // Without mounting, two tags of one repository copied at once may both upload a layer (crane's HEAD sees none).
  expect(unshared.bytesUploaded).toBeGreaterThanOrEqual(perRepository);

  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const rows = figures.map(
    (f) =>
      `| ${f.tool} | ${f.run} | ${f.failed ? `failed after ${f.seconds.toFixed(1)} s (\`${f.failed}\`)` : `${f.seconds.toFixed(1)} s`} | ${mib(f.bytesUploaded)} | ${(f.bytesUploaded / floor).toFixed(2)}x | ${f.mounts} | ${f.upstreamRequests} | ${f.upstreamManifestGets} | ${f.targetRequests} | ${f.ecrApiCalls} | ${f.manifestPuts} | ${f.meanPutRate.toFixed(1)}/s | ${f.busiestSecond} | ${f.throttled} | ${f.processes} |`,
  );
  const multi = tags.filter((t) => t.image.manifests > 1).length;
  const section = `${MARK_START}
## First sync at the floor: layer sharing, PutImage pacing

Generated by \`npx vitest run --config bench/vitest.config.ts bench/first-sync-floor.bench.test.ts\` on
${new Date().toISOString().slice(0, 10)}, ${REAL_TOOLS ? "with the REAL crane" : "with the crane STAND-IN"}.

Data: ${tags.length} tags in ${REPOSITORIES} repositories over ${BASES.length} base images (${tags.length - multi} single-platform,
${multi} two-platform indexes), each platform of an image a base layer of ${BASE_BYTES / 1024} KiB shared by every image
on that base and its own ${APP_BYTES / 1024} KiB layer. **The floor (every distinct blob once): ${mib(floor)}**; every blob
once per repository: ${mib(perRepository)}. The local ECR throttles PutImage at ${PUT_IMAGE_RATE}/s (token bucket),
and ecr-mirror paces at the same rate. "Bytes uploaded" is what the target received in blob uploads (PUT/PATCH
bodies); "PUT rate (mean)" is manifest PUTs a second from the first to the last, "busiest second" the most the
target accepted in any one second (a token bucket of ${PUT_IMAGE_RATE} lets up to ${2 * PUT_IMAGE_RATE} through in one second after a quiet one),
"throttled" the PUTs it answered 429 (crane retried them).

| Tool | Run | Wall time | Bytes uploaded | vs floor | Mounts | Upstream requests | Upstream manifest GETs | Target registry requests | ECR API calls | Manifest PUTs | PUT rate (mean) | Busiest second | Throttled | Processes |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

How to read it:

- With BLOB_MOUNTING ENABLED ecr-mirror uploads ${(shared.bytesUploaded / floor).toFixed(2)}x the floor: each base layer crosses once,
  the other repositories mount it (${shared.mounts} mounts); DISABLED, crane uploads every layer at least once per
  repository (${(unshared.bytesUploaded / floor).toFixed(2)}x: two tags of one repository copied at once may both upload it).
- Knowing an image's layers costs a manifest read upstream: the first sync's upstream manifest GETs
  (${shared.upstreamManifestGets}) are crane's plus one in-process read of each manifest (an index and its children).
- Times: crane here is ${REAL_TOOLS ? "the real binary" : "a stand-in (one Node process per copy on a shared 2-core machine)"}. Both
  tools are bound by the manifest quota here, not by bytes: ${shared.manifestPuts} manifests at ${PUT_IMAGE_RATE} PutImage calls a second need
  at least ${(shared.manifestPuts / PUT_IMAGE_RATE).toFixed(1)} s whatever the engine. Into the same quota, ecr-mirror took ${shared.seconds.toFixed(1)} s${
    sk.failed
      ? `; skopeo sync, which pushes as fast as it can, had ${sk.throttled} manifest PUTs answered 429 and ended after ${sk.seconds.toFixed(1)} s without finishing (\`${sk.failed}\`, with \`--retry-times 5\`: a throttled manifest-list upload is not retried)`
      : ` and skopeo sync ${sk.seconds.toFixed(1)} s (${(shared.seconds / sk.seconds).toFixed(2)}x); ECR answered ${sk.throttled} of skopeo's PUTs 429 (it retried them with \`--retry-times 5\`)`
  }. ecr-mirror paces its PUTs to the quota (${shared.throttled} throttled). The local ECR models the quota as a token bucket
  holding one second's worth; AWS does not document ECR's burst, so how soon an unpaced client is throttled may differ.
  Into a registry without a quota skopeo took ${unquoted.seconds.toFixed(1)} s (its busiest second: ${unquoted.busiestSecond} PUTs), a figure no ECR account
  at the default quota can reach.
${MARK_END}`;
  const path = new URL("./RESULTS.md", import.meta.url);
  const old = await readFile(path, "utf8").catch(() => "");
  const start = old.indexOf(MARK_START);
  const end = old.indexOf(MARK_END);
  const text =
    start >= 0 && end > start
      ? `${old.slice(0, start)}${section}${old.slice(end + MARK_END.length)}`
      : `${old.trimEnd()}\n\n${section}\n`;
  await writeFile(path, text);
  console.log(section);
});
