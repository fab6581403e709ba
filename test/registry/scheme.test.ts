// One scheme rule, crane's (go-containerregistry pkg/name/registry.go Scheme(), transport/ping.go): HTTPS
// first, plain HTTP only as the fallback on loopback and private hosts. Proved against real registries:
// Debian's docker-registry serving HTTPS with a throwaway certificate, and serving plain HTTP, on
// 127.0.0.1. The product's own requests, crane (the stand-in, as the real one) and helm reach the same
// endpoint; a public host is never asked over plain HTTP; an untrusted certificate is never "fixed" by
// falling back to HTTP.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { carryOutPlan } from "../../src/execute/sync.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { DistributionClient } from "../../src/registry/distribution.js";
import { RegistrySchemes } from "../../src/registry/scheme.js";
import { connectTarget, planRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { InvocationCounter } from "../../src/tools/runner.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { pushTinyImage } from "../harness/oci-push.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { makeTestCertificate, type TestCertificate, trustInThisProcess } from "../harness/tls.js";
import { runStandIn, toolBinary } from "../stand-ins/stand-ins.js";

let work: string;
let certificate: TestCertificate;
let tlsRegistry: RunningRegistry;
let untrustedRegistry: RunningRegistry;
let plainRegistry: RunningRegistry;
let ecrBacking: RunningRegistry;
let ecr: LocalEcr;
let tlsDigest: string;
let plainDigest: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ecr-mirror-scheme-"));
  certificate = await makeTestCertificate(work);
  const untrusted = await makeTestCertificate(work, "untrusted");
  trustInThisProcess(certificate.pem);
  [tlsRegistry, untrustedRegistry, plainRegistry, ecrBacking] = await Promise.all([
    startRegistry({ tls: certificate }),
    startRegistry({ tls: untrusted }),
    startRegistry(),
    startRegistry(),
  ]);
  ecr = await startEcr({ registry: ecrBacking });
  tlsDigest = (await pushTinyImage(tlsRegistry.url, "team/app", "1.0", "tls")).digest;
  plainDigest = (await pushTinyImage(plainRegistry.url, "team/app", "1.0", "plain")).digest;
}, 60_000);

afterAll(async () => {
  await ecr?.stop();
  await Promise.all([tlsRegistry, untrustedRegistry, plainRegistry, ecrBacking].map((r) => r?.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

/** fetch, recording every URL asked for. */
function recordingFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    fetch: (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    },
  };
}

describe("in-process requests follow crane's scheme rule", () => {
  it("reach a TLS registry on a loopback address over HTTPS, even where the list wrote http://", async () => {
    const { fetch, urls } = recordingFetch();
    const client = new DistributionClient({ baseUrl: `http://${tlsRegistry.host}`, fetch });
    expect(await client.headManifest("team/app", "1.0")).toBe(tlsDigest);
    expect(await client.listTags("team/app")).toEqual(["1.0"]);
    expect(urls.every((u) => u.startsWith(`https://${tlsRegistry.host}/`))).toBe(true);
  });

  it("fall back to plain HTTP on a loopback registry that does not speak TLS, once for the run", async () => {
    const { fetch, urls } = recordingFetch();
    const schemes = new RegistrySchemes();
    const counts: Record<string, number> = {};
    const client = new DistributionClient({
      baseUrl: `https://${plainRegistry.host}`,
      fetch,
      schemes,
      counts,
    });
    expect(await client.headManifest("team/app", "1.0")).toBe(plainDigest);
    expect(await client.headManifest("team/app", "1.0")).toBe(plainDigest);
    // The HTTPS attempt got no HTTP answer; after it, HTTP only. Each request is counted once.
    expect(urls.map((u) => u.split(":")[0])).toEqual(["https", "http", "http"]);
    expect(counts["manifest-head"]).toBe(2);
    expect(plainRegistry.accessLog().filter((e) => e.method === "HEAD")).toHaveLength(2);
    // A second client of the run knows it already: helm would get --plain-http without asking again.
    expect(await schemes.resolve(plainRegistry.host)).toBe("http");
    expect(urls).toHaveLength(3);
  });

  it("never fall back to plain HTTP from an untrusted certificate: the failure says what to trust", async () => {
    const { fetch, urls } = recordingFetch();
    const client = new DistributionClient({
      baseUrl: `https://${untrustedRegistry.host}`,
      fetch,
      retry: { retries: 0 },
    });
    const failure = await client.headManifest("team/app", "1.0").then(
      () => null,
      (e: Error) => e.message,
    );
    expect(failure).toMatch(/certificate/i);
    expect(failure).toMatch(/NODE_EXTRA_CA_CERTS/);
    expect(urls.every((u) => u.startsWith("https://"))).toBe(true);
  });

  it("never ask a public host over plain HTTP, whatever the list wrote", async () => {
    const urls: string[] = [];
    const refused: typeof fetch = async (input) => {
      urls.push(String(input));
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      });
    };
    const client = new DistributionClient({
      baseUrl: "http://registry.example.com",
      fetch: refused,
      retry: { retries: 0 },
    });
    await expect(client.headManifest("team/app", "1.0")).rejects.toThrow(/ECONNREFUSED/);
    expect(urls).toEqual(["https://registry.example.com/v2/team/app/manifests/1.0"]);
    // helm's answer for it needs no request: HTTPS.
    expect(await new RegistrySchemes(refused).resolve("registry.example.com")).toBe("https");
    expect(await new RegistrySchemes(refused).resolve("localhost")).toBe("https");
    expect(urls).toHaveLength(1);
  });

  it("tell helm what each loopback registry answered on: HTTPS for TLS, --plain-http for plain", async () => {
    const schemes = new RegistrySchemes();
    expect(await schemes.resolve(tlsRegistry.host)).toBe("https");
    expect(await schemes.resolve(plainRegistry.host)).toBe("http");
  });
});

