// Issue 20, referrers: a signed image (a cosign signature made here with a throwaway ECDSA P-256 key, and an OCI 1.1
// SBOM referrer) synced from a real upstream registry (behind a counting proxy) into the gated local ECR with the
// crane stand-in, then verified against the MIRROR the way a node-side verifier does it: the signature tag found by
// the mirrored digest, its simple-signing payload naming that digest, the signature checked with the public key.
// Debian's docker-registry (distribution 2.8) has no referrers API on either side: the tag-schema fallback is what
// carries the SBOM. Hostile referrer lists are refused on their list line; a no-op stays at zero upstream requests.
import { createHash, generateKeyPairSync, sign, verify } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { stepFields } from "../../src/plan/model.js";
import { describeFailure } from "../../src/report/failure.js";
import { formatPlan, planToJson } from "../../src/report/plan.js";
import { planMarkdown } from "../../src/report/plan-markdown.js";
import { connectTarget, planRun, type SyncRunResult, syncRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type RunningProxy, startCountingProxy } from "../harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { startFaultProxy } from "../harness/fault-proxy.js";
import { getManifest, pushBlob, pushImage, pushManifest, type RegistryAuth } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, readInvocationLog, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
const SPDX = "application/spdx+json";

let upstreamRegistry: RunningRegistry;
let upstream: RunningProxy;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let log: string;
let restoreEnv: (() => void) | undefined;

beforeAll(async () => {
  [upstreamRegistry, backing] = await Promise.all([startRegistry(), startRegistry()]);
  upstream = await startCountingProxy({ url: upstreamRegistry.url });
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "referrers-sync-"));
  log = join(root, "standin.jsonl");
  await plantToolCache(join(root, "tool-cache"), "crane");
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root, STANDIN_LOG: log });
});

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await upstream?.stop();
  await Promise.all([upstreamRegistry?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

const blob = (bytes: Buffer) => ({
  bytes,
  digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
});
const descriptor = (mediaType: string, b: { bytes: Buffer; digest: string }, extra = {}) => ({
  mediaType,
  digest: b.digest,
  size: b.bytes.length,
  ...extra,
});
const hexOf = (digest: string) => digest.slice("sha256:".length);

/** The gate as a node reaches the mirror: Basic auth as AWS with the token's password. */
const mirror = (): { url: string; auth: RegistryAuth } => ({
  url: ecr.proxyEndpoint,
  auth: { user: "AWS", password: ecr.password },
});

/**
 * Signs `digest` as `cosign sign` does: a simple-signing payload naming the image, signed (ECDSA P-256, SHA-256,
 * ASN.1 DER, base64) into the layer annotation `dev.cosignproject.cosign/signature` of a manifest tagged
 * `sha256-<hex>.sig` (sigstore/cosign pkg/oci/remote SignatureTag; pkg/cosign/payload).
 */
async function cosignSign(
  repository: string,
  digest: string,
  privateKey: ReturnType<typeof generateKeyPairSync>["privateKey"],
  layersBefore: object[] = [],
) {
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": `docker.io/${repository}` },
        image: { "docker-manifest-digest": digest },
        type: "cosign container image signature",
      },
      optional: null,
    }),
  );
  const signature = sign("sha256", payload, privateKey).toString("base64");
  const layer = blob(payload);
  const config = blob(
    Buffer.from(
      JSON.stringify({ architecture: "", os: "", rootfs: { type: "layers", diff_ids: [layer.digest] } }),
    ),
  );
  await pushBlob(upstreamRegistry.url, repository, layer);
  await pushBlob(upstreamRegistry.url, repository, config);
  const layers = [
    ...layersBefore,
    descriptor(SIMPLE_SIGNING, layer, { annotations: { "dev.cosignproject.cosign/signature": signature } }),
  ];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor("application/vnd.oci.image.config.v1+json", config),
      layers,
    }),
  );
  const tag = `sha256-${hexOf(digest)}.sig`;
  const pushed = await pushManifest(upstreamRegistry.url, repository, tag, manifest, OCI_MANIFEST);
  return { digest: pushed, tag, layers };
}

