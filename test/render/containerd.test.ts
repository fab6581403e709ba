// Proof with real containerd: the rendered hosts.toml files, filled in by the DaemonSet's own
// script with the local ECR's token, make `ctr` (containerd 1.6 and 2.x, daemonless `content fetch-object`)
// pull upstream names from the mirror's /v2/<prefix> with credentials, and never from the upstream;
// the readiness probe asks the mirror exactly what containerd asks, so its verdict and containerd's
// pull agree; and after the cleanup containerd no longer uses the mirror.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderNodeConfig } from "../../src/render/index.js";
import { CONFIGURE_SCRIPT, READY_SCRIPT } from "../../src/render/node-scripts.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { basicAuth, pushTinyImage, sha256, tinyImage } from "../harness/oci-push.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { CONFIGURATOR, mirrorList, upstream } from "./fixtures.js";

/**
 * Debian stable's containerd 1.6, and containerd 2.x from Debian's unstable suite, downloaded and extracted
 * (not installed) by scripts/setup into .cache/containerd-2.
 */
const CONTAINERD_2_CTR = fileURLToPath(new URL("../../.cache/containerd-2/usr/bin/ctr", import.meta.url));
const CONTAINERDS = [
  ["containerd 1.6", "/usr/bin/ctr"],
  ["containerd 2.x", CONTAINERD_2_CTR],
] as const;
const UPSTREAM_PREFIX = "mirrors/upstream-stand-in";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: { PATH: "/usr/bin:/bin", ...env }, timeout: 20_000, encoding: "utf8" },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `ctr content fetch-object`: resolves `ref` through the hosts dir and prints what it names. */
const fetchWith =
  (ctr: string) =>
  (hostsDir: string, ref: string, flags: string[] = []) =>
    exec(ctr, ["content", "fetch-object", "--hosts-dir", hostsDir, ...flags, ref]);

let mirrorRegistry: RunningRegistry;
let upstreamRegistry: RunningRegistry;
let ecr: LocalEcr;
let work: string;
let certsDir: string;
let scriptEnv: Record<string, string>;
const images = {
  dockerHub: {
    ref: "docker.io/library/ecr-mirror-probe:1.0",
    repository: "mirrors/library/ecr-mirror-probe",
  },
  quay: { ref: "quay.io/example-org/probe:2.1", repository: "mirrors/quay.io/example-org/probe" },
  upstream: { ref: "", repository: `${UPSTREAM_PREFIX}/team/app` },
};

