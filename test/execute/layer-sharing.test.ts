// First sync at the floor: shared layers uploaded once per registry. A real upstream registry holds images in
// many repositories over a few base images; the sync runs with the crane stand-in into the local ECR, whose gate
// counts every byte uploaded and answers cross-repository mounts as ECR does (201 with BLOB_MOUNTING ENABLED and
// the same encryption on both repositories, else 202 and the client uploads).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ECRClient, PutAccountSettingCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { connectTarget, type SyncRunResult, syncRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { type LayeredImage, pushLayered, uniqueBlobBytes } from "../harness/layered-images.js";
import { validList } from "../harness/list.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
const images: LayeredImage[] = [];
let restoreEnv: (() => void) | undefined;

/** 8 application images in 8 repositories over 3 base images; two of them for two platforms. */
const CORPUS = [
  { repo: "library/alpha", base: "debian", app: "alpha" },
  { repo: "library/bravo", base: "debian", app: "bravo" },
  { repo: "library/charlie", base: "alpine", app: "charlie" },
  { repo: "library/delta", base: "alpine", app: "delta" },
  { repo: "library/echo", base: "debian", app: "echo", platforms: ["linux/amd64", "linux/arm64"] },
  { repo: "library/foxtrot", base: "debian", app: "foxtrot", platforms: ["linux/amd64", "linux/arm64"] },
  { repo: "library/golf", base: "ubuntu", app: "golf" },
  { repo: "library/hotel", base: "ubuntu", app: "hotel" },
];

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing, blobMounting: "ENABLED" });
  root = await mkdtemp(join(tmpdir(), "layer-sharing-"));
  await plantToolCache(join(root, "tool-cache"), "crane");
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root });
  for (const c of CORPUS) {
    images.push(
      await pushLayered(upstream.url, c.repo, "1", {
        base: c.base,
        app: c.app,
        ...(c.platforms ? { platforms: c.platforms } : {}),
      }),
    );
  }
}, 60_000);

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

function client(): ECRClient {
  return ecr.client();
}

function mirrorList(prefix: string, settings = ""): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
  imagePrefix: ${prefix}
${settings}
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
${CORPUS.map((c) => `  - ${c.repo.replace(/^library\//, "")}:1`).join("\n")}
`;
  return validList(text);
}

async function sync(list: MirrorList, log: string[] = []): Promise<SyncRunResult> {
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: client() });
  return syncRun(list, target, {
    resync: "missing",
    upstreamCredentials: [],
    mask,
    log: (line) => log.push(line),
    progress: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
  });
}

/** What the gate saw: blob bytes uploaded (upload PUTs and PATCHes), mount requests by answer. */
function gateFigures() {
  const requests = ecr.gateRequests();
  const uploads = requests.filter(
    (r) => r.kind === "blob-upload" && (r.method === "PUT" || r.method === "PATCH"),
  );
  const mounts = requests.filter(
    (r) => r.kind === "blob-upload" && r.method === "POST" && r.path.includes("mount="),
  );
  return {
    bytesUploaded: uploads.reduce((sum, r) => sum + r.bytes, 0),
    mounted: mounts.filter((r) => r.status === 201).length,
    refused: mounts.filter((r) => r.status === 202).length,
  };
}

async function setMounting(value: "ENABLED" | "DISABLED") {
  await client().send(new PutAccountSettingCommand({ name: "BLOB_MOUNTING", value }));
}

describe("layer sharing on a first sync", () => {
  it("uploads each shared layer once to the registry and mounts it into the other repositories", async () => {
    await setMounting("ENABLED");
    ecr.resetCounts();
    const log: string[] = [];
    const result = await sync(mirrorList("shared"), log);
    expect(result.report.ok).toBe(true);
    expect(result.report.counts.copied).toBe(CORPUS.length);
    const floor = uniqueBlobBytes(images);
    const gate = gateFigures();
    // Every blob crossed once: the floor, within 5 % (nothing else is uploaded as a blob).
    expect(gate.bytesUploaded).toBeGreaterThanOrEqual(floor);
    expect(gate.bytesUploaded).toBeLessThanOrEqual(floor * 1.05);
    // debian (2 single + 2 two-platform images), alpine and ubuntu: each later image mounts its base layers.
    expect(gate.mounted).toBeGreaterThanOrEqual(4);
    expect(gate.refused).toBe(0);
    expect(result.sharing).toMatchObject({ mounted: gate.mounted, refused: 0 });
    expect(log.some((l) => /^Layer sharing: \d+ blobs mounted/.test(l))).toBe(true);
    // The plan of the copies said what would move: the floor, against every blob once per repository.
    expect(result.bytes).toMatchObject({ known: CORPUS.length, bytesShared: floor });
    expect(result.bytes!.bytesPerRepository).toBeGreaterThan(floor);
    expect(
      log.some((l) => l.startsWith(`Bytes to move for ${CORPUS.length} copies whose layers are known: `)),
    ).toBe(true);
    // One read per manifest copied (an index and its children), never a second read of the same one.
    const manifests = images.reduce((sum, i) => sum + i.manifests, 0);
    expect(result.upstreamReads).toBe(manifests);
  }, 60_000);

  it("falls back to uploads without a single mount request when the account setting is DISABLED", async () => {
    await setMounting("DISABLED");
    ecr.resetCounts();
    const log: string[] = [];
    const result = await sync(mirrorList("unshared"), log);
    expect(result.report.ok).toBe(true);
    expect(result.report.counts.copied).toBe(CORPUS.length);
    const gate = gateFigures();
    expect(gate.mounted + gate.refused).toBe(0);
    // Every repository received its own copy of its base layers.
    const perRepository = images.reduce((sum, i) => sum + i.blobs.reduce((s, b) => s + b.bytes.length, 0), 0);
    expect(gate.bytesUploaded).toBe(perRepository);
    expect(result.upstreamReads).toBe(0);
    expect(
      log.some((l) => l.startsWith("Layer sharing off: the ECR account setting BLOB_MOUNTING is DISABLED")),
    ).toBe(true);
  }, 60_000);

  it("lets crane upload what ECR refuses to mount (different encryption) and still copies everything", async () => {
    await setMounting("ENABLED");
    // Every repository but the first is created with another KMS key: ECR mounts only between identical settings.
    const list = mirrorList("mixed");
    await client().send(
      new (await import("@aws-sdk/client-ecr")).CreateRepositoryCommand({
        repositoryName: "mixed/library/alpha",
        encryptionConfiguration: { encryptionType: "KMS", kmsKey: "alias/other" },
      }),
    );
    ecr.resetCounts();
    const result = await sync(list);
    expect(result.report.ok).toBe(true);
    expect(result.report.counts.copied).toBe(CORPUS.length);
    const gate = gateFigures();
    expect(gate.refused).toBeGreaterThan(0);
    expect(result.sharing?.refused).toBe(gate.refused);
    // The repositories with the same encryption still share among themselves.
    expect(gate.mounted).toBeGreaterThan(0);
    expect(gate.bytesUploaded).toBeGreaterThan(uniqueBlobBytes(images));
  }, 60_000);
});