/**
 * An OCI 1.1 referrer (an SPDX SBOM whose `subject` is `subject`) pushed by digest, and, as ORAS and regclient do on
 * a registry without the referrers API, the referrers tag schema's index `sha256-<hex>` listing it.
 */
async function pushSbom(repository: string, subject: { digest: string; size: number }, listed?: object[]) {
  const empty = blob(Buffer.from("{}"));
  const sbom = blob(Buffer.from(JSON.stringify({ spdxVersion: "SPDX-2.3", name: repository })));
  await pushBlob(upstreamRegistry.url, repository, empty);
  await pushBlob(upstreamRegistry.url, repository, sbom);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SPDX,
      config: descriptor("application/vnd.oci.empty.v1+json", empty),
      layers: [descriptor(SPDX, sbom)],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
    }),
  );
  const digest = blob(manifest).digest;
  await pushManifest(upstreamRegistry.url, repository, digest, manifest, OCI_MANIFEST);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: listed ?? [{ mediaType: OCI_MANIFEST, digest, size: manifest.length, artifactType: SPDX }],
    }),
  );
  await pushManifest(upstreamRegistry.url, repository, `sha256-${hexOf(subject.digest)}`, index, OCI_INDEX);
  return { digest, size: manifest.length };
}

function listText(images: string, target = ""): string {
  return `version: 1
target:
  region: ${ecr.region}
${target}upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
${images}`;
}

function parse(text: string): MirrorList {
  const { list, problems } = parseMirrorList(text, "mirrors.yaml");
  if (!list || problems.length > 0) throw new Error(JSON.stringify(problems));
  return list;
}

async function sync(text: string, resync: "missing" | "digest"): Promise<SyncRunResult> {
  const list = parse(text);
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: ecr.client() });
  return syncRun(list, target, {
    resync,
    upstreamCredentials: [],
    mask,
    log: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
  });
}

const actions = (r: { plan: SyncRunResult["plan"] }) =>
  r.plan.steps.map(stepFields).map((s) => `${s.action} ${s.repository}${s.tag ? ` ${s.tag}` : ""}`);
const processes = (r: SyncRunResult) => Object.values(r.processes).reduce((a, b) => a + b, 0);

/**
 * What a verifier does against the mirror (cosign verify --key, by hand): the signature tag of the digest the
 * mirror serves for `tag`, its payload, the payload's digest claim and the signature over the payload.
 */
async function verifyAgainst(
  registry: { url: string; auth?: RegistryAuth },
  repository: string,
  tag: string,
  publicKey: ReturnType<typeof generateKeyPairSync>["publicKey"],
): Promise<{ digest: string; verified: boolean[] }> {
  const image = await getManifest(registry.url, repository, tag, registry.auth);
  const sig = await getManifest(registry.url, repository, `sha256-${hexOf(image.digest)}.sig`, registry.auth);
  const verified: boolean[] = [];
  for (const layer of (sig.json as { layers: { digest: string; annotations: Record<string, string> }[] })
    .layers) {
    const answer = await fetch(`${registry.url}/v2/${repository}/blobs/${layer.digest}`, {
      headers: registry.auth
        ? {
            authorization: `Basic ${Buffer.from(`${registry.auth.user}:${registry.auth.password}`).toString("base64")}`,
          }
        : {},
    });
    const payload = Buffer.from(await answer.arrayBuffer());
    const claim = JSON.parse(payload.toString("utf8")) as {
      critical: { image: { "docker-manifest-digest": string } };
    };
    const signature = Buffer.from(layer.annotations["dev.cosignproject.cosign/signature"]!, "base64");
    verified.push(
      claim.critical.image["docker-manifest-digest"] === image.digest &&
        verify("sha256", payload, publicKey, signature),
    );
  }
  return { digest: image.digest, verified };
}

