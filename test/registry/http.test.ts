// boundedRequest and readBody against a real local server that does what a hostile one would:
// a chunked body without Content-Length that never ends, redirect loops, a redirect from HTTPS to
// HTTP, a redirect to a refused scheme.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundedRequest, type HttpLimits, readBody, retryAfterMs } from "../../src/registry/http.js";

const LIMITS: HttpLimits = {
  headersTimeoutMs: 1000,
  idleTimeoutMs: 1000,
  bodyDeadlineMs: 3000,
  maxBytes: 64 * 1024,
};

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path === "/endless") {
      // Chunked, no Content-Length: only counting while streaming can stop it.
      res.writeHead(200, { "content-type": "application/x-yaml" });
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = () => {
        while (res.write(chunk)) {
          if (res.destroyed) return;
        }
        res.once("drain", pump);
      };
      pump();
      return;
    }
    if (path.startsWith("/loop")) {
      res.writeHead(302, { location: `/loop${path.length}` }).end();
      return;
    }
    if (path === "/to-file") {
      res.writeHead(301, { location: "file:///etc/passwd" }).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("boundedRequest and readBody", () => {
  it("stops an endless chunked body at the size limit, while streaming", async () => {
    const what = `GET ${base}/endless`;
    const answer = await boundedRequest(`${base}/endless`, {}, { what, limits: LIMITS });
    const t0 = performance.now();
    await expect(readBody(answer, { what, limits: LIMITS })).rejects.toThrow(
      /: the answer is larger than 65536 bytes \(more than \d+ bytes arrived\); not read$/,
    );
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it("follows at most five redirects", async () => {
    await expect(boundedRequest(`${base}/loop`, {}, { what: "GET loop", limits: LIMITS })).rejects.toThrow(
      "GET loop: more than 5 redirects",
    );
  });

  it("follows no redirect to another scheme", async () => {
    await expect(boundedRequest(`${base}/to-file`, {}, { what: "GET x", limits: LIMITS })).rejects.toThrow(
      "GET x: redirected to file: (only http and https are followed)",
    );
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(retryAfterMs("7")).toBe(7000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs("soon")).toBeNull();
  });
});
