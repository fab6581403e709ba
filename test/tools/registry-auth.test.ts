// crane and helm (the stand-ins, real bytes over the Distribution API) against the local ECR gate,
// which answers 401 without the GetAuthorizationToken password: the temporary credentials work, and
// no secret is left in any log line, output, error or file.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, ECRClient, ListImagesCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../src/list/model.js";
import { Crane } from "../../src/tools/crane.js";
import { type CredentialSession, openCredentialSession, SecretMask } from "../../src/tools/credentials.js";
import { fetchEcrAuthorization } from "../../src/tools/ecr-authorization.js";
import { fetchAddress } from "../../src/tools/fetch-address.js";
import { Helm } from "../../src/tools/helm.js";
import { InvocationCounter, ToolError } from "../../src/tools/runner.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { makeChartTgz, pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { readInvocationLog, STAND_IN_BIN } from "../stand-ins/stand-ins.js";

const HUB_USER = "hubuser";
const HUB_TOKEN = "dckr_pat_upstream-secret-0123456789";

let upstreamRegistry: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let client: ECRClient;
let work: string;
let upstreamDigest: string;

/** Everything a person or a later step could see: log lines, errors, outputs, captured stdout/stderr. */
const seen: string[] = [];
const masked: string[] = [];
let restoreWrites: () => void = () => {};

function captureProcessOutput(): void {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    seen.push(String(chunk));
    return out(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    seen.push(String(chunk));
    return err(chunk, ...rest);
  }) as typeof process.stderr.write;
  restoreWrites = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ecr-mirror-registry-auth-"));
  process.env.STANDIN_LOG = join(work, "stand-in.log");
  await mkdir(join(work, "runner-temp"));
  // The "Docker Hub" upstream needs credentials (others by host), fetched through an endpoint.
  upstreamRegistry = await startRegistry({ htpasswd: { user: HUB_USER, password: HUB_TOKEN } });
  upstreamDigest = (
    await pushImage(upstreamRegistry.url, "library/redis", "7.0", {
      seed: "redis-7.0",
      auth: { user: HUB_USER, password: HUB_TOKEN },
    })
  ).digest;
  backing = await startRegistry();
  ecr = await startEcr({ registry: backing });
  client = new ECRClient({
    endpoint: ecr.apiUrl,
    region: ecr.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/library/redis" }));
  await client.send(new CreateRepositoryCommand({ repositoryName: "charts/demo" }));
  captureProcessOutput();
});

afterAll(async () => {
  restoreWrites();
  delete process.env.STANDIN_LOG;
  client?.destroy();
  await ecr?.stop();
  await backing?.stop();
  await upstreamRegistry?.stop();
  await rm(work, { recursive: true, force: true });
});

const upstreams = (): Upstream[] => [
  {
    host: "docker.io",
    prefix: "mirrors",
    endpoint: upstreamRegistry.url,
    redirect: true,
    fallback: false,
    location: null,
  },
];

async function withSession<T>(mask: SecretMask, run: (session: CredentialSession) => Promise<T>): Promise<T> {
  const ecrAuth = await fetchEcrAuthorization(client, mask);
  await using session = await openCredentialSession({
    credentials: [ecrAuth, { registry: upstreamRegistry.host, username: HUB_USER, password: HUB_TOKEN }],
    mask,
    tempRoot: join(work, "runner-temp"),
  });
  // `return await`: a bare `return run(session)` would dispose the session before the tools ran.
  return await run(session);
}

function tools(session: CredentialSession, mask: SecretMask, counter: InvocationCounter) {
  const common = { counter, log: (line: string) => seen.push(line), redact: (t: string) => mask.redact(t) };
  return {
    crane: new Crane({ ...common, binary: join(STAND_IN_BIN, "crane"), env: session.craneEnv() }),
    helm: new Helm({
      ...common,
      binary: join(STAND_IN_BIN, "helm"),
      env: session.helmEnv(),
      registryConfig: session.helmRegistryConfig,
    }),
  };
}

