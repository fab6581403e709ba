import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  credentialFor,
  DOCKER_HUB_AUTH_KEY,
  decodeEcrAuthorization,
  openCredentialSession,
  removeLeftoverSessions,
  renderDockerConfig,
  SecretMask,
  upstreamCredentials,
} from "../../src/tools/credentials.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const PASSWORD = "eyJwYXlsb2FkIjoiZmFrZS1lY3ItcGFzc3dvcmQifQ";
const TOKEN = b64(`AWS:${PASSWORD}`);

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "ecr-mirror-cred-test-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("SecretMask", () => {
  it("masks each secret and its base64 form once, and redacts them from text", () => {
    const masked: string[] = [];
    const mask = new SecretMask((v) => masked.push(v));
    mask.addBasic("AWS", PASSWORD);
    mask.add(PASSWORD);
    expect(masked).toEqual([PASSWORD, b64(PASSWORD), `AWS:${PASSWORD}`, TOKEN]);
    expect(mask.redact(`auth=${TOKEN} pw=${PASSWORD}`)).toBe("auth=*** pw=***");
  });
});

describe("decodeEcrAuthorization", () => {
  it("takes user and password from the token and the registry from proxyEndpoint, masking first", () => {
    const masked: string[] = [];
    const auth = decodeEcrAuthorization(
      {
        authorizationToken: TOKEN,
        proxyEndpoint: "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
      },
      new SecretMask((v) => masked.push(v)),
    );
    expect(auth).toMatchObject({
      registry: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
      username: "AWS",
      password: PASSWORD,
    });
    expect(masked).toEqual(expect.arrayContaining([TOKEN, PASSWORD, b64(PASSWORD)]));
  });
  it("fails without a usable token, and still masked what it got", () => {
    const masked: string[] = [];
    expect(() =>
      decodeEcrAuthorization(
        { authorizationToken: "bm90LWEtcGFpcg==", proxyEndpoint: "https://x" },
        new SecretMask((v) => masked.push(v)),
      ),
    ).toThrow(/no usable authorization data/);
    expect(masked).toContain("bm90LWEtcGFpcg==");
  });
});

describe("Docker config", () => {
  it("keys Docker Hub as crane and docker expect, other hosts by host", () => {
    const config = JSON.parse(
      renderDockerConfig([
        { registry: "docker.io", username: "me", password: "hub-token" },
        { registry: "127.0.0.1:5000", username: "AWS", password: PASSWORD },
      ]),
    );
    expect(config).toEqual({
      auths: { [DOCKER_HUB_AUTH_KEY]: { auth: b64("me:hub-token") }, "127.0.0.1:5000": { auth: TOKEN } },
    });
  });
  it("finds Docker Hub credentials under any of its names", () => {
    const hub = { registry: "index.docker.io", username: "me", password: "t" };
    expect(credentialFor("docker.io", [hub])).toBe(hub);
    expect(credentialFor("registry-1.docker.io", [hub])).toBe(hub);
    expect(credentialFor("quay.io", [hub])).toBeNull();
  });
});

describe("openCredentialSession", () => {
  const credentials = [
    { registry: "127.0.0.1:5000", username: "AWS", password: PASSWORD },
    { registry: "docker.io", username: "me", password: "dckr_pat_secret" },
  ];

  it("writes a private folder the tools reach only through their child environment", async () => {
    const masked: string[] = [];
    const session = await openCredentialSession({
      credentials,
      mask: new SecretMask((v) => masked.push(v)),
      tempRoot: root,
    });
    try {
      expect(statSync(session.dir).mode & 0o777).toBe(0o700);
      const configFile = join(session.dockerConfigDir, "config.json");
      expect(statSync(configFile).mode & 0o777).toBe(0o600);
      expect(statSync(session.helmRegistryConfig).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(configFile, "utf8")).auths["127.0.0.1:5000"].auth).toBe(TOKEN);
      expect(session.craneEnv()).toEqual({ DOCKER_CONFIG: session.dockerConfigDir });
      expect(session.helmEnv().HELM_REGISTRY_CONFIG).toBe(session.helmRegistryConfig);
      // helm's own Docker config, inside the session: never ~/.docker/config.json, and no password in it
      expect(session.helmEnv().DOCKER_CONFIG).toBe(session.helmDockerConfigDir);
      expect(session.helmDockerConfigDir.startsWith(session.dir)).toBe(true);
      const helmDockerConfig = join(session.helmDockerConfigDir, "config.json");
      expect(statSync(helmDockerConfig).mode & 0o777).toBe(0o600);
      expect(readFileSync(helmDockerConfig, "utf8")).not.toContain(TOKEN);
      expect(process.env.DOCKER_CONFIG).not.toBe(session.dockerConfigDir);
      // masked before the file existed: every password and every base64 pair
      expect(masked).toEqual(
        expect.arrayContaining([PASSWORD, TOKEN, "dckr_pat_secret", b64("me:dckr_pat_secret")]),
      );
    } finally {
      await session.dispose();
    }
    expect(existsSync(session.dir)).toBe(false);
  });

  it("removes the folder when the work inside `await using` fails", async () => {
    let dir = "";
    await expect(
      (async () => {
        await using session = await openCredentialSession({
          credentials,
          mask: new SecretMask(() => {}),
          tempRoot: root,
        });
        dir = session.dir;
        throw new Error("copy failed");
      })(),
    ).rejects.toThrow("copy failed");
    expect(dir).not.toBe("");
    expect(existsSync(dir)).toBe(false);
  });

  it("lets a post step remove what a killed run left behind", async () => {
    const session = await openCredentialSession({
      credentials,
      mask: new SecretMask(() => {}),
      tempRoot: root,
    });
    expect(removeLeftoverSessions(root)).toEqual([session.dir]);
    expect(existsSync(session.dir)).toBe(false);
    await session.dispose();
  });
});

describe("upstreamCredentials", () => {
  it("reads Docker Hub's pair and registry-credentials lines", () => {
    expect(
      upstreamCredentials({
        dockerHubUsername: "me",
        dockerHubToken: "dckr_pat_x",
        registryCredentials: "# quay robot\nquay.io org+robot s3cret\n\nghcr.io bot ghp_y\n",
      }),
    ).toEqual([
      { registry: "docker.io", username: "me", password: "dckr_pat_x" },
      { registry: "quay.io", username: "org+robot", password: "s3cret" },
      { registry: "ghcr.io", username: "bot", password: "ghp_y" },
    ]);
    expect(upstreamCredentials({})).toEqual([]);
  });
  it("names the bad line without echoing its token", () => {
    const call = () =>
      upstreamCredentials({ registryCredentials: "quay.io only-user-and-TOKENVALUE-and-more x y" });
    expect(call).toThrow(/line 1: expected "host username token"/);
    expect(call).not.toThrow(/TOKENVALUE/);
    expect(() => upstreamCredentials({ dockerHubToken: "t" })).toThrow(/must be given together/);
    expect(() =>
      upstreamCredentials({
        dockerHubUsername: "a",
        dockerHubToken: "b",
        registryCredentials: "index.docker.io c d",
      }),
    ).toThrow(/index\.docker\.io is given twice/);
  });
});