describe("a signed image with referrers: true", () => {
  it("lands with its cosign signature and its SBOM, and verifies against the mirror exactly as upstream", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const app = await pushImage(upstreamRegistry.url, "library/app", "1", { seed: "signed-app-1" });
    const appSize = (await getManifest(upstreamRegistry.url, "library/app", "1")).bytes.length;
    const sig = await cosignSign("library/app", app.digest, privateKey);
    const sbom = await pushSbom("library/app", { digest: app.digest, size: appSize });
    // Upstream, the image verifies.
    expect(await verifyAgainst({ url: upstreamRegistry.url }, "library/app", "1", publicKey)).toEqual({
      digest: app.digest,
      verified: [true],
    });

    const text = listText('  - source: app\n    tags: ["1"]\n    referrers: true\n');
    upstream.resetCounts();
    const first = await sync(text, "missing");
    expect(first.report.failures).toEqual([]);
    // The plan shows each referrer as a copy step after its image, named by what it is.
    expect(actions(first)).toEqual([
      "create-repository mirrors/library/app",
      "copy mirrors/library/app 1",
      `copy mirrors/library/app ${sbom.digest}`,
      `copy mirrors/library/app ${sig.tag}`,
    ]);
    const text1 = formatPlan(first.plan);
    expect(text1).toContain(
      `copy              docker.io/library/app@${sbom.digest} -> mirrors/library/app@${sbom.digest}  (SBOM of docker.io/library/app:1 (OCI referrer, ${SPDX}))`,
    );
    expect(text1).toContain(
      `mirrors/library/app:${sig.tag}  (signature of docker.io/library/app:1 (cosign tag))`,
    );
    // The job summary and pull-request comment name them by kind beside the image's tag.
    expect(planMarkdown(first.plan)).toContain(
      `| \`mirrors/library/app\` | \`docker.io/library/app\` | \`1\`, \`SBOM ${sbom.digest.slice(0, 19)}…\`, \`signature ${sig.tag.slice(0, 19)}….sig\` |`,
    );
    expect(planToJson(first.plan).steps[3]).toMatchObject({
      action: "copy",
      tag: sig.tag,
      digest: sig.digest,
      referrer: { of: "docker.io/library/app:1", subject: app.digest, kind: "signature", tagged: true },
    });
    // Every referrer copy is verified by digest.
    expect(first.report.steps.map((s) => `${s.outcome} ${s.digest}`)).toEqual([
      "created null",
      `copied ${app.digest}`,
      `copied ${sbom.digest}`,
      `copied ${sig.digest}`,
    ]);

    // Against the mirror: the same digest, the signature found by it, the payload naming it, the key verifying it.
    expect(await verifyAgainst(mirror(), "mirrors/library/app", "1", publicKey)).toEqual({
      digest: app.digest,
      verified: [true],
    });
    // The SBOM is listed for the digest in the mirror's referrers tag schema (crane wrote it: no referrers API).
    const listed = await getManifest(
      mirror().url,
      "mirrors/library/app",
      `sha256-${hexOf(app.digest)}`,
      mirror().auth,
    );
    expect(listed.json).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          size: sbom.size,
          digest: sbom.digest,
          artifactType: "application/vnd.oci.empty.v1+json",
        },
      ],
    });
    const mirroredSbom = await getManifest(mirror().url, "mirrors/library/app", sbom.digest, mirror().auth);
    expect((mirroredSbom.json.subject as { digest: string }).digest).toBe(app.digest);

    // A no-op (resync missing): nothing sent upstream, no process, only the image's own step.
    upstream.resetCounts();
    const quiet = await sync(text, "missing");
    expect(actions(quiet)).toEqual(["present mirrors/library/app 1"]);
    expect(upstream.requests()).toEqual([]);
    expect(processes(quiet)).toBe(0);

    // resync digest with nothing new: the referrers are looked up upstream, the mirror holds them all: no copy.
    upstream.resetCounts();
    ecr.resetCounts();
    const same = await sync(text, "digest");
    // What that costs: upstream, the tag's HEAD, the referrers API (404 here), the tag-schema index, cosign's three
    // tags by HEAD; nothing read again that the mirror holds. The mirror is asked the same, through the gate.
    const fallbackTag = `sha256-${hexOf(app.digest)}`;
    expect(upstream.requests().map((r) => `${r.method} ${r.kind} ${r.reference ?? ""}`)).toEqual([
      "HEAD manifest-head 1",
      "GET other ",
      `GET manifest-get ${fallbackTag}`,
      `HEAD manifest-head ${fallbackTag}.sig`,
      `HEAD manifest-head ${fallbackTag}.att`,
      `HEAD manifest-head ${fallbackTag}.sbom`,
    ]);
    expect(ecr.gateCounts()).toMatchObject({ "manifest-get": 1, "manifest-head": 3 });
    expect(actions(same)).toEqual(["present mirrors/library/app 1"]);
    expect(processes(same)).toBe(0);

    // A second signature upstream (cosign rewrites the .sig tag with one more layer): resync digest updates it.
    const { privateKey: otherKey, publicKey: otherPublic } = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
    });
    const resigned = await cosignSign("library/app", app.digest, otherKey, sig.layers);
    const updated = await sync(text, "digest");
    expect(actions(updated)).toEqual([
      "present mirrors/library/app 1",
      `update mirrors/library/app ${sig.tag}`,
    ]);
    expect(updated.report.failures).toEqual([]);
    expect(updated.report.steps[1]).toMatchObject({ outcome: "updated", digest: resigned.digest });
    expect((await verifyAgainst(mirror(), "mirrors/library/app", "1", otherPublic)).verified).toEqual([
      false,
      true,
    ]);
    expect((await verifyAgainst(mirror(), "mirrors/library/app", "1", publicKey)).verified).toEqual([
      true,
      false,
    ]);

    // Pruning keeps the referrer tags while their subject stays.
    const pruning = await planRun(
      parse(listText('  - source: app\n    tags: ["1"]\n    referrers: true\n', "  prune: true\n")),
      await connectTarget(parse(text), { mask: new SecretMask(() => {}), ecrClient: ecr.client() }),
      { resync: "missing", upstreamCredentials: [] },
    );
    expect(pruning.plan.summary.delete).toBe(0);
  }, 90_000);
});