describe("temporary registry credentials", () => {
  it("the gate refuses crane without the ECR token (401), with a readable error", async () => {
    // Upstream credentials only: the source can be read, the target cannot be written.
    await using session = await openCredentialSession({
      credentials: [{ registry: upstreamRegistry.host, username: HUB_USER, password: HUB_TOKEN }],
      mask: new SecretMask((v) => masked.push(v)),
      tempRoot: join(work, "runner-temp"),
    });
    ecr.resetCounts();
    const crane = new Crane({ binary: join(STAND_IN_BIN, "crane"), env: session.craneEnv() });
    const error = (await crane
      .copy(`${upstreamRegistry.host}/library/redis:7.0`, `${ecr.registryHost}/mirrors/library/redis:7.0`)
      .catch((e: unknown) => e)) as ToolError;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toContain(`-> ${ecr.registryHost}/mirrors/library/redis:7.0 failed (exit 1)`);
    expect(error.message).toContain(`http://${ecr.registryHost}/v2/`);
    expect(error.hint).toMatch(/refused the credentials/);
    expect(ecr.gateCounts().unauthorized).toBeGreaterThan(0);
    expect(ecr.gateRequests().every((r) => r.status === 401)).toBe(true);
    seen.push(error.message);
  });

  it("crane copies through the upstream endpoint into the gated target; helm logs in and pushes", async () => {
    const mask = new SecretMask((v) => masked.push(v));
    const counter = new InvocationCounter();
    let sessionDir = "";
    const outputs = await withSession(mask, async (session) => {
      sessionDir = session.dir;
      expect(statSync(join(session.dockerConfigDir, "config.json")).mode & 0o777).toBe(0o600);
      const { crane, helm } = tools(session, mask, counter);

      const source = fetchAddress(
        { domain: "docker.io", path: "library/redis", tag: "7.0", digest: null },
        upstreams(),
      );
      expect(source.reference).toBe(`${upstreamRegistry.host}/library/redis:7.0`);
      const target = `${ecr.registryHost}/mirrors/library/redis:7.0`;
      await crane.copy(source.reference, target, { jobs: 2 });
      const copied = await crane.digest(target);

      const chartFile = join(work, "demo-1.2.3.tgz");
      await writeFile(chartFile, makeChartTgz({ name: "demo", version: "1.2.3" }));
      const ecrAuth = await fetchEcrAuthorization(client, mask);
      await helm.registryLogin(ecr.registryHost, ecrAuth.username, ecrAuth.password, { plainHttp: true });
      const registryConfig = readFileSync(session.helmRegistryConfig, "utf8");
      expect(JSON.parse(registryConfig).auths[ecr.registryHost].auth).toBe(ecrAuth.token);
      const pushed = await helm.push(chartFile, `oci://${ecr.registryHost}/charts`, { plainHttp: true });
      // and back, with the same login: pull from the gated registry, then render it
      const pulled = await helm.pullFromRegistry(
        `oci://${ecr.registryHost}/charts/demo`,
        "1.2.3",
        session.dir,
        {
          plainHttp: true,
        },
      );
      expect(readFileSync(pulled)).toEqual(readFileSync(chartFile));
      expect(await helm.template("check", pulled)).toContain("name: check-config");
      return { copied, pushed };
    });

    expect(outputs.copied).toBe(upstreamDigest);
    expect(outputs.pushed.reference).toBe(`${ecr.registryHost}/charts/demo:1.2.3`);
    const listed = await client.send(new ListImagesCommand({ repositoryName: "charts/demo" }));
    expect(listed.imageIds?.map((i) => i.imageTag)).toEqual(["1.2.3"]);
    expect(counter.toJSON()).toEqual({
      "crane copy": 1,
      "crane digest": 1,
      "helm pull": 1,
      "helm push": 1,
      "helm registry login": 1,
      "helm template": 1,
    });
    // every request that reached the registry behind the gate carried the session's credentials
    const forwarded = ecr.gateRequests().filter((r) => r.status !== 401);
    expect(forwarded.length).toBeGreaterThan(0);
    expect(forwarded.every((r) => r.authorized)).toBe(true);
    expect(existsSync(sessionDir)).toBe(false);
    seen.push(JSON.stringify(outputs));
  });

  it("helm never reaches a native credential store or the user's Docker config (oras-go native-store detection)", async () => {
    // A desktop runner: `docker-credential-secretservice` on PATH (a keychain that records every call and
    // answers `get` with a stale credential) and a home whose ~/.docker/config.json holds a poisoned entry.
    const desktop = await mkdtemp(join(tmpdir(), "ecr-mirror-desktop-"));
    const bin = join(desktop, "bin");
    const home = join(desktop, "home");
    const calls = join(desktop, "keychain-calls.log");
    await mkdir(bin, { recursive: true });
    await mkdir(join(home, ".docker"), { recursive: true });
    const stale = { Username: "AWS", Secret: "stale-keychain-password" };
    await writeFile(
      join(bin, "docker-credential-secretservice"),
      `#!/bin/sh\nprintf '%s\\n' "$1" >> '${calls}'\ncat > /dev/null\n` +
        `[ "$1" = get ] && printf '%s' '${JSON.stringify(stale)}'\nexit 0\n`,
      { mode: 0o755 },
    );
    const poisoned = (host: string) => [
      host,
      { auth: Buffer.from("AWS:poisoned-docker-password").toString("base64") },
    ];
    await writeFile(
      join(home, ".docker", "config.json"),
      JSON.stringify({ auths: Object.fromEntries([poisoned(ecr.registryHost), poisoned(backing.host)]) }),
    );
    const saved = { PATH: process.env.PATH, HOME: process.env.HOME };
    process.env.PATH = `${bin}:${process.env.PATH}`;
    process.env.HOME = home;
    const mask = new SecretMask((v) => masked.push(v));
    const counter = new InvocationCounter();
    try {
      ecr.resetCounts();
      await withSession(mask, async (session) => {
        const { helm } = tools(session, mask, counter);
        const chartFile = join(desktop, "demo-1.0.0.tgz");
        await writeFile(chartFile, makeChartTgz({ name: "demo", version: "1.0.0" }));
        const ecrAuth = await fetchEcrAuthorization(client, mask);
        await helm.registryLogin(ecr.registryHost, ecrAuth.username, ecrAuth.password, { plainHttp: true });
        await helm.push(chartFile, `oci://${ecr.registryHost}/charts`, { plainHttp: true });
        // a registry the session has no credential for: helm falls back to Docker's config
        const pulled = await helm.pullFromRegistry(
          `oci://${backing.host}/charts/demo`,
          "1.0.0",
          session.dir,
          {
            plainHttp: true,
          },
        );
        expect(readFileSync(pulled)).toEqual(readFileSync(chartFile));
      });
      expect(existsSync(calls) ? readFileSync(calls, "utf8").split("\n").filter(Boolean) : []).toEqual([]);
    } finally {
      process.env.PATH = saved.PATH;
      process.env.HOME = saved.HOME;
      await rm(desktop, { recursive: true, force: true });
    }
    const listed = await client.send(new ListImagesCommand({ repositoryName: "charts/demo" }));
    expect(listed.imageIds?.map((i) => i.imageTag)).toContain("1.0.0");
    // only the session's ECR credential reached the target: the one refusal is the anonymous challenge ping a
    // push starts with; a stale or poisoned password would have been refused on a blob or manifest request
    const requests = ecr.gateRequests();
    expect(requests.filter((r) => r.status === 401).map((r) => r.kind)).toEqual(["ping"]);
    expect(requests.filter((r) => r.status !== 401).every((r) => r.authorized)).toBe(true);
    expect(requests.map((r) => r.kind)).toContain("manifest-put");
  });

  it("removes the credentials when a tool fails, and the error names image, registry and what the tool said", async () => {
    const mask = new SecretMask((v) => masked.push(v));
    let sessionDir = "";
    const error = await withSession(mask, async (session) => {
      sessionDir = session.dir;
      const { crane } = tools(session, mask, new InvocationCounter());
      // no repository mirrors/library/nginx was created: ECR answers NAME_UNKNOWN
      await crane.copy(
        `${upstreamRegistry.host}/library/redis:7.0`,
        `${ecr.registryHost}/mirrors/library/nginx:1.27`,
      );
    }).catch((e: unknown) => e as ToolError);
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).message).toContain(
      `-> ${ecr.registryHost}/mirrors/library/nginx:1.27 failed`,
    );
    expect((error as ToolError).message).toMatch(/NAME_UNKNOWN|does not exist/);
    expect((error as ToolError).hint).toMatch(/repository does not exist/);
    expect(sessionDir).not.toBe("");
    expect(existsSync(sessionDir)).toBe(false);
    seen.push((error as Error).message, (error as Error).stack ?? "");
  });

  it("reads both tools' versions", async () => {
    const counter = new InvocationCounter();
    expect(await new Crane({ binary: join(STAND_IN_BIN, "crane"), counter }).version()).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
    const helm = new Helm({
      binary: join(STAND_IN_BIN, "helm"),
      counter,
      registryConfig: join(work, "unused.json"),
    });
    expect(await helm.version()).toMatch(/^4\.\d+\.\d+$/);
    expect(counter.count()).toBe(2);
  });

  it("leaves no secret, raw or base64, in any log line, output, error or leftover file", () => {
    const secrets = new Set<string>();
    for (const pair of [`AWS:${ecr.password}`, `${HUB_USER}:${HUB_TOKEN}`]) {
      secrets.add(pair);
      secrets.add(Buffer.from(pair).toString("base64"));
    }
    for (const secret of [ecr.password, HUB_TOKEN]) {
      secrets.add(secret);
      secrets.add(Buffer.from(secret).toString("base64"));
    }
    // every form was handed to the masker (core.setSecret in the action)
    for (const secret of secrets) expect(masked).toContain(secret);

    const leftovers: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else leftovers.push(path);
      }
    };
    walk(work);
    const texts = [...seen, ...readInvocationLog(process.env.STANDIN_LOG!).map((r) => JSON.stringify(r))];
    for (const file of leftovers) texts.push(readFileSync(file, "latin1"));
    expect(seen.some((line) => line.includes("[crane]"))).toBe(true); // the logs were really captured
    expect(readInvocationLog(process.env.STANDIN_LOG!).length).toBeGreaterThanOrEqual(5);
    for (const secret of secrets) {
      const hits = texts.filter((t) => t.includes(secret));
      expect(hits, `secret form found: ${secret.slice(0, 6)}…`).toEqual([]);
    }
    // the only files left are the fixtures this test wrote itself
    expect(leftovers.map((f) => f.slice(work.length + 1)).sort()).toEqual(["demo-1.2.3.tgz", "stand-in.log"]);
    expect(readdirSync(join(work, "runner-temp"))).toEqual([]);
  });
});
