// The installer against a local HTTP server serving fixture archives laid out like the real releases.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BUILTIN_SHA256, DEFAULT_VERSIONS, ToolInstallError } from "../../src/tools/assets.js";
import { installCrane, installHelm, useLocalToolCache } from "../../src/tools/install.js";

// Versions other than the defaults: their archives are verified against the checksum file served beside them
// (and pins). The default versions also carry SHA-256 values built into the product (tested below).
const CRANE = "0.21.0";
const HELM = "4.2.0";
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A tar.gz with `files` (path -> script text), built by tar like the projects' release archives. */
async function archive(files: Record<string, string>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "ecr-mirror-fixture-"));
  try {
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(dir, path, ".."), { recursive: true });
      await writeFile(join(dir, path), text);
      await chmod(join(dir, path), 0o755);
    }
    execFileSync("tar", ["-czf", join(dir, "out.tar.gz"), "-C", dir, ...Object.keys(files)]);
    return await readFile(join(dir, "out.tar.gz"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

let server: Server;
let base: string;
const routes = new Map<string, Buffer>();
const requests: string[] = [];

let craneLinux: Buffer;
let craneDarwinArm: Buffer;
let helmLinux: Buffer;

function serveCraneRelease(version: string, archives: Record<string, Buffer>, checksumsFor = archives): void {
  const lines = Object.entries(checksumsFor).map(([name, bytes]) => `${sha256(bytes)}  ${name}`);
  routes.set(`/crane/v${version}/checksums.txt`, Buffer.from(`${lines.join("\n")}\n`));
  for (const [name, bytes] of Object.entries(archives)) routes.set(`/crane/v${version}/${name}`, bytes);
}

beforeAll(async () => {
  craneLinux = await archive({ crane: '#!/bin/sh\necho crane-linux-x64 "$@"\n', LICENSE: "Apache-2.0\n" });
  craneDarwinArm = await archive({ crane: "#!/bin/sh\necho crane-darwin-arm64\n" });
  helmLinux = await archive({
    "linux-amd64/helm": "#!/bin/sh\necho helm-linux-amd64\n",
    "linux-amd64/LICENSE": "x\n",
  });
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = routes.get(req.url ?? "");
    if (!body) {
      res.writeHead(404).end("Not Found");
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "ecr-mirror-install-test-"));
  process.env.RUNNER_TOOL_CACHE = join(work, "tool-cache");
  process.env.RUNNER_TEMP = join(work, "temp");
  await mkdir(process.env.RUNNER_TEMP, { recursive: true });
  routes.clear();
  requests.length = 0;
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const run = (path: string) => execFileSync(path, [], { encoding: "utf8" }).trim();
const tempLeftovers = () => readdirSync(process.env.RUNNER_TEMP!);

describe("installCrane / installHelm", () => {
  it("downloads, verifies and caches crane; the second install downloads nothing", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const logs: string[] = [];
    const opts = {
      baseUrl: `${base}/crane`,
      version: CRANE,
      platform: "linux",
      arch: "x64",
      log: (m: string) => logs.push(m),
    };

    const first = await installCrane(opts);
    expect(first).toMatchObject({
      tool: "crane",
      version: CRANE,
      cacheHit: false,
      archiveSha256: sha256(craneLinux),
    });
    expect(run(first.path)).toBe("crane-linux-x64");
    expect(first.path.startsWith(process.env.RUNNER_TOOL_CACHE!)).toBe(true);
    expect(requests).toEqual([
      `/crane/v${CRANE}/checksums.txt`,
      `/crane/v${CRANE}/go-containerregistry_Linux_x86_64.tar.gz`,
    ]);
    expect(tempLeftovers()).toEqual([]);

    const second = await installCrane(opts);
    expect(second).toMatchObject({ cacheHit: true, path: first.path });
    expect(requests).toHaveLength(2);
    expect(logs.at(-1)).toMatch(/tool-cache hit/);
  });

  it("installs a crane binary as large as a real release's (tens of MiB, above a chart file's 5 MiB)", async () => {
    const big = `#!/bin/sh\necho crane-large\nexit 0\n${"#".repeat(8 * 1024 * 1024)}\n`;
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": await archive({ crane: big }) });
    const crane = await installCrane({
      baseUrl: `${base}/crane`,
      version: CRANE,
      platform: "linux",
      arch: "x64",
    });
    expect(run(crane.path)).toBe("crane-large");
  });

  it("installs helm from its platform folder inside the archive", async () => {
    routes.set(`/helm/helm-v${HELM}-linux-amd64.tar.gz`, helmLinux);
    routes.set(
      `/helm/helm-v${HELM}-linux-amd64.tar.gz.sha256sum`,
      Buffer.from(`${sha256(helmLinux)}  helm-v${HELM}-linux-amd64.tar.gz\n`),
    );
    const helm = await installHelm({
      baseUrl: `${base}/helm`,
      version: HELM,
      platform: "linux",
      arch: "x64",
    });
    expect(run(helm.path)).toBe("helm-linux-amd64");
    expect(helm.path.endsWith("/helm")).toBe(true);
  });

  it("asks for the macOS arm64 archive by its own name", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Darwin_arm64.tar.gz": craneDarwinArm });
    const crane = await installCrane({
      baseUrl: `${base}/crane`,
      version: CRANE,
      platform: "darwin",
      arch: "arm64",
    });
    expect(requests).toContain(`/crane/v${CRANE}/go-containerregistry_Darwin_arm64.tar.gz`);
    expect(crane.path).toContain(join("ecr-mirror-crane", CRANE, "arm64"));
  });

  it("fails on a corrupted archive and caches nothing", async () => {
    const corrupted = Buffer.from(craneLinux);
    corrupted[corrupted.length - 10]! ^= 0xff;
    serveCraneRelease(
      CRANE,
      { "go-containerregistry_Linux_x86_64.tar.gz": corrupted },
      {
        "go-containerregistry_Linux_x86_64.tar.gz": craneLinux,
      },
    );
    const opts = { baseUrl: `${base}/crane`, version: CRANE, platform: "linux", arch: "x64" };
    const error = await installCrane(opts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolInstallError);
    expect((error as Error).message).toContain(
      `has SHA-256 ${sha256(corrupted)}, but the published checksum is ${sha256(craneLinux)}`,
    );
    expect(existsSync(join(process.env.RUNNER_TOOL_CACHE!, "ecr-mirror-crane"))).toBe(false);
    expect(tempLeftovers()).toEqual([]);
  });

  it("fails when the checksum file has no entry for the archive, before downloading it", async () => {
    serveCraneRelease(
      CRANE,
      { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux },
      {
        "go-containerregistry_Linux_arm64.tar.gz": craneLinux,
      },
    );
    await expect(
      installCrane({ baseUrl: `${base}/crane`, version: CRANE, platform: "linux", arch: "x64" }),
    ).rejects.toThrow(/checksums\.txt has no entry for go-containerregistry_Linux_x86_64\.tar\.gz/);
    expect(requests).toEqual([`/crane/v${CRANE}/checksums.txt`]);
  });

  it("fails when the mirror serves no checksum file at all", async () => {
    routes.set(`/helm/helm-v${HELM}-linux-amd64.tar.gz`, helmLinux);
    await expect(
      installHelm({ baseUrl: `${base}/helm`, version: HELM, platform: "linux", arch: "x64" }),
    ).rejects.toThrow(
      /could not download the checksum file .*helm-v4\.2\.0-linux-amd64\.tar\.gz\.sha256sum \(HTTP 404\)/,
    );
  });

  it("fails on a pinned SHA-256 mismatch even when the published checksum matches", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const pin = "0".repeat(64);
    await expect(
      installCrane({ baseUrl: `${base}/crane`, version: CRANE, platform: "linux", arch: "x64", sha256: pin }),
    ).rejects.toThrow(/matches the published checksum\), but no crane-sha256 value \(0{64}\)/);
    expect(existsSync(join(process.env.RUNNER_TOOL_CACHE!, "ecr-mirror-crane"))).toBe(false);
  });

  it("accepts a matching pin among several, and checks pins again on a cache hit", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const opts = { baseUrl: `${base}/crane`, version: CRANE, platform: "linux", arch: "x64" };
    const installed = await installCrane({ ...opts, sha256: `${"1".repeat(64)}\n${sha256(craneLinux)}` });
    expect(installed.cacheHit).toBe(false);
    const count = requests.length;
    await expect(installCrane({ ...opts, sha256: "2".repeat(64) })).rejects.toThrow(
      /tool cache holds .* matches no crane-sha256/,
    );
    expect(requests).toHaveLength(count);
  });

  it("does not take another version from the cache", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    await installCrane({ baseUrl: `${base}/crane`, version: CRANE, platform: "linux", arch: "x64" });
    await expect(
      installCrane({ baseUrl: `${base}/crane`, platform: "linux", arch: "x64", version: "0.20.0" }),
    ).rejects.toThrow(/v0\.20\.0\/checksums\.txt \(HTTP 404\)/);
  });

  it("rejects a Helm 3 version before any download", async () => {
    await expect(installHelm({ baseUrl: `${base}/helm`, version: "3.19.2" })).rejects.toThrow(/Helm 3/);
    expect(requests).toEqual([]);
  });
});