describe("hostile referrer lists", () => {
  it("refuses a referrer whose subject is another image, on the entry's line, and copies nothing", async () => {
    const evil = await pushImage(upstreamRegistry.url, "library/evil", "1", { seed: "evil-1" });
    const other = await pushImage(upstreamRegistry.url, "library/evil", "other", { seed: "evil-other" });
    const otherSize = (await getManifest(upstreamRegistry.url, "library/evil", "other")).bytes.length;
    // An SBOM of `other`, listed in the referrers index of `evil:1`.
    const stray = await pushSbom("library/evil", { digest: other.digest, size: otherSize });
    await pushSbom("library/evil", { digest: evil.digest, size: 1 }, [
      { mediaType: OCI_MANIFEST, digest: stray.digest, size: stray.size, artifactType: SPDX },
    ]);
    const text = listText('  - source: evil\n    tags: ["1"]\n    referrers: true\n');
    const lines = text.split("\n");
    const line = lines.findIndex((l) => l.includes("tags: [")) + 1;
    const column = lines[line - 1]!.indexOf('"1"') + 1;
    ecr.resetCounts();
    const before = readInvocationLog(log).length;
    const error = await sync(text, "missing").then(
      () => null,
      (e: unknown) => e,
    );
    const shown = describeFailure(error, new SecretMask(() => {}));
    expect(shown).toContain(
      `mirrors.yaml:${line}:${column}: error: the referrers of docker.io/library/evil:1 are refused: ${new URL(upstream.url).host}/library/evil (referrers of ${evil.digest}) lists ${stray.digest}, whose subject is ${other.digest}, not ${evil.digest}`,
    );
    expect(shown).toContain("hint: a referrer must be a manifest whose subject is this image's digest");
    expect(shown).not.toMatch(/\n\s+at /);
    expect(ecr.calls.CreateRepository).toBeUndefined();
    expect(readInvocationLog(log).slice(before)).toEqual([]);
  }, 60_000);

  it("takes a registry that serves the image itself for sha256-<hex> (GitLab) as one without referrers", async () => {
    const image = await pushImage(upstreamRegistry.url, "library/gl", "1", { seed: "gitlab-like" });
    // GitLab reads the tag `sha256-<hex>` as the digest and answers with the image (oras-project/oras#2148).
    const gitlab = await startFaultProxy(upstreamRegistry.url, {
      rules: [
        {
          path: new RegExp(`/v2/library/gl/manifests/sha256-${hexOf(image.digest)}$`),
          method: "GET",
          fault: {
            kind: "status",
            status: 200,
            body: {
              schemaVersion: 2,
              mediaType: OCI_INDEX,
              manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: 1 }],
            },
            headers: { "content-type": OCI_INDEX, "docker-content-digest": image.digest },
          },
        },
      ],
    });
    try {
      const text = listText('  - source: gl\n    tags: ["1"]\n    referrers: true\n').replace(
        upstream.url,
        gitlab.url,
      );
      const result = await sync(text, "missing");
      expect(result.report.failures).toEqual([]);
      expect(actions(result)).toEqual(["create-repository mirrors/library/gl", "copy mirrors/library/gl 1"]);
    } finally {
      await gitlab.stop();
    }
  }, 60_000);

  it("refuses a referrers API answer naming a huge manifest, or more than 64 referrers, before reading them", async () => {
    const big = await pushImage(upstreamRegistry.url, "library/big", "1", { seed: "big-1" });
    const many = await pushImage(upstreamRegistry.url, "library/many", "1", { seed: "many-1" });
    const huge = `sha256:${"a".repeat(64)}`;
    const index = (manifests: object[]) => ({
      kind: "status" as const,
      status: 200,
      body: { schemaVersion: 2, mediaType: OCI_INDEX, manifests },
      headers: { "content-type": OCI_INDEX },
    });
    // A registry with the referrers API that answers hostile lists (the fault proxy answers in its place).
    const hostile = await startFaultProxy(upstreamRegistry.url, {
      rules: [
        {
          path: new RegExp(`/v2/library/big/referrers/${big.digest}$`),
          fault: index([{ mediaType: OCI_MANIFEST, digest: huge, size: 10 * 1024 ** 3 }]),
        },
        {
          path: new RegExp(`/v2/library/many/referrers/${many.digest}$`),
          fault: index(
            Array.from({ length: 65 }, (_, i) => ({
              mediaType: OCI_MANIFEST,
              digest: `sha256:${i.toString(16).padStart(64, "0")}`,
              size: 100,
            })),
          ),
        },
      ],
    });
    try {
      const text = listText(
        '  - source: big\n    tags: ["1"]\n    referrers: true\n  - source: many\n    tags: ["1"]\n    referrers: true\n',
      ).replace(upstream.url, hostile.url);
      const error = await sync(text, "missing").then(
        () => null,
        (e: unknown) => e,
      );
      const shown = describeFailure(error, new SecretMask(() => {}));
      expect(shown).toContain(
        `error: the referrers of docker.io/library/big:1 are refused: ${hostile.host}/library/big (referrers of ${big.digest}) lists ${huge} with a size of 10737418240 bytes; a manifest has at most 4194304`,
      );
      expect(shown).toContain(
        `error: the referrers of docker.io/library/many:1 are refused: ${hostile.host}/library/many (referrers of ${many.digest}) lists 65 referrers, more than 64`,
      );
      // Neither the huge manifest nor any of the 65 was asked for.
      const asked = hostile.requests().map((r) => r.path);
      expect(asked.filter((p) => p.includes(huge) || p.includes("sha256:000000"))).toEqual([]);
      expect(asked.filter((p) => p.includes("/referrers/"))).toHaveLength(2);
    } finally {
      await hostile.stop();
    }
  }, 60_000);
});