beforeAll(async () => {
  mirrorRegistry = await startRegistry();
  upstreamRegistry = await startRegistry();
  ecr = await startEcr({ registry: mirrorRegistry });
  images.upstream.ref = `${upstreamRegistry.host}/team/app:3.0`;
  work = mkdtempSync(join(tmpdir(), "ecr-mirror-containerd-"));
  certsDir = join(work, "certs.d");
  mkdirSync(certsDir);

  // The mirror: repositories created through the ECR API, images pushed through the gate.
  const client = new ECRClient({
    endpoint: ecr.apiUrl,
    region: ecr.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  for (const [seed, image] of Object.entries(images)) {
    await client.send(new CreateRepositoryCommand({ repositoryName: image.repository }));
    const tag = image.ref.split(":").at(-1)!;
    const { response } = await pushTinyImage(
      ecr.proxyEndpoint,
      image.repository,
      tag,
      seed,
      basicAuth("AWS", ecr.password),
    );
    expect(response.status).toBe(201);
  }
  client.destroy();

  // Render for the gated target (plain HTTP here) and let the DaemonSet's script fill in the token.
  const list = mirrorList([
    upstream("docker.io", "mirrors"),
    upstream("quay.io", "mirrors/quay.io"),
    upstream(upstreamRegistry.host, UPSTREAM_PREFIX),
  ]);
  const rendered = renderNodeConfig(list, {
    registry: ecr.proxyEndpoint,
    region: ecr.region,
    configuratorImage: CONFIGURATOR,
  });
  if (!rendered.ok) throw new Error(rendered.problems.map((p) => p.message).join("\n"));
  for (const file of rendered.files.filter((f) => f.path.startsWith("hosts/"))) {
    const path = join(work, "templates", file.path.slice("hosts/".length));
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, file.content);
  }
  writeFileSync(join(work, "configure.sh"), CONFIGURE_SCRIPT);
  writeFileSync(join(work, "ready.sh"), READY_SCRIPT);
  // Stand-in for `aws ecr get-authorization-token`: prints the local ECR's token.
  writeFileSync(join(work, "token.txt"), ecr.token);
  writeFileSync(join(work, "token.sh"), `#!/bin/sh\nexec cat ${JSON.stringify(join(work, "token.txt"))}\n`, {
    mode: 0o755,
  });
  writeFileSync(
    join(work, "config.toml"),
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/containerd/certs.d:/etc/docker/certs.d"\n',
  );
  scriptEnv = {
    CERTS_DIR: certsDir,
    TEMPLATES_DIR: join(work, "templates"),
    STATE_DIR: join(work, "state"),
    TOKEN_COMMAND: join(work, "token.sh"),
    HOST_CONTAINERD_CONFIG: join(work, "config.toml"),
    SA_DIR: join(work, "no-serviceaccount"),
    // The probe image: the quay.io image pinned by digest, asked through quay.io's hosts.toml.
    PROBE_IMAGE: `${ecr.registryHost}/${images.quay.repository}@${tinyImage("quay").digest}`,
    PROBE_SOURCE: images.quay.ref.split(":")[0]!,
  };
  const configured = await exec("/bin/sh", [join(work, "configure.sh")], { ...scriptEnv, ONCE: "1" });
  expect(configured.code, configured.stderr).toBe(0);
  const ready = await exec("/bin/sh", [join(work, "ready.sh")], scriptEnv);
  expect(ready.stdout).toMatch(/^ready: .*containerd 1\.x \(config version 2\) reads .*the mirror answers/);
  ecr.resetCounts();
});

afterAll(async () => {
  await ecr?.stop();
  await mirrorRegistry?.stop();
  await upstreamRegistry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(CONTAINERDS)("%s pulls through the rendered hosts.toml", (name, ctr) => {
  const fetchObject = fetchWith(ctr);
  const own = (folder: string) => join(work, `${name.replace(/\W+/g, "-")}-${folder}`);
  let upstreamSeen = 0;
  const upstreamLogSinceStart = () => upstreamRegistry.accessLog().slice(upstreamSeen);
  beforeAll(async () => {
    if (!existsSync(ctr))
      throw new Error(`${ctr} is missing: run ./scripts/setup (it extracts containerd 2.x)`);
    expect((await exec(ctr, ["--version"])).stdout).toContain(name.endsWith("1.6") ? " 1.6." : " 2.");
    upstreamSeen = upstreamRegistry.accessLog().length;
  });

  it.each([
    ["docker.io/library", "dockerHub", "docker.io"],
    ["quay.io", "quay", "quay.io"],
    ["a host with a port", "upstream", ""],
  ] as const)(
    "resolves and fetches %s from the mirror's /v2/<prefix>, with credentials",
    async (_, key, namespace) => {
      const image = images[key];
      const tag = image.ref.split(":").at(-1)!;
      ecr.resetCounts();
      const result = await fetchObject(certsDir, image.ref);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(tinyImage(key).manifest);

      const requests = ecr.gateRequests();
      const resolve = requests.find((r) => r.kind === "manifest-head" || r.kind === "manifest-get");
      expect(resolve).toMatchObject({
        repository: image.repository,
        reference: tag,
        status: 200,
        authorized: true,
      });
      expect(resolve!.path).toMatch(new RegExp(`^/v2/${image.repository}/manifests/${tag}\\?ns=`));
      const query = new URLSearchParams(resolve!.path.split("?")[1]);
      expect(query.get("ns")).toBe(namespace || upstreamRegistry.host);
      // Every request carried the token: containerd never needed a 401 challenge.
      expect(requests.every((r) => r.authorized)).toBe(true);
    },
  );

  it("fetches layers from the mirror too", async () => {
    const layer = tinyImage("dockerHub").layer;
    ecr.resetCounts();
    // Pinned by a blob digest, containerd's resolver asks /manifests/ and then /blobs/.
    const byDigest = `${images.dockerHub.ref.split(":")[0]}@${sha256(layer)}`;
    const result = await fetchObject(certsDir, byDigest);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(layer.toString());
    expect(ecr.gateRequests()).toContainEqual(
      expect.objectContaining({
        kind: "blob-get",
        repository: images.dockerHub.repository,
        status: 200,
        authorized: true,
      }),
    );
  });

  it("sent nothing to the upstream registry", () => {
    expect(upstreamLogSinceStart()).toEqual([]);
  });

  it("fails fast on an image the mirror lacks, without trying the upstream", async () => {
    ecr.resetCounts();
    const result = await fetchObject(certsDir, `${upstreamRegistry.host}/team/missing:1`);
    expect(result.code).not.toBe(0);
    expect(ecr.gateCounts()["name-unknown"]).toBeGreaterThan(0);
    expect(upstreamLogSinceStart()).toEqual([]);
  });

  it("(control) without the hosts.toml the same reference goes to the upstream, so the check above can fail", async () => {
    const empty = own("empty-hosts");
    mkdirSync(empty, { recursive: true });
    await fetchObject(empty, images.upstream.ref, ["--plain-http"]);
    expect(upstreamLogSinceStart().some((e) => e.path.startsWith("/v2/team/app/manifests/3.0"))).toBe(true);
  });

  it("(control) without the token the mirror refuses the pull", async () => {
    const unfilled = join(work, "templates");
    ecr.resetCounts();
    const result = await fetchObject(unfilled, images.quay.ref);
    expect(result.code).not.toBe(0);
    expect(ecr.gateCounts().unauthorized).toBeGreaterThan(0);
  });

  it("the readiness probe asks the mirror exactly what containerd asks for the same image", async () => {
    const digest = tinyImage("quay").digest;
    ecr.resetCounts();
    const pulled = await fetchObject(certsDir, `${images.quay.ref.split(":")[0]}@${digest}`);
    expect(pulled.code, pulled.stderr).toBe(0);
    const containerdAsked = ecr
      .gateRequests()
      .filter((r) => r.kind === "manifest-head" || r.kind === "manifest-get")
      .map((r) => r.path.split("?")[0]);
    ecr.resetCounts();
    rmSync(join(work, "state", "mirror-probe-passed"), { force: true });
    const verdict = await exec("/bin/sh", [join(work, "ready.sh")], scriptEnv);
    expect(verdict.stdout).toMatch(/^ready: /);
    const probeAsked = ecr
      .gateRequests()
      .filter((r) => r.kind === "manifest-head")
      .map((r) => r.path);
    expect(probeAsked).toEqual([`/v2/${images.quay.repository}/manifests/${digest}`]);
    expect(containerdAsked).toContain(probeAsked[0]);
  });

  it("with a token the mirror refuses, containerd's pull fails and readiness says NOT READY", async () => {
    const wrong = own("wrong-token");
    mkdirSync(join(wrong, "certs.d"), { recursive: true });
    writeFileSync(join(wrong, "token.txt"), Buffer.from("AWS:expired-password").toString("base64"));
    writeFileSync(
      join(wrong, "token.sh"),
      `#!/bin/sh\nexec cat ${JSON.stringify(join(wrong, "token.txt"))}\n`,
      {
        mode: 0o755,
      },
    );
    const env = {
      ...scriptEnv,
      CERTS_DIR: join(wrong, "certs.d"),
      STATE_DIR: join(wrong, "state"),
      TOKEN_COMMAND: join(wrong, "token.sh"),
    };
    expect((await exec("/bin/sh", [join(work, "configure.sh")], { ...env, ONCE: "1" })).code).toBe(0);
    const pulled = await fetchObject(join(wrong, "certs.d"), images.dockerHub.ref);
    expect(pulled.code).not.toBe(0);
    const verdict = await exec("/bin/sh", [join(work, "ready.sh")], env);
    expect(verdict.stdout).toMatch(/^NOT READY: the mirror refused the registry token .*HTTP 401/);
  });

  it("after `configure.sh cleanup` containerd pulls from the upstream again, and a user's file stays", async () => {
    const copy = own("cleaned");
    cpSync(certsDir, copy, { recursive: true });
    const userFile = join(copy, "ghcr.io", "hosts.toml");
    mkdirSync(join(copy, "ghcr.io"));
    writeFileSync(userFile, 'server = "https://ghcr.io"\n');
    const cleaned = await exec("/bin/sh", [join(work, "configure.sh"), "cleanup"], {
      ...scriptEnv,
      CERTS_DIR: copy,
      STATE_DIR: own("cleaned-state"),
    });
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(readdirSync(copy)).toEqual(["ghcr.io"]);
    const upstreamAsked = () =>
      upstreamRegistry.accessLog().filter((e) => e.path.startsWith("/v2/team/app/manifests/3.0")).length;
    const before = upstreamAsked();
    ecr.resetCounts();
    await fetchObject(copy, images.upstream.ref, ["--plain-http"]);
    expect(ecr.gateRequests()).toEqual([]);
    expect(upstreamAsked()).toBeGreaterThan(before);
  });
});