describe("built-in checksums and a re-verified tool cache", () => {
  const linux = { baseUrl: "", platform: "linux", arch: "x64" } as const;
  const cacheEntry = (tool: "crane" | "helm", version: string) =>
    join(process.env.RUNNER_TOOL_CACHE!, `ecr-mirror-${tool}`, version, "x64");

  it("every default version carries a SHA-256 for each runner platform", () => {
    for (const tool of ["crane", "helm"] as const) {
      const table = BUILTIN_SHA256[tool][DEFAULT_VERSIONS[tool]]!;
      expect(Object.keys(table)).toHaveLength(4);
      for (const value of Object.values(table)) expect(value).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(BUILTIN_SHA256.crane["0.22.1"]!["go-containerregistry_Linux_x86_64.tar.gz"]).toBe(
      "0ab7a1d6932a213aed964ce97666c3077fe691c8606413674a8b3e0b9ec4cda0",
    );
  });

  it("refuses a default-version archive that matches the served checksum file but not the built-in SHA-256", async () => {
    // A compromised mirror: it serves its own archive and a checksum file that vouches for it.
    serveCraneRelease(DEFAULT_VERSIONS.crane, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const error = await installCrane({ ...linux, baseUrl: `${base}/crane` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolInstallError);
    expect((error as Error).message).toContain(
      `has SHA-256 ${sha256(craneLinux)} (it matches the checksum file served beside it), but the SHA-256 built ` +
        "into ecr-mirror for this release is 0ab7a1d6932a213aed964ce97666c3077fe691c8606413674a8b3e0b9ec4cda0",
    );
    expect(existsSync(join(process.env.RUNNER_TOOL_CACHE!, "ecr-mirror-crane"))).toBe(false);
    expect(tempLeftovers()).toEqual([]);
  });

  it("refuses a default-version cache entry whose archive is not the released one, even when it is consistent", async () => {
    // Archive, recorded hash and binary all agree: only the built-in value tells it is not crane 0.22.1.
    const dir = cacheEntry("crane", DEFAULT_VERSIONS.crane);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "go-containerregistry_Linux_x86_64.tar.gz"), craneLinux);
    await writeFile(join(dir, "archive.sha256"), `${sha256(craneLinux)}\n`);
    execFileSync("tar", ["-xzf", join(dir, "go-containerregistry_Linux_x86_64.tar.gz"), "-C", dir, "crane"]);
    await writeFile(`${dir}.complete`, "");
    await expect(installCrane({ ...linux, baseUrl: `${base}/crane` })).rejects.toThrow(
      /refusing the tool-cache entry: the cached go-containerregistry_Linux_x86_64\.tar\.gz has SHA-256 [0-9a-f]{64}, not the built-in 0ab7a1d6.* of crane 0\.22\.1\. Nothing was run\. Delete .* to download and verify crane again/,
    );
    expect(requests).toEqual([]);
  });

  it("refuses a cache entry whose binary was changed after it was verified", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const opts = { ...linux, baseUrl: `${base}/crane`, version: CRANE };
    const installed = await installCrane(opts);
    await writeFile(installed.path, '#!/bin/sh\necho "not crane"\n');
    const count = requests.length;
    const error = await installCrane(opts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolInstallError);
    expect((error as Error).message).toMatch(
      /refusing the tool-cache entry: the cached .*\/crane is not the crane inside the verified go-containerregistry_Linux_x86_64\.tar\.gz: it was changed after it was installed\. Nothing was run/,
    );
    expect(requests).toHaveLength(count);
  });

  it("refuses a cache entry whose kept archive was changed", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const opts = { ...linux, baseUrl: `${base}/crane`, version: CRANE };
    await installCrane(opts);
    const other = await archive({ crane: "#!/bin/sh\necho evil\n" });
    await writeFile(join(cacheEntry("crane", CRANE), "go-containerregistry_Linux_x86_64.tar.gz"), other);
    await expect(installCrane(opts)).rejects.toThrow(
      `the cached go-containerregistry_Linux_x86_64.tar.gz has SHA-256 ${sha256(other)}, not the ${sha256(craneLinux)} recorded when it was verified`,
    );
  });

  it("downloads again over an entry that does not keep its archive (as earlier versions left it)", async () => {
    serveCraneRelease(CRANE, { "go-containerregistry_Linux_x86_64.tar.gz": craneLinux });
    const dir = cacheEntry("crane", CRANE);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "crane"), "#!/bin/sh\necho stale\n", { mode: 0o755 });
    await writeFile(join(dir, "archive.sha256"), `${sha256(craneLinux)}\n`);
    await writeFile(`${dir}.complete`, "");
    const installed = await installCrane({ ...linux, baseUrl: `${base}/crane`, version: CRANE });
    expect(installed.cacheHit).toBe(false);
    expect(run(installed.path)).toBe("crane-linux-x64");
  });
});

