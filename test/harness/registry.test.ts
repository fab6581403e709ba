import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { basicAuth, pushTinyImage } from "./oci-push.js";
import { type RunningRegistry, startRegistry } from "./registry.js";

describe("startRegistry", () => {
  const started: RunningRegistry[] = [];
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
  });

  it("runs several registries at once, each with its own storage and access log", async () => {
    const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    started.push(a!, b!);
    expect(a!.host).not.toBe(b!.host);
    expect(a!.url).toBe(`http://${a!.host}`);

    const { response, digest } = await pushTinyImage(a!.url, "library/redis", "7.0", "one");
    expect(response.status).toBe(201);
    expect(response.headers.get("docker-content-digest")).toBe(digest);
    expect(existsSync(`${a!.dir}/docker/registry/v2/repositories/library/redis/_manifests/tags/7.0`)).toBe(
      true,
    );
    expect(existsSync(`${b!.dir}/docker/registry/v2/repositories/library/redis`)).toBe(false);

    const put = await a!.waitForAccessLog((e) => e.method === "PUT" && e.path.endsWith("/manifests/7.0"));
    expect(put.status).toBe(201);
    expect(a!.accessLog().filter((e) => e.method === "POST")).toHaveLength(2);
    // The readiness probe is not part of the log; registry b saw nothing.
    expect(b!.accessLog()).toEqual([]);
  });

  it("with htpasswd, rejects anonymous requests and accepts the user", async () => {
    const registry = await startRegistry({ htpasswd: { user: "alice", password: "s3cret" } });
    started.push(registry);
    const anonymous = await fetch(`${registry.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    const wrong = await fetch(`${registry.url}/v2/`, { headers: basicAuth("alice", "wrong") });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${registry.url}/v2/`, { headers: basicAuth("alice", "s3cret") });
    expect(right.status).toBe(200);
    await registry.waitForAccessLog((e) => e.status === 200);
    expect(registry.accessLog().map((e) => e.status)).toEqual([401, 401, 200]);
  });

  it("stop() ends the process and removes its storage", async () => {
    const registry = await startRegistry();
    await registry.stop();
    expect(existsSync(registry.dir)).toBe(false);
    await expect(fetch(`${registry.url}/v2/`)).rejects.toThrow();
  });
});
