import { afterAll, beforeAll, expect, it } from "vitest";
import { classifyRequest, type RunningProxy, startCountingProxy } from "./counting-proxy.js";
import { OCI_MANIFEST, pushTinyImage } from "./oci-push.js";
import { type RunningRegistry, startRegistry } from "./registry.js";

let upstream: RunningRegistry;
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = await startRegistry();
  proxy = await startCountingProxy(upstream);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
});

it("counts manifest HEADs and GETs separately and forwards everything", async () => {
  const { digest } = await pushTinyImage(proxy.url, "library/redis", "7.0", "counted");
  expect(proxy.counts()).toEqual({ "blob-upload": 4, "manifest-put": 1 });
  proxy.resetCounts();

  const accept = { accept: OCI_MANIFEST };
  const head = await fetch(`${proxy.url}/v2/library/redis/manifests/7.0`, {
    method: "HEAD",
    headers: accept,
  });
  expect(head.headers.get("docker-content-digest")).toBe(digest);
  const get = await fetch(`${proxy.url}/v2/library/redis/manifests/${digest}`, { headers: accept });
  expect(get.status).toBe(200);
  expect(JSON.parse(await get.text()).layers).toHaveLength(1);
  await (await fetch(`${proxy.url}/v2/library/redis/tags/list`)).body?.cancel();

  expect(proxy.counts()).toEqual({ "manifest-head": 1, "manifest-get": 1, "tags-list": 1 });
  expect(proxy.requests().map((r) => [r.kind, r.repository, r.reference, r.status])).toEqual([
    ["manifest-head", "library/redis", "7.0", 200],
    ["manifest-get", "library/redis", digest, 200],
    ["tags-list", "library/redis", undefined, 200],
  ]);
  // The registry behind saw the same requests, through the proxy.
  expect(upstream.accessLog().filter((e) => e.method === "HEAD")).toHaveLength(1);
});

it("rewrites upload Locations to its own address", async () => {
  const start = await fetch(`${proxy.url}/v2/app/blobs/uploads/`, { method: "POST" });
  expect(start.status).toBe(202);
  const location = start.headers.get("location") ?? "";
  expect(location.startsWith(`${upstream.url}/`)).toBe(false);
  expect(new URL(location, proxy.url).host).toBe(proxy.host);
});

it("classifies registry paths, nested repository names included", () => {
  expect(classifyRequest("GET", "/v2/")).toEqual({ kind: "ping" });
  expect(classifyRequest("GET", "/v2/_catalog?n=10")).toEqual({ kind: "catalog" });
  expect(classifyRequest("HEAD", "/v2/mirrors/quay.io/prometheus/node-exporter/manifests/v1.8.0")).toEqual({
    kind: "manifest-head",
    repository: "mirrors/quay.io/prometheus/node-exporter",
    reference: "v1.8.0",
  });
  expect(classifyRequest("PATCH", "/v2/a/b/blobs/uploads/0f7c?_state=x")).toEqual({
    kind: "blob-upload",
    repository: "a/b",
  });
  expect(classifyRequest("GET", "/v2/a/blobs/sha256:abc")).toMatchObject({
    kind: "blob-get",
    reference: "sha256:abc",
  });
});