describe("useLocalToolCache", () => {
  it("uses the user's cache folder outside Actions, and keeps a runner's setting", () => {
    const env: NodeJS.ProcessEnv = { XDG_CACHE_HOME: "/home/u/.cache" };
    expect(useLocalToolCache(env)).toBe("/home/u/.cache/ecr-mirror/tool-cache");
    expect(env.RUNNER_TEMP).toBeTruthy();
    expect(useLocalToolCache({ RUNNER_TOOL_CACHE: "/opt/hostedtoolcache" })).toBe("/opt/hostedtoolcache");
  });
});

describe("a crane or helm at hand (--crane / --helm, ECR_MIRROR_CRANE / ECR_MIRROR_HELM)", () => {
  const linux = { platform: "linux", arch: "x64" } as const;
  const ARCHIVE = "go-containerregistry_Linux_x86_64.tar.gz";

  /** A crane whose `crane version` prints `said`. */
  async function craneSaying(said: string): Promise<string> {
    const dir = join(work, "bin");
    await mkdir(dir, { recursive: true });
    const path = join(dir, "crane");
    await writeFile(path, `#!/bin/sh\n[ "$1" = version ] && echo '${said}' && exit 0\nexit 2\n`, {
      mode: 0o755,
    });
    return path;
  }

  it("takes a binary whose version is the pinned one, downloads nothing and caches nothing", async () => {
    const path = await craneSaying(CRANE);
    const logs: string[] = [];
    const crane = await installCrane({
      use: path,
      useName: "--crane",
      version: CRANE,
      log: (l) => logs.push(l),
    });
    expect(crane).toEqual({ tool: "crane", version: CRANE, path, cacheHit: false, archiveSha256: null });
    expect(logs).toEqual([
      `crane ${CRANE}: using ${path} (version checked; a binary given as it is has no SHA-256 to check)`,
    ]);
    expect(requests).toEqual([]);
    expect(existsSync(process.env.RUNNER_TOOL_CACHE!)).toBe(false);
  });

  it("warns when the binary is another version than the pinned one, and uses it", async () => {
    const path = await craneSaying("v0.20.2");
    const logs: string[] = [];
    const crane = await installCrane({ use: path, log: (l) => logs.push(l) });
    expect(crane.version).toBe("0.20.2");
    expect(logs).toEqual([
      `Warning: ${path} says "v0.20.2": crane 0.20.2, not the pinned crane ${DEFAULT_VERSIONS.crane}; using it (a binary given as it is cannot be checked against the pinned SHA-256, which is for the release archive)`,
    ]);
  });

  it("finds a bare name on PATH, and names a missing one", async () => {
    const path = await craneSaying(CRANE);
    const saved = process.env.PATH;
    process.env.PATH = `${join(work, "bin")}:${saved}`;
    try {
      expect((await installCrane({ use: "crane", version: CRANE })).path).toBe(path);
      await expect(installCrane({ use: "no-such-crane", useName: "--crane" })).rejects.toThrow(
        "--crane no-such-crane: not found on PATH",
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it("says what went wrong when the binary does not answer `version`", async () => {
    const path = join(work, "broken");
    await writeFile(path, "#!/bin/sh\necho no such command >&2\nexit 3\n", { mode: 0o755 });
    await expect(installHelm({ use: path, useName: "--helm" })).rejects.toThrow(
      `--helm ${path}: ${path} version --short failed: no such command`,
    );
  });

  it("takes a release archive by path when it matches the pin, and caches its binary", async () => {
    const file = join(work, ARCHIVE);
    await writeFile(file, craneLinux);
    const crane = await installCrane({ ...linux, use: file, version: CRANE, sha256: sha256(craneLinux) });
    expect(crane).toMatchObject({ version: CRANE, archiveSha256: sha256(craneLinux), cacheHit: false });
    expect(run(crane.path)).toBe("crane-linux-x64");
    expect(crane.path.startsWith(process.env.RUNNER_TOOL_CACHE!)).toBe(true);
    expect(requests).toEqual([]);
  });

  it("refuses an archive that does not match the pin, or that nothing pins, and installs nothing", async () => {
    const file = join(work, ARCHIVE);
    await writeFile(file, craneLinux);
    const wrong = "0".repeat(64);
    await expect(
      installCrane({ ...linux, use: file, useName: "--crane", version: CRANE, sha256: wrong }),
    ).rejects.toThrow(
      `--crane ${file}: the archive has SHA-256 ${sha256(craneLinux)}, which is not any crane-sha256 value (${wrong}). Nothing was installed or run.`,
    );
    await expect(installCrane({ ...linux, use: file, useName: "--crane", version: CRANE })).rejects.toThrow(
      /there is no SHA-256 to check this archive against .* pin it with crane-sha256 \(ECR_MIRROR_CRANE_SHA256\)/,
    );
    // The default version: the archive must be the released one (the built-in SHA-256).
    await expect(installCrane({ ...linux, use: file, useName: "--crane" })).rejects.toThrow(
      `which is not the SHA-256 built into ecr-mirror for ${ARCHIVE} of crane ${DEFAULT_VERSIONS.crane}`,
    );
    expect(existsSync(process.env.RUNNER_TOOL_CACHE!)).toBe(false);
  });

  it("downloads a release archive by URL (no checksum file needed when it is pinned)", async () => {
    routes.set("/direct/crane.tar.gz", craneLinux);
    const crane = await installCrane({
      ...linux,
      use: `${base}/direct/crane.tar.gz`,
      version: CRANE,
      sha256: sha256(craneLinux),
    });
    expect(run(crane.path)).toBe("crane-linux-x64");
    expect(requests).toEqual(["/direct/crane.tar.gz"]);
  });

  it("takes a URL that names no archive as a mirror of the release downloads", async () => {
    serveCraneRelease(CRANE, { [ARCHIVE]: craneLinux });
    const crane = await installCrane({ ...linux, use: `${base}/crane`, version: CRANE });
    expect(run(crane.path)).toBe("crane-linux-x64");
    expect(requests).toEqual([`/crane/v${CRANE}/checksums.txt`, `/crane/v${CRANE}/${ARCHIVE}`]);
  });
});

describe("a download host that cannot be reached", () => {
  it("fails within seconds with what to do, instead of the tool cache's half minute of retries", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const started = performance.now();
    const failed = await installCrane({ baseUrl: `http://127.0.0.1:${port}/crane`, version: CRANE }).catch(
      (e: unknown) => e as ToolInstallError,
    );
    expect(performance.now() - started).toBeLessThan(3000);
    expect(failed).toBeInstanceOf(ToolInstallError);
    expect((failed as ToolInstallError).message).toBe(
      `crane ${CRANE}: cannot reach 127.0.0.1:${port} (ECONNREFUSED 127.0.0.1:${port}) to download the checksum file http://127.0.0.1:${port}/crane/v${CRANE}/checksums.txt: is this machine offline, or the server down?`,
    );
    expect((failed as ToolInstallError).hint).toBe(
      "use a crane already on this machine (CLI: --crane PATH or ECR_MIRROR_CRANE), or a mirror of the release downloads (crane-base-url, ECR_MIRROR_CRANE_BASE_URL)",
    );
  }, 8000);
});
