import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildImage,
  getManifest,
  makeChartTgz,
  type PushedIndex,
  pushBlob,
  pushChart,
  pushImage,
  pushIndex,
  pushIndexOf,
  pushManifest,
  sha256Digest,
} from "../harness/images.js";
import { freePort, type RunningRegistry, startRegistry } from "../harness/registry.js";
import { readInvocationLog, runStandIn, STAND_IN_BIN, standInEnv } from "./stand-ins.js";

const AUTH = { user: "mirror", password: "crane-test-Secret-42" };

describe("crane stand-in", () => {
  let upstream: RunningRegistry;
  let mirror: RunningRegistry; // htpasswd: credentials must come from the Docker config
  let work: string;
  let dockerConfig: string;
  let log: string;
  let nginx: PushedIndex;
  const crane = (args: string[], extra: { input?: string; env?: Record<string, string> } = {}) =>
    runStandIn("crane", args, {
      input: extra.input,
      env: { DOCKER_CONFIG: dockerConfig, STANDIN_LOG: log, ...extra.env },
    });

  beforeAll(async () => {
    [upstream, mirror] = await Promise.all([startRegistry(), startRegistry({ htpasswd: AUTH })]);
    work = await mkdtemp(join(tmpdir(), "crane-stand-in-test-"));
    dockerConfig = join(work, "docker");
    log = join(work, "invocations.jsonl");
    nginx = await pushIndex(upstream.url, "library/nginx", "1.27", {
      platforms: ["linux/amd64", "linux/arm64"],
      seed: "nginx-1.27",
    });
    const login = await crane(["auth", "login", mirror.host, "-u", AUTH.user, "--password-stdin"], {
      input: `${AUTH.password}\n`,
    });
    expect(login.code, login.stderr).toBe(0);
  });
  afterAll(async () => {
    await Promise.all([upstream?.stop(), mirror?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("auth login stores base64 user:password in $DOCKER_CONFIG/config.json, mode 0600", async () => {
    const path = join(dockerConfig, "config.json");
    const config = JSON.parse(await readFile(path, "utf8"));
    expect(Buffer.from(config.auths[mirror.host].auth, "base64").toString()).toBe(
      `${AUTH.user}:${AUTH.password}`,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("copies a two-platform index and keeps the index digest", async () => {
    const dst = `${mirror.host}/mirrors/library/nginx:1.27`;
    const result = await crane(["copy", `${upstream.host}/library/nginx:1.27`, dst, "--jobs", "2"]);
    expect(result.code, result.stderr).toBe(0);
    const copied = await getManifest(mirror.url, "mirrors/library/nginx", "1.27", AUTH);
    expect(copied.digest).toBe(nginx.digest);
    for (const digest of Object.values(nginx.platforms)) {
      expect((await getManifest(mirror.url, "mirrors/library/nginx", digest, AUTH)).digest).toBe(digest);
    }
    const digest = await crane(["digest", dst]);
    expect(digest).toMatchObject({ code: 0, stdout: `${nginx.digest}\n` });
  });

  it("fails without credentials in the Docker config (the mirror requires them)", async () => {
    const empty = join(work, "no-credentials");
    const result = await crane(
      ["copy", `${upstream.host}/library/nginx:1.27`, `${mirror.host}/anon/nginx:1.27`],
      {
        env: { DOCKER_CONFIG: empty },
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/UNAUTHORIZED/);
  });

  it("--platform linux/arm64 writes the arm64 manifest itself", async () => {
    const dst = `${mirror.host}/mirrors/library/nginx:1.27-arm64`;
    const result = await crane([
      "copy",
      "--platform",
      "linux/arm64",
      `${upstream.host}/library/nginx:1.27`,
      dst,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const copied = await getManifest(mirror.url, "mirrors/library/nginx", "1.27-arm64", AUTH);
    expect(copied.digest).toBe(nginx.platforms["linux/arm64"]);
    expect(copied.digest).not.toBe(nginx.digest);
    const unknown = await crane([
      "copy",
      "--platform",
      "linux/s390x",
      `${upstream.host}/library/nginx:1.27`,
      dst,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no child with platform \{Architecture:s390x OS:linux /);
  });

  it("index filter keeps the listed platforms as a new index and prints REPO@DIGEST", async () => {
    const dst = `${mirror.host}/mirrors/library/nginx:1.27-amd64-only`;
    const result = await crane([
      "index",
      "filter",
      `${upstream.host}/library/nginx:1.27`,
      "--platform",
      "linux/amd64",
      "--platform",
      "linux/s390x",
      "-t",
      dst,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const copied = await getManifest(mirror.url, "mirrors/library/nginx", "1.27-amd64-only", AUTH);
    expect(result.stdout).toBe(`${mirror.host}/mirrors/library/nginx@${copied.digest}\n`);
    expect(copied.digest).not.toBe(nginx.digest);
    const children = (copied.json as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    expect(children).toEqual([nginx.platforms["linux/amd64"]]);
    await pushImage(upstream.url, "library/single", "1", { seed: "single" });
    const single = await crane([
      "index",
      "filter",
      `${upstream.host}/library/single:1`,
      "--platform",
      "linux/amd64",
    ]);
    expect(single.code).toBe(1);
    expect(single.stderr).toMatch(/to be an index/);
  });

  it("digest, manifest and ls read what is there", async () => {
    const src = `${upstream.host}/library/nginx:1.27`;
    expect((await crane(["digest", src])).stdout).toBe(`${nginx.digest}\n`);
    expect((await crane(["digest", "--platform=linux/amd64", src])).stdout).toBe(
      `${nginx.platforms["linux/amd64"]}\n`,
    );
    const manifest = await crane(["manifest", src]);
    expect(sha256Digest(manifest.stdout)).toBe(nginx.digest);
    await pushImage(upstream.url, "library/nginx", "1.26", { seed: "nginx-1.26" });
    const tags = (await crane(["ls", `${upstream.host}/library/nginx`])).stdout;
    expect(tags.split("\n").sort()).toEqual(["", "1.26", "1.27"]); // one a line, in the registry's order
    const missing = await crane(["digest", `${upstream.host}/library/nginx:0.0`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
  });

  it("copies a helm chart artifact and keeps its digest", async () => {
    const tgz = makeChartTgz({ name: "demo", version: "1.0.0" });
    const chart = await pushChart(upstream.url, "charts", { name: "demo", version: "1.0.0", tgz });
    const result = await crane([
      "copy",
      `${upstream.host}/charts/demo:1.0.0`,
      `${mirror.host}/charts/demo:1.0.0`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect((await getManifest(mirror.url, "charts/demo", "1.0.0", AUTH)).digest).toBe(chart.digest);
  });

  describe("platform matching, as go-containerregistry does it", () => {
    // Docker Hub's shape: amd64, then arm64 labelled with variant v8, then arm/v7.
    const amd64 = buildImage("hub-amd64", "linux/amd64");
    const arm64 = buildImage("hub-arm64", "linux/arm64/v8");
    const armv7 = buildImage("hub-armv7", "linux/arm/v7");
    let hubIndex: string;
    beforeAll(async () => {
      hubIndex = await pushIndexOf(upstream.url, "library/hub", "1", [
        { image: amd64, platform: { os: "linux", architecture: "amd64" } },
        { image: arm64, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        { image: armv7, platform: { os: "linux", architecture: "arm", variant: "v7" } },
      ]);
    });
    const digestOf = async (args: string[]) => {
      const r = await crane(["digest", ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    };

    it("linux/arm64 matches a linux/arm64/v8 child (a variant is compared only when asked for), and copy writes that child", async () => {
      const src = `${upstream.host}/library/hub:1`;
      expect(await digestOf(["--platform", "linux/arm64", src])).toBe(arm64.digest);
      expect(await digestOf(["--platform", "linux/arm64/v8", src])).toBe(arm64.digest);
      const copied = await crane(["copy", "--platform", "linux/arm64", src, `${mirror.host}/hub/arm64:1`]);
      expect(copied.code, copied.stderr).toBe(0);
      expect((await getManifest(mirror.url, "hub/arm64", "1", AUTH)).digest).toBe(arm64.digest);
      // A variant asked for must be there: linux/arm/v6 is not linux/arm/v7, and no arm64 -> v8 default exists.
      const v6 = await crane(["digest", "--platform", "linux/arm/v6", src]);
      expect(v6.code).toBe(1);
      expect(v6.stderr).toContain(
        `no child with platform {Architecture:arm OS:linux OSVersion: OSFeatures:[] Variant:v6 Features:[]} in index ${src}`,
      );
    });

    it("linux/arm64/v8 does not match a child that carries no variant", async () => {
      const bare = buildImage("bare-arm64", "linux/arm64");
      await pushIndexOf(upstream.url, "library/bare", "1", [
        { image: bare, platform: { os: "linux", architecture: "arm64" } },
      ]);
      const src = `${upstream.host}/library/bare:1`;
      expect(await digestOf(["--platform", "linux/arm64", src])).toBe(bare.digest);
      const v8 = await crane(["digest", "--platform", "linux/arm64/v8", src]);
      expect(v8.code).toBe(1);
      expect(v8.stderr).toMatch(/no child with platform \{Architecture:arm64 OS:linux .*Variant:v8/);
    });

    it("takes the first matching child in index order when several match", async () => {
      const first = buildImage("dup-1", "linux/amd64");
      const second = buildImage("dup-2", "linux/amd64");
      await pushIndexOf(upstream.url, "library/dup", "1", [
        { image: first, platform: { os: "linux", architecture: "amd64" } },
        { image: second, platform: { os: "linux", architecture: "amd64" } },
      ]);
      expect(await digestOf(["--platform", "linux/amd64", `${upstream.host}/library/dup:1`])).toBe(
        first.digest,
      );
      // index filter keeps every child that satisfies the platform, both of them.
      const filtered = await crane([
        "index",
        "filter",
        `${upstream.host}/library/dup:1`,
        "--platform",
        "linux/amd64",
        "-t",
        `${mirror.host}/dup/filtered:1`,
      ]);
      expect(filtered.code, filtered.stderr).toBe(0);
      const kept = (await getManifest(mirror.url, "dup/filtered", "1", AUTH)).json as {
        manifests: { digest: string }[];
      };
      expect(kept.manifests.map((m) => m.digest)).toEqual([first.digest, second.digest]);
    });

    it("takes an index child without a platform for linux/amd64; index filter drops it", async () => {
      const untagged = buildImage("no-platform", "linux/amd64");
      await pushIndexOf(upstream.url, "library/old", "1", [
        { image: untagged, platform: null },
        { image: arm64, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ]);
      const src = `${upstream.host}/library/old:1`;
      expect(await digestOf(["--platform", "linux/amd64", src])).toBe(untagged.digest);
      const filtered = await crane([
        "index",
        "filter",
        src,
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "-t",
        `${mirror.host}/old/filtered:1`,
      ]);
      expect(filtered.code, filtered.stderr).toBe(0);
      const kept = (await getManifest(mirror.url, "old/filtered", "1", AUTH)).json as {
        manifests: { digest: string }[];
      };
      expect(kept.manifests.map((m) => m.digest)).toEqual([arm64.digest]);
    });

    it("with --platform on a single-platform image, copies that image whatever its platform", async () => {
      const only = await pushImage(upstream.url, "library/amd64-only", "1", { seed: "amd64-only" });
      const src = `${upstream.host}/library/amd64-only:1`;
      expect(await digestOf(["--platform", "linux/arm64", src])).toBe(only.digest);
      const copied = await crane(["copy", "--platform", "linux/arm64", src, `${mirror.host}/amd64-only/x:1`]);
      expect(copied.code, copied.stderr).toBe(0);
      expect((await getManifest(mirror.url, "amd64-only/x", "1", AUTH)).digest).toBe(only.digest);
    });

    it("index filter keeps two platforms given as two flags, and reads 'a,b' as one platform that matches nothing", async () => {
      const src = `${upstream.host}/library/hub:1`;
      const two = await crane([
        "index",
        "filter",
        src,
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "-t",
        `${mirror.host}/hub/two:1`,
      ]);
      expect(two.code, two.stderr).toBe(0);
      const kept = await getManifest(mirror.url, "hub/two", "1", AUTH);
      expect(two.stdout).toBe(`${mirror.host}/hub/two@${kept.digest}\n`);
      expect((kept.json as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([
        amd64.digest,
        arm64.digest,
      ]);
      expect(kept.digest).not.toBe(hubIndex);
      // One flag, a comma: os linux, architecture "amd64,linux", variant arm64. Nothing is kept.
      const comma = await crane([
        "index",
        "filter",
        src,
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        `${mirror.host}/hub/comma:1`,
      ]);
      expect(comma.code, comma.stderr).toBe(0);
      expect((await getManifest(mirror.url, "hub/comma", "1", AUTH)).json.manifests).toBeNull();
      const slashes = await crane(["digest", "--platform", "linux/arm64/v8/x", src]);
      expect(slashes.code).toBe(1);
      expect(slashes.stderr).toContain("too many slashes in platform spec: linux/arm64/v8/x");
    });
  });

  it("copies a manifest with a subject by digest and lists it in the sha256-<hex> index, as crane does without a referrers API", async () => {
    const subject = await pushImage(upstream.url, "library/signed", "1", { seed: "signed-subject" });
    const empty = { bytes: Buffer.from("{}"), digest: sha256Digest("{}") };
    const referrer = (name: string) => {
      const layer = Buffer.from(name);
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          artifactType: "application/spdx+json",
          config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty.digest, size: 2 },
          layers: [{ mediaType: "application/spdx+json", digest: sha256Digest(layer), size: layer.length }],
          subject: {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            digest: subject.digest,
            size: 1,
          },
        }),
      );
      return { layer, bytes, digest: sha256Digest(bytes) };
    };
    const [one, two] = [referrer("sbom one"), referrer("sbom two")];
    for (const r of [one, two]) {
      await pushBlob(upstream.url, "library/signed", empty);
      await pushBlob(upstream.url, "library/signed", { bytes: r.layer, digest: sha256Digest(r.layer) });
      await pushManifest(
        upstream.url,
        "library/signed",
        r.digest,
        r.bytes,
        "application/vnd.oci.image.manifest.v1+json",
      );
    }
    const fallback = `sha256-${subject.digest.slice(7)}`;
    for (const r of [two, one, one]) {
      const result = await crane([
        "copy",
        `${upstream.host}/library/signed@${r.digest}`,
        `${mirror.host}/mirrors/library/signed@${r.digest}`,
      ]);
      expect(result.code, result.stderr).toBe(0);
    }
    // Sorted by digest, each once, with the config's media type as artifactType (go-containerregistry write.go).
    const index = await getManifest(mirror.url, "mirrors/library/signed", fallback, AUTH);
    expect(index.json).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [one, two]
        .sort((a, b) => (a.digest < b.digest ? -1 : 1))
        .map((r) => ({
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: r.bytes.length,
          digest: r.digest,
          artifactType: "application/vnd.oci.empty.v1+json",
        })),
    });
    // A plain image copy brings no referrers along.
    const plain = await crane([
      "copy",
      `${upstream.host}/library/signed:1`,
      `${mirror.host}/mirrors/library/plain:1`,
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    const none = await fetch(`${mirror.url}/v2/mirrors/library/plain/manifests/${fallback}`, {
      method: "HEAD",
      headers: { authorization: `Basic ${Buffer.from(`${AUTH.user}:${AUTH.password}`).toString("base64")}` },
    });
    expect(none.status).toBe(404);
  });

  it("fails loudly, exit 2, on a flag or subcommand outside the contract", async () => {
    const flag = await crane(["copy", "--no-clobber", `${upstream.host}/a:1`, `${mirror.host}/a:1`]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/"--no-clobber".*not in the stand-in contract/);
    const sub = await crane(["pull", `${upstream.host}/a:1`, "x.tar"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/"crane pull .*not in the stand-in contract/);
    const password = await crane(["auth", "login", mirror.host, "-u", "x", "-p", "argv-Secret-99"]);
    expect(password.code).toBe(2);
    expect(password.stderr).toMatch(/"-p".*not in the stand-in contract/);
    expect(password.stderr).not.toContain("argv-Secret-99");
  });

  it("says it is a stand-in", async () => {
    const version = await crane(["version"]);
    expect(version.stdout).toMatch(/^stand-in \(ecr-mirror test harness\) for crane v0\.22\.\d+\n$/);
    expect((await crane(["--help"])).stdout).toMatch(/STAND-IN/);
  });

  it("registry serve runs a registry in the foreground until SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(
      join(STAND_IN_BIN, "crane"),
      ["registry", "serve", "--address", `127.0.0.1:${port}`],
      {
        env: standInEnv({ STANDIN_LOG: log }),
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    try {
      const serving = await new Promise<string>((resolve, reject) => {
        let text = "";
        child.stderr.on("data", (chunk) => {
          text += chunk;
          if (/serving on port \d+/.test(text)) resolve(text);
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}: ${text}`)));
      });
      expect(serving).toContain(`serving on port ${port}`);
      const pushed = await pushImage(`http://127.0.0.1:${port}`, "scratch/app", "1", { seed: "served" });
      expect((await crane(["digest", `127.0.0.1:${port}/scratch/app:1`])).stdout).toBe(`${pushed.digest}\n`);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });

  it("logs every invocation (argv, cwd, exit code, duration) and never a password", async () => {
    const text = await readFile(log, "utf8");
    expect(text).not.toContain(AUTH.password);
    expect(text).not.toContain("argv-Secret-99");
    const records = readInvocationLog(log);
    expect(records[0]).toMatchObject({
      tool: "crane",
      argv: ["auth", "login", mirror.host, "-u", AUTH.user, "--password-stdin"],
      cwd: process.cwd(),
      exitCode: 0,
    });
    expect(records.find((r) => r.argv.includes("-p"))?.argv).toEqual([
      "auth",
      "login",
      mirror.host,
      "-u",
      "x",
      "-p",
      "<redacted>",
    ]);
    expect(records.some((r) => r.argv[0] === "registry" && r.exitCode === 0)).toBe(true);
    expect(records.every((r) => typeof r.durationMs === "number" && r.durationMs >= 0)).toBe(true);
  });
});
