import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getManifest, MEDIA_TYPES, makeChartTgz, sha256Digest, startChartRepo } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { readInvocationLog, runStandIn } from "./stand-ins.js";

const AUTH = { user: "charts", password: "helm-test-Secret-7" };

describe("helm stand-in", () => {
  let registry: RunningRegistry; // htpasswd: pushes and pulls need the registry login
  let work: string;
  let registryConfig: string;
  let log: string;
  const helm = (args: string[], extra: { input?: string; cwd?: string } = {}) =>
    runStandIn("helm", args, {
      input: extra.input,
      cwd: extra.cwd,
      env: { HELM_REGISTRY_CONFIG: registryConfig, STANDIN_LOG: log },
    });

  const chartFile = async (name: string, version: string, templates?: Record<string, string>) => {
    const file = join(work, `${name}-${version}.tgz`);
    await writeFile(file, makeChartTgz({ name, version, values: { greeting: "hello" }, templates }));
    await utimes(file, new Date("2026-01-02T03:04:05Z"), new Date("2026-01-02T03:04:05Z"));
    return file;
  };

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: AUTH });
    work = await mkdtemp(join(tmpdir(), "helm-stand-in-test-"));
    registryConfig = join(work, "helm", "registry", "config.json");
    log = join(work, "invocations.jsonl");
  });
  afterAll(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("registry login checks the credentials, takes a host only, and stores them 0600", async () => {
    const wrong = await helm(
      ["registry", "login", registry.host, "--username", AUTH.user, "--password-stdin", "--plain-http"],
      {
        input: "not-the-password\n",
      },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/401/);
    const url = await helm(
      ["registry", "login", `oci://${registry.host}`, "-u", AUTH.user, "--password-stdin"],
      {
        input: AUTH.password,
      },
    );
    expect(url.code).toBe(1);
    expect(url.stderr).toMatch(/host only/);

    const ok = await helm(
      ["registry", "login", registry.host, "--username", AUTH.user, "--password-stdin", "--plain-http"],
      { input: `${AUTH.password}\n` },
    );
    expect(ok.code, ok.stderr).toBe(0);
    const config = JSON.parse(await readFile(registryConfig, "utf8"));
    expect(Buffer.from(config.auths[registry.host].auth, "base64").toString()).toBe(
      `${AUTH.user}:${AUTH.password}`,
    );
    expect((await stat(registryConfig)).mode & 0o777).toBe(0o600);
  });

  it("registry login and pulls use a docker-credential-* helper when the config is unconfigured (oras-go)", async () => {
    const bin = join(work, "keychain-bin");
    const calls = join(work, "keychain-calls.log");
    await mkdir(bin, { recursive: true });
    // records action and stdin; `get` answers what `store` was given, `store` fails when told to
    await writeFile(
      join(bin, "docker-credential-secretservice"),
      `#!/bin/sh\nin=$(cat)\nprintf '%s %s\\n' "$1" "$in" >> '${calls}'\n` +
        `[ -e '${work}/keychain-broken' ] && { echo 'dbus: no session bus'; exit 1; }\n` +
        `[ "$1" = get ] && printf '{"ServerURL":"%s","Username":"${AUTH.user}","Secret":"${AUTH.password}"}' "$in"\nexit 0\n`,
      { mode: 0o755 },
    );
    const login = (config: string) =>
      runStandIn(
        "helm",
        ["registry", "login", registry.host, "--username", AUTH.user, "--password-stdin", "--plain-http"],
        {
          input: AUTH.password,
          env: { HELM_REGISTRY_CONFIG: config, DOCKER_CONFIG: join(work, "no-docker") },
        },
      );
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      // {"auths":{}} is unconfigured: the password goes to the keychain, credsStore is written back
      const unconfigured = join(work, "unconfigured.json");
      await writeFile(unconfigured, '{"auths":{}}\n');
      expect((await login(unconfigured)).code).toBe(0);
      expect(JSON.parse(await readFile(unconfigured, "utf8"))).toEqual({
        auths: {},
        credsStore: "secretservice",
      });
      expect(await readFile(calls, "utf8")).toBe(
        `store {"ServerURL":"${registry.host}","Username":"${AUTH.user}","Secret":"${AUTH.password}"}\n`,
      );
      // a pull with that config asks the keychain (`get`, the host on stdin)
      const pull = await runStandIn(
        "helm",
        ["pull", `oci://${registry.host}/nowhere/absent`, "--version", "0.0.1", "--plain-http", "-d", work],
        { env: { HELM_REGISTRY_CONFIG: unconfigured, DOCKER_CONFIG: join(work, "no-docker") } },
      );
      expect(pull.code).toBe(1);
      expect((await readFile(calls, "utf8")).split("\n")).toContain(`get ${registry.host}`);
      // a broken keychain fails the login (helm #10611)
      await writeFile(join(work, "keychain-broken"), "");
      await writeFile(unconfigured, '{"auths":{}}\n');
      const broken = await login(unconfigured);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain("error storing credentials");
      // one auths entry makes the file the store: no helper call, the password in the file
      await rm(calls, { force: true });
      const configured = join(work, "configured.json");
      await writeFile(configured, '{"auths":{"placeholder.invalid":{}}}\n');
      expect((await login(configured)).code).toBe(0);
      const written = JSON.parse(await readFile(configured, "utf8"));
      expect(written.credsStore).toBeUndefined();
      expect(written.auths[registry.host].auth).toBe(
        Buffer.from(`${AUTH.user}:${AUTH.password}`).toString("base64"),
      );
      await expect(stat(calls)).rejects.toThrow();
    } finally {
      process.env.PATH = saved;
      await rm(join(work, "keychain-broken"), { force: true });
    }
  });

  it("push then pull round-trips a chart with helm's layout and digest lines", async () => {
    const file = await chartFile("demo", "1.2.3+build.1");
    const tgz = await readFile(file);
    const pushed = await helm(["push", file, `oci://${registry.host}/charts`, "--plain-http"]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = /^Digest: (sha256:[0-9a-f]{64})$/m.exec(pushed.stdout)?.[1];
    expect(pushed.stdout).toContain(`Pushed: ${registry.host}/charts/demo:1.2.3_build.1\n`);
    const manifest = await getManifest(registry.url, "charts/demo", "1.2.3_build.1", AUTH);
    expect(manifest.digest).toBe(digest);
    expect(manifest.json).toMatchObject({
      config: { mediaType: MEDIA_TYPES.helmConfig },
      layers: [{ mediaType: MEDIA_TYPES.helmChart, digest: sha256Digest(tgz), size: tgz.length }],
      annotations: {
        "org.opencontainers.image.title": "demo",
        "org.opencontainers.image.version": "1.2.3+build.1",
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
      },
    });

    const out = join(work, "pulled");
    const pulled = await helm([
      "pull",
      `oci://${registry.host}/charts/demo`,
      "--version",
      "1.2.3+build.1",
      "--destination",
      out,
      "--plain-http",
    ]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toContain(`Digest: ${digest}\n`);
    expect((await readFile(join(out, "demo-1.2.3+build.1.tgz"))).equals(tgz)).toBe(true);

    // The same file pushed again gives the same digest (created = the file's modification time).
    const again = await helm(["push", file, `oci://${registry.host}/charts`, "--plain-http"]);
    expect(again.stdout).toContain(`Digest: ${digest}\n`);
  });

  it("talks https unless --plain-http, and needs the login", async () => {
    const file = await chartFile("tls", "0.1.0");
    const https = await helm(["push", file, `oci://${registry.host}/charts`]);
    expect(https.code).toBe(1);
    expect(https.stderr).toContain(`https://${registry.host}/v2/`);
    const anonymous = await runStandIn(
      "helm",
      ["push", file, `oci://${registry.host}/charts`, "--plain-http"],
      {
        env: { HELM_REGISTRY_CONFIG: join(work, "nothing.json") },
      },
    );
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/UNAUTHORIZED/);
  });

  it("pulls from an HTTP chart repository with --repo, no repo add", async () => {
    const tgz = makeChartTgz({ name: "ingress", version: "4.11.0" });
    const older = makeChartTgz({ name: "ingress", version: "4.10.0" });
    const repo = await startChartRepo([
      { name: "ingress", version: "4.11.0", tgz },
      { name: "ingress", version: "4.10.0", tgz: older },
    ]);
    try {
      const dir = join(work, "from-repo");
      const result = await helm(["pull", "--repo", repo.url, "ingress", "--version", "4.11.0", "-d", dir]);
      expect(result.code, result.stderr).toBe(0);
      expect((await readFile(join(dir, "ingress-4.11.0.tgz"))).equals(tgz)).toBe(true);
      expect(repo.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        "GET /index.yaml 200",
        "GET /ingress-4.11.0.tgz 200",
      ]);
      const missing = await helm(["pull", "--repo", repo.url, "ingress", "--version", "9.9.9", "-d", dir]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/version "9.9.9" not found/);
      const viaReposFile = await helm(["pull", "stable/ingress", "--version", "4.11.0"]);
      expect(viaReposFile.code).toBe(2);
      expect(viaReposFile.stderr).toMatch(/not in the stand-in contract/);
    } finally {
      await repo.stop();
    }
  });

  it("template renders plain substitutions and refuses Go templates loudly", async () => {
    const file = await chartFile("web", "0.3.0");
    const values = join(work, "values.yaml");
    await writeFile(values, "greeting: from-file\n");
    const rendered = await helm(["template", "rel", file, "-f", values, "--set", "greeting=from-set"]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toBe(
      [
        "---",
        "# Source: web/templates/configmap.yaml",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: rel-config",
        "data:",
        '  greeting: "from-set"',
        "",
      ].join("\n"),
    );
    const fancy = await chartFile("fancy", "0.1.0", { "x.yaml": 'name: {{ include "fancy.name" . }}\n' });
    const refused = await helm(["template", "rel", fancy]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/outside the helm stand-in/);
  });

  it("rejects flags outside the contract and says it is a v4 stand-in", async () => {
    const flag = await helm(["push", "x.tgz", `oci://${registry.host}/charts`, "--insecure-skip-tls-verify"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/"--insecure-skip-tls-verify".*not in the stand-in contract/);
    const version = await helm(["version"]);
    expect(version.stdout).toMatch(/Version:"v4\.\d+\.\d+".*stand-in/);
    await mkdir(join(work, "cwd"), { recursive: true });
    expect((await helm(["version", "--short"], { cwd: join(work, "cwd") })).stdout).toMatch(/^v4\./);
  });

  it("logs every invocation without the password", async () => {
    const text = await readFile(log, "utf8");
    expect(text).not.toContain(AUTH.password);
    const records = readInvocationLog(log);
    expect(records.length).toBeGreaterThanOrEqual(10);
    expect(records.every((r) => r.tool === "helm")).toBe(true);
    expect(records.at(-1)).toMatchObject({
      argv: ["version", "--short"],
      cwd: join(work, "cwd"),
      exitCode: 0,
    });
  });
});