describe("crane (stand-in) follows the same rule", () => {
  it("copies from a TLS registry on 127.0.0.1 it trusts through SSL_CERT_FILE, to a plain one", async () => {
    const result = await runStandIn(
      "crane",
      ["copy", `${tlsRegistry.host}/team/app:1.0`, `${plainRegistry.host}/copied/app:1.0`],
      { env: { SSL_CERT_FILE: certificate.certificatePath } },
    );
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    const copied = new DistributionClient({ baseUrl: `https://${plainRegistry.host}` });
    expect(await copied.headManifest("copied/app", "1.0")).toBe(tlsDigest);
  });

  it("fails on a TLS registry whose certificate it does not trust (no plain-HTTP rescue)", async () => {
    const result = await runStandIn("crane", ["digest", `${untrustedRegistry.host}/team/app:1.0`], {
      env: { SSL_CERT_FILE: certificate.certificatePath },
    });
    expect(result.code).toBe(1);
  });
});

describe("a sync from a TLS upstream on a private address", () => {
  it("plans with HTTPS digest checks and copies with crane, digest kept", async () => {
    const yaml = `version: 1
target:
  type: ecr
  region: ${ecr.region}
  registry: ${ecr.registryHost}
upstreams:
  docker.io:
    endpoint: http://${tlsRegistry.host}
images:
  - docker.io/team/app:1.0
`;
    const { list } = parseMirrorList(yaml, "mirror.yaml");
    if (!list) throw new Error("list invalid");
    const mask = new SecretMask(() => {});
    const client = ecr.client();
    const target = await connectTarget(list, { mask, ecrClient: client });
    const planned = await planRun(list, target, { resync: "digest", upstreamCredentials: [] });
    expect(planned.plan.steps.map((s) => s.kind)).toContain("image");
    const previous = process.env.SSL_CERT_FILE;
    process.env.SSL_CERT_FILE = certificate.certificatePath;
    try {
      const { report } = await carryOutPlan(planned.plan, planned.list, {
        target,
        upstreamCredentials: [],
        mask,
        craneBinary: toolBinary("crane"),
        counter: new InvocationCounter(),
        tempRoot: work,
        log: () => {},
        progress: () => {},
      });
      expect(report.ok).toBe(true);
    } finally {
      if (previous === undefined) delete process.env.SSL_CERT_FILE;
      else process.env.SSL_CERT_FILE = previous;
    }
    const mirrored = new DistributionClient({
      baseUrl: ecr.proxyEndpoint,
      auth: { username: "AWS", password: ecr.password },
    });
    expect(await mirrored.headManifest("mirrors/team/app", "1.0")).toBe(tlsDigest);
  });
});
