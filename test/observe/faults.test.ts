// The in-process registry client against a real registry behind the fault proxy: every fault is
// either retried to success or fails within a bounded time with a message that says what happened.
// Limits are shortened (the defaults, 30 s idle and so on, are the same code with larger numbers)
// and the retry sleep is instant, so the times measured are the product's own timeouts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DistributionClient } from "../../src/registry/distribution.js";
import { type HttpLimits, MANIFEST_LIMITS } from "../../src/registry/http.js";
import {
  ECR_THROTTLING_BODY,
  type Fault,
  type FaultProxy,
  SERVER_ERROR_BODY,
  startFaultProxy,
  TOO_MANY_REQUESTS_BODY,
} from "../harness/fault-proxy.js";
import { pushIndex } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

const FAST: HttpLimits = {
  headersTimeoutMs: 400,
  idleTimeoutMs: 300,
  bodyDeadlineMs: 1500,
  maxBytes: 4 * 1024 * 1024,
};
const AUTH = { username: "mirror", password: "s3cret-pass" };

let registry: RunningRegistry;
let proxy: FaultProxy;
let digest: string;

beforeAll(async () => {
  registry = await startRegistry();
  digest = (await pushIndex(registry.url, "library/nginx", "1.27", { platforms: ["linux/amd64"], seed: "f" }))
    .digest;
  proxy = await startFaultProxy(registry.url);
}, 60_000);
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

function client(slept: number[] = [], limits: HttpLimits = FAST, url = proxy.url) {
  return new DistributionClient({
    baseUrl: url,
    limits,
    retry: { sleep: async (ms) => void slept.push(ms), random: () => 0.5 },
  });
}

/** A client that sends AUTH (Basic) to `url`; retries without waiting. */
function clientWithAuth(url: string) {
  return new DistributionClient({ baseUrl: url, auth: AUTH, limits: FAST, retry: { sleep: async () => {} } });
}

