import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  buildImage,
  buildIndex,
  getManifest,
  MEDIA_TYPES,
  makeChartTgz,
  moveTag,
  pushChart,
  pushImage,
  pushIndex,
  sha256Digest,
  startChartRepo,
  tagDigest,
} from "./images.js";
import { type RunningRegistry, startRegistry } from "./registry.js";

const run = promisify(execFile);
const AUTH = { user: "tester", password: "images-test-secret" };

describe("images built in code", () => {
  it("gives the same digests for the same inputs and different ones for another seed", () => {
    expect(buildImage("redis-7.0").digest).toBe(buildImage("redis-7.0").digest);
    expect(buildImage("redis-7.0").digest).not.toBe(buildImage("redis-7.1").digest);
    expect(buildImage("x", "linux/amd64").digest).not.toBe(buildImage("x", "linux/arm64").digest);
    const a = buildIndex("nginx", ["linux/amd64", "linux/arm64"]);
    expect(buildIndex("nginx", ["linux/amd64", "linux/arm64"]).digest).toBe(a.digest);
    expect(a.index.manifests.map((m) => m.platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ]);
    expect(
      makeChartTgz({ name: "demo", version: "1.2.3" }).equals(
        makeChartTgz({ name: "demo", version: "1.2.3" }),
      ),
    ).toBe(true);
  });

  it("writes a config whose diff_ids match the uncompressed layer", async () => {
    const image = buildImage("diff-ids");
    const config = JSON.parse(image.config.bytes.toString("utf8"));
    const { gunzipSync } = await import("node:zlib");
    const tar = gunzipSync(image.layers[0]!.bytes);
    expect(config.rootfs).toEqual({ type: "layers", diff_ids: [sha256Digest(tar)] });
    expect(image.manifest.config.mediaType).toBe(MEDIA_TYPES.ociConfig);
  });

  it("packs a chart that tar lists as helm lays it out", async () => {
    const dir = await mkdtemp(join(tmpdir(), "images-chart-"));
    try {
      const file = join(dir, "demo-1.2.3.tgz");
      await writeFile(file, makeChartTgz({ name: "demo", version: "1.2.3", values: { greeting: "hi" } }));
      const { stdout } = await run("tar", ["-tzvf", file]);
      const lines = stdout.trim().split("\n");
      expect(lines.map((l) => l.split(/\s+/).at(-1))).toEqual([
        "demo/",
        "demo/Chart.yaml",
        "demo/templates/",
        "demo/templates/configmap.yaml",
        "demo/values.yaml",
      ]);
      expect(lines.every((l) => l.includes("1970-01-01"))).toBe(true);
      const { stdout: chartYaml } = await run("tar", ["-xzOf", file, "demo/Chart.yaml"]);
      expect(parseYaml(chartYaml)).toMatchObject({ apiVersion: "v2", name: "demo", version: "1.2.3" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("pushing to a real registry", () => {
  let registry: RunningRegistry;
  let secured: RunningRegistry;
  let work: string;

  beforeAll(async () => {
    [registry, secured] = await Promise.all([startRegistry(), startRegistry({ htpasswd: AUTH })]);
    work = await mkdtemp(join(tmpdir(), "images-test-"));
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), secured?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("pushes a single-platform image whose digest the registry serves", async () => {
    const pushed = await pushImage(registry.url, "library/redis", "7.0", { seed: "redis-7.0" });
    expect(pushed.digest).toBe(buildImage("redis-7.0").digest);
    const fetched = await getManifest(registry.url, "library/redis", "7.0");
    expect(fetched.digest).toBe(pushed.digest);
    expect(fetched.mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(await tagDigest(registry.url, "library/redis", "7.0")).toBe(pushed.digest);
  });

  it("pushes an index with per-platform manifests that skopeo can copy", async () => {
    const pushed = await pushIndex(registry.url, "library/nginx", "1.27", {
      platforms: ["linux/amd64", "linux/arm64"],
      seed: "nginx-1.27",
    });
    expect(pushed.digest).toBe(buildIndex("nginx-1.27", ["linux/amd64", "linux/arm64"]).digest);
    const index = await getManifest(registry.url, "library/nginx", "1.27");
    expect(index.digest).toBe(pushed.digest);
    const children = (index.json.manifests as { digest: string; platform: { architecture: string } }[]).map(
      (m) => [`linux/${m.platform.architecture}`, m.digest],
    );
    expect(Object.fromEntries(children)).toEqual(pushed.platforms);
    const arm = await getManifest(registry.url, "library/nginx", pushed.platforms["linux/arm64"]!);
    expect(arm.digest).toBe(pushed.platforms["linux/arm64"]);

    // A real consumer reads it: skopeo copies every platform into an OCI layout, verifying blobs.
    const layout = join(work, "nginx-layout");
    await run("skopeo", [
      "copy",
      "--all",
      "--preserve-digests",
      "--src-tls-verify=false",
      `docker://${registry.host}/library/nginx:1.27`,
      `oci:${layout}:1.27`,
    ]);
    const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${layout}:1.27`]);
    expect(sha256Digest(stdout)).toBe(pushed.digest);
  });

  it("gives the same digests in another registry and skips blobs the registry has", async () => {
    const other = await startRegistry();
    try {
      const first = await pushIndex(other.url, "library/nginx", "1.27", {
        platforms: ["linux/amd64", "linux/arm64"],
        seed: "nginx-1.27",
      });
      const uploadsBefore = other.accessLog().filter((e) => e.method === "POST").length;
      expect(uploadsBefore).toBe(4); // two configs, two layers
      const again = await pushIndex(other.url, "library/nginx", "1.27-again", {
        platforms: ["linux/amd64", "linux/arm64"],
        seed: "nginx-1.27",
      });
      expect(again).toEqual(first);
      await other.waitForAccessLog((e) => e.method === "PUT" && e.path.endsWith("/manifests/1.27-again"));
      expect(other.accessLog().filter((e) => e.method === "POST").length).toBe(uploadsBefore);
    } finally {
      await other.stop();
    }
  });

  it("moves a tag to new content", async () => {
    const before = await pushImage(registry.url, "library/busybox", "1.36", { seed: "busybox-a" });
    const moved = await moveTag(registry.url, "library/busybox", "1.36", { seed: "busybox-b" });
    expect(moved.previous).toBe(before.digest);
    expect(moved.digest).not.toBe(before.digest);
    expect(await tagDigest(registry.url, "library/busybox", "1.36")).toBe(moved.digest);
    await expect(moveTag(registry.url, "library/busybox", "1.36", { seed: "busybox-b" })).rejects.toThrow(
      /different seed/,
    );
  });

  it("needs the credentials on an htpasswd registry and uses them when given", async () => {
    await expect(pushImage(secured.url, "library/redis", "7.0", { seed: "redis-7.0" })).rejects.toThrow(
      /401/,
    );
    const pushed = await pushImage(secured.url, "library/redis", "7.0", { seed: "redis-7.0", auth: AUTH });
    expect((await getManifest(secured.url, "library/redis", "7.0", AUTH)).digest).toBe(pushed.digest);
  });

  it("pushes a chart as an OCI artifact with helm's media types", async () => {
    const tgz = makeChartTgz({ name: "demo", version: "1.2.3+build.1" });
    const pushed = await pushChart(registry.url, "charts", { name: "demo", version: "1.2.3+build.1", tgz });
    expect(pushed).toMatchObject({
      repository: "charts/demo",
      tag: "1.2.3_build.1",
      chartDigest: sha256Digest(tgz),
    });
    const manifest = await getManifest(registry.url, "charts/demo", "1.2.3_build.1");
    expect(manifest.digest).toBe(pushed.digest);
    expect(manifest.json).toMatchObject({
      config: { mediaType: MEDIA_TYPES.helmConfig },
      layers: [{ mediaType: MEDIA_TYPES.helmChart, digest: sha256Digest(tgz) }],
    });
  });
});

describe("an HTTP chart repository", () => {
  it("serves index.yaml and the packages and records the requests", async () => {
    const tgz = makeChartTgz({ name: "demo", version: "0.1.0" });
    const repo = await startChartRepo([{ name: "demo", version: "0.1.0", tgz }]);
    try {
      const index = parseYaml(await (await fetch(`${repo.url}/index.yaml`)).text());
      const entry = index.entries.demo[0];
      expect(entry).toMatchObject({ version: "0.1.0", urls: ["demo-0.1.0.tgz"] });
      expect(`sha256:${entry.digest}`).toBe(sha256Digest(tgz));
      const body = Buffer.from(await (await fetch(`${repo.url}/demo-0.1.0.tgz`)).arrayBuffer());
      expect(body.equals(tgz)).toBe(true);
      expect((await fetch(`${repo.url}/missing.tgz`)).status).toBe(404);
      expect(repo.requests).toEqual([
        { method: "GET", path: "/index.yaml", status: 200 },
        { method: "GET", path: "/demo-0.1.0.tgz", status: 200 },
        { method: "GET", path: "/missing.tgz", status: 404 },
      ]);
    } finally {
      await repo.stop();
    }
  });
});
