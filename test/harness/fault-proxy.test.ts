// The fault proxy does what each fault says, seen with node's plain HTTP client (no product code).
import { readFileSync } from "node:fs";
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy, TOO_MANY_REQUESTS_BODY } from "./fault-proxy.js";
import { OCI_MANIFEST, pushTinyImage } from "./oci-push.js";
import { type RunningRegistry, startRegistry } from "./registry.js";

let upstream: RunningRegistry;
let proxy: FaultProxy;
let manifestPath: string;

beforeAll(async () => {
  upstream = await startRegistry();
  await pushTinyImage(upstream.url, "library/redis", "7.0", "faulted");
  proxy = await startFaultProxy(upstream.url);
  manifestPath = "/v2/library/redis/manifests/7.0";
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
});

interface Seen {
  status: number | null;
  bytes: number;
  /** Milliseconds from the request to each byte count change (first and last). */
  firstByteMs: number | null;
  endMs: number | null;
  error: string | null;
}

/** GETs `path`, collecting what arrives for at most `waitMs`. */
function watch(path: string, waitMs: number, headers: Record<string, string> = {}): Promise<Seen> {
  const t0 = performance.now();
  const seen: Seen = { status: null, bytes: 0, firstByteMs: null, endMs: null, error: null };
  return new Promise((resolve) => {
    const req = httpGet(
      `${proxy.url}${path}`,
      { headers: { accept: OCI_MANIFEST, ...headers } },
      (res: IncomingMessage) => {
        seen.status = res.statusCode ?? null;
        res.on("data", (c: Buffer) => {
          seen.firstByteMs ??= performance.now() - t0;
          seen.bytes += c.length;
        });
        res.on("end", () => {
          seen.endMs = performance.now() - t0;
          resolve(seen);
        });
        res.on("error", (e) => {
          seen.error = e.message;
          resolve(seen);
        });
      },
    );
    req.on("error", (e) => {
      seen.error = e.message;
      resolve(seen);
    });
    setTimeout(() => {
      req.destroy();
      resolve(seen);
    }, waitMs);
  });
}

it("passes requests through and records method, path and whether Authorization was sent", async () => {
  proxy.clearFaults();
  const before = proxy.requests().length;
  const seen = await watch(manifestPath, 2000, { authorization: "Basic eDp5" });
  expect(seen).toMatchObject({ status: 200, error: null });
  expect(proxy.requests().slice(before)).toEqual([
    { method: "GET", path: manifestPath, authorization: true, fault: null },
  ]);
});

it("stall: accepts and never answers", async () => {
  proxy.clearFaults();
  proxy.addFault({ path: /manifests/, fault: { kind: "stall" } });
  expect(await watch(manifestPath, 500)).toMatchObject({ status: null, bytes: 0, error: null });
});

it("stall-body: sends the headers and the first bytes, then nothing", async () => {
  proxy.clearFaults();
  proxy.addFault({ path: /manifests/, fault: { kind: "stall-body", afterBytes: 7 } });
  expect(await watch(manifestPath, 500)).toMatchObject({ status: 200, bytes: 7, endMs: null });
});

it("reset: destroys the connection after N bytes of the body", async () => {
  proxy.clearFaults();
  proxy.addFault({ path: /manifests/, fault: { kind: "reset", afterBytes: 11 } });
  const seen = await watch(manifestPath, 2000);
  expect(seen).toMatchObject({ status: 200, bytes: 11 });
  expect(seen.error).toMatch(/aborted|socket hang up|ECONNRESET/);
});

it("drip: one byte every interval", async () => {
  proxy.clearFaults();
  proxy.addFault({ path: /manifests/, fault: { kind: "drip", intervalMs: 40 } });
  const seen = await watch(manifestPath, 600);
  expect(seen.status).toBe(200);
  expect(seen.bytes).toBeGreaterThan(5);
  expect(seen.bytes).toBeLessThan(20);
});

it("status: a 429 with Distribution's JSON error, N times, then passes through", async () => {
  proxy.clearFaults();
  proxy.addFault({
    path: /manifests/,
    fault: { kind: "status", status: 429, body: TOO_MANY_REQUESTS_BODY },
    times: 2,
  });
  const answers: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${proxy.url}${manifestPath}`, { headers: { accept: OCI_MANIFEST } });
    answers.push(r.status);
    if (r.status === 429) expect(await r.json()).toEqual(TOO_MANY_REQUESTS_BODY);
    else await r.body?.cancel();
  }
  expect(answers).toEqual([429, 429, 200]);
  expect(
    proxy
      .requests()
      .slice(-3)
      .map((r) => r.fault),
  ).toEqual(["status 429", "status 429", null]);
});

it("tls: presents a certificate no client trusts; with the test CA it forwards", async () => {
  const tls = await startFaultProxy(upstream.url, { tls: true });
  try {
    const refused = await fetch(`${tls.url}${manifestPath}`, {
      headers: { authorization: "Basic eDp5" },
    }).catch((e: Error & { cause?: Error }) => e.cause?.message ?? e.message);
    expect(refused).toMatch(/self[- ]signed certificate/i);
    expect(tls.requests()).toEqual([]);
    expect(tls.connections()).toBe(1);

    const ca = readFileSync(join(import.meta.dirname, "..", "fixtures", "tls", "cert.pem"));
    const status = await new Promise<number>((resolve, reject) => {
      httpsGet(`${tls.url}${manifestPath}`, { ca, headers: { accept: OCI_MANIFEST } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on("error", reject);
    });
    expect(status).toBe(200);
    expect(tls.requests()).toEqual([
      { method: "GET", path: manifestPath, authorization: false, fault: null },
    ]);
  } finally {
    await tls.stop();
  }
});