/** GET …/manifests/… answered with `fault`: the next `times` requests, or all of them. */
function faultManifestGets(fault: Fault, times?: number) {
  proxy.addFault({ path: /manifests\//, method: "GET", fault, times });
}

/** Requests for …/manifests/… (any method) answered 307 to `location`: the next `times`, or all of them. */
function redirectManifests(location: string, times?: number) {
  proxy.addFault({
    path: /manifests\//,
    fault: { kind: "status", status: 307, body: "", headers: { location } },
    times,
  });
}

async function timed<T>(work: Promise<T>): Promise<{ ms: number; result: T | Error }> {
  const t0 = performance.now();
  const result = await work.catch((e: Error) => e);
  return { ms: performance.now() - t0, result };
}

describe("registry faults, in process", () => {
  it("a request that is never answered is retried, and succeeds when the registry answers again", async () => {
    proxy.clearFaults();
    proxy.addFault({ path: /manifests\/1\.27$/, method: "HEAD", fault: { kind: "stall" }, times: 1 });
    const before = proxy.requests().length;
    expect(await client().headManifest("library/nginx", "1.27")).toBe(digest);
    expect(
      proxy
        .requests()
        .slice(before)
        .map((r) => r.fault),
    ).toEqual(["stall", null]);
  });

  it("a registry that never answers fails in bounded time, naming the timeout and the attempts", async () => {
    proxy.clearFaults();
    proxy.addFault({ path: /manifests\//, fault: { kind: "stall" } });
    const { ms, result } = await timed(client().headManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(
      /HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/library\/nginx\/manifests\/1\.27: no answer within 0\.4 s \(connection and headers timeout\) \(gave up after 4 attempts in \d+\.\d s\)/,
    );
    expect(ms).toBeLessThan(4 * 400 + 1000);
  });

  it("after a registry did not answer, the next requests to it fail at once instead of each waiting", async () => {
    proxy.clearFaults();
    proxy.addFault({ path: /manifests\//, fault: { kind: "stall" } });
    const c = client();
    await expect(c.headManifest("library/nginx", "1.27")).rejects.toThrow(/no answer within/);
    const sent = proxy.requests().length;
    const { ms, result } = await timed(c.headManifest("library/nginx", "other"));
    expect(String(result)).toMatch(
      /127\.0\.0\.1:\d+ could not be reached earlier in this run \(.*no answer within 0\.4 s.*\); not asked again/,
    );
    expect(ms).toBeLessThan(50);
    expect(proxy.requests().length).toBe(sent);
  });

  it("headers then a stalled body: the idle timeout fires, then the retry succeeds", async () => {
    proxy.clearFaults();
    faultManifestGets({ kind: "stall-body", afterBytes: 20 }, 1);
    const got = await client().getManifest("library/nginx", "1.27");
    expect(got?.digest).toBe(digest);

    faultManifestGets({ kind: "stall-body", afterBytes: 20 });
    const { ms, result } = await timed(client().getManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(/no data for 0\.3 s after 20 bytes of the answer \(idle timeout\)/);
    expect(ms).toBeLessThan(4 * 300 + 1000);
  });

  it("a connection reset mid-body is retried to success, and named when it keeps happening", async () => {
    proxy.clearFaults();
    faultManifestGets({ kind: "reset", afterBytes: 30 }, 2);
    expect((await client().getManifest("library/nginx", "1.27"))?.digest).toBe(digest);

    faultManifestGets({ kind: "reset", afterBytes: 30 });
    const { result } = await timed(client().getManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(
      /the connection failed after 30 bytes of the answer: .*\(gave up after 4 attempts/,
    );
  });

  it("a body dripping one byte at a time hits the body deadline, even though bytes keep coming", async () => {
    proxy.clearFaults();
    faultManifestGets({ kind: "drip", intervalMs: 50 });
    const { ms, result } = await timed(client().getManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(/the answer took longer than 1\.5 s to arrive \(\d+ bytes read\)/);
    expect(ms).toBeLessThan(4 * 1500 + 1500);
  });

  it("429 with Distribution's JSON error and Retry-After: waits what the registry asked, then succeeds", async () => {
    proxy.clearFaults();
    proxy.addFault({
      path: /tags\/list/,
      fault: { kind: "status", status: 429, body: TOO_MANY_REQUESTS_BODY, headers: { "retry-after": "2" } },
      times: 2,
    });
    const slept: number[] = [];
    expect(await client(slept).listTags("library/nginx")).toEqual(["1.27"]);
    expect(slept).toEqual([2000, 2000]);
  });

  it("500 with a JSON error body is retried, and the registry's own words end the message", async () => {
    proxy.clearFaults();
    faultManifestGets({ kind: "status", status: 500, body: SERVER_ERROR_BODY });
    const { result } = await timed(client().getManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(
      /GET library\/nginx:1\.27 answered 500: UNKNOWN: unknown error \(gave up after 4 attempts/,
    );
    proxy.clearFaults();
    faultManifestGets({ kind: "status", status: 429, body: ECR_THROTTLING_BODY });
    const ecrLike = await timed(client().getManifest("library/nginx", "1.27"));
    expect(String(ecrLike.result)).toMatch(/answered 429: Rate exceeded \(gave up after 4 attempts/);
  });

  it("a Retry-After beyond the time budget is not waited for", async () => {
    proxy.clearFaults();
    proxy.addFault({
      path: /tags\/list/,
      fault: { kind: "status", status: 503, body: SERVER_ERROR_BODY, headers: { "retry-after": "3600" } },
    });
    const slept: number[] = [];
    const { result } = await timed(client(slept).listTags("library/nginx"));
    expect(String(result)).toMatch(/answered 503/);
    expect(slept).toEqual([]);
  });

  it("a manifest larger than 4 MiB is refused while streaming, with the limit named", async () => {
    proxy.clearFaults();
    faultManifestGets({ kind: "status", status: 200, body: Buffer.alloc(5 * 1024 * 1024, 0x20) });
    const { result } = await timed(client([], MANIFEST_LIMITS).getManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(
      /the answer is larger than 4194304 bytes \(Content-Length 5242880\); not read/,
    );
  });

  it("a redirect to the instance metadata address is not followed, and no credentials go there", async () => {
    proxy.clearFaults();
    redirectManifests("http://169.254.169.254/latest/meta-data/");
    const c = clientWithAuth(proxy.url);
    const { result } = await timed(c.headManifest("library/nginx", "1.27"));
    expect(String(result)).toMatch(/redirected to 169\.254\.169\.254, which is refused/);
  });

  it("a cross-host redirect the address policy accepts (loopback) is followed without the Authorization header", async () => {
    const other = await startFaultProxy(registry.url);
    try {
      proxy.clearFaults();
      redirectManifests(`${other.url}/v2/library/nginx/manifests/1.27`, 1);
      const c = clientWithAuth(proxy.url);
      expect(await c.headManifest("library/nginx", "1.27")).toBe(digest);
      expect(proxy.requests().at(-1)).toMatchObject({ authorization: true, fault: "status 307" });
      expect(other.requests()).toEqual([
        { method: "HEAD", path: "/v2/library/nginx/manifests/1.27", authorization: false, fault: null },
      ]);
    } finally {
      await other.stop();
    }
  });

  it("a registry presenting an untrusted certificate fails at the handshake: no request, no Authorization sent", async () => {
    const tls = await startFaultProxy(registry.url, { tls: true });
    try {
      const c = clientWithAuth(tls.url);
      const { ms, result } = await timed(c.headManifest("library/nginx", "1.27"));
      expect(String(result)).toMatch(
        /cannot reach https:\/\/127\.0\.0\.1:\d+\/v2\/library\/nginx\/manifests\/1\.27: .*self[- ]signed certificate/i,
      );
      expect(String(result)).not.toMatch(/gave up after/); // a certificate does not get better by asking again
      expect(ms).toBeLessThan(5000);
      expect(tls.connections()).toBe(1);
      expect(tls.requests()).toEqual([]);
    } finally {
      await tls.stop();
    }
  });
});
