// The DaemonSet's scripts, run for real with dash (/bin/sh) against temporary folders standing in
// for the host paths, with a stand-in token program instead of the AWS CLI, the local ECR (a real
// registry behind ECR's auth gate) as the mirror, and a local HTTPS server as the Kubernetes API.
// PATH holds only the tools the scripts may use, so this also pins what the configurator image
// must contain. nodeadm's real containerd configurations are in test/fixtures/nodeadm.
import { execFile, spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { readdir } from "node:fs/promises";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { parse as parseToml } from "smol-toml";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CONFIGURATOR_SOURCE, configuratorRepository, renderNodeConfig } from "../../src/render/index.js";
import { SKIP_LABEL } from "../../src/render/kubernetes.js";
import {
  CERTS_PATH_FIX,
  CLEANUP_ONE_LINER,
  CONFIGURE_SCRIPT,
  GENERATED_MARKER,
  HTTP_TIMEOUT_SECONDS,
  MAX_TOKEN_AGE_SECONDS,
  nodeCleanupCommand,
  PROBE_SECONDS,
  READY_SCRIPT,
} from "../../src/render/node-scripts.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { basicAuth, pushTinyImage } from "../harness/oci-push.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { mirrorList, upstream } from "./fixtures.js";

/** What the configurator image must provide besides the AWS CLI (and kubectl for the startup taint). */
const IMAGE_TOOLS = [
  "sh",
  "awk",
  "base64",
  "basename",
  "cat",
  "chmod",
  "curl",
  "date",
  "dirname",
  "grep",
  "head",
  "mkdir",
  "mktemp",
  "mv",
  "rm",
  "rmdir",
  "sed",
  "sleep",
];

const T0 = 1_800_000_000;
const WRONG_TOKEN = Buffer.from("AWS:not-the-password").toString("base64");
const FIXTURES = join(import.meta.dirname, "../fixtures");
const nodeadm = (name: string) => readFileSync(join(FIXTURES, "nodeadm", name), "utf8");

// nodeadm's real outputs (awslabs/amazon-eks-ami e2e cases): what /etc/containerd/config.toml holds.
/** containerd 1.7 nodes: config version 2, discard_unpacked_layers = false, two folders. */
const NODEADM_V1 = nodeadm("containerdv1-config_expected-containerd-config.toml");
const NODEADM_V1_PRE_132 = nodeadm("containerdv1-config_expected-containerd-config-pre-1.32.toml");
/** containerd 2.x nodes: the v3 template, discard_unpacked_layers = true, two folders. */
const NODEADM_V3 = nodeadm("containerdv2-config_expected-containerd-configv3.toml");
/** containerd 2.x nodes given a v2-spelled NodeConfig part: discard_unpacked_layers = false. */
const NODEADM_V3_FROM_V2_PART = nodeadm("containerdv2-config_expected-containerd-configv2.toml");
/** The v3 template with one folder (what the NodeConfig fix for containerd 2.x gives). */
const NODEADM_V3_ONE_FOLDER = NODEADM_V3_FROM_V2_PART.replace(
  "config_path = '/etc/containerd/certs.d:/etc/docker/certs.d'",
  "config_path = '/etc/containerd/certs.d'",
);

// biome-ignore lint/suspicious/noExplicitAny: TOML tables read generically.
type Table = Record<string, any>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let registry: RunningRegistry;
let ecr: LocalEcr;
let configuratorDigest: string;
let work: string;
let env: Record<string, string>;

function run(script: string, extra: Record<string, string> = {}, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      "sh",
      [join(work, script), ...args],
      { env: { ...env, ...extra }, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
const configure = (extra: Record<string, string> = {}) => run("configure.sh", { ONCE: "1", ...extra });
const ready = (extra: Record<string, string> = {}) => run("ready.sh", extra);
const cleanup = (extra: Record<string, string> = {}) => run("configure.sh", extra, ["cleanup"]);

function setToken(token: string): void {
  writeFileSync(join(work, "token.txt"), token);
}
const certs = (name: string) => join(work, "certs.d", name, "hosts.toml");
const hostConfig = (text: string) => writeFileSync(join(work, "config.toml"), text);
const exists = (path: string) => statSync(path, { throwIfNoEntry: false }) !== undefined;

function writeTemplates(mirrorRegistry: string, publicEcrPrefix = "mirrors/public.ecr.aws"): void {
  const result = renderNodeConfig(
    mirrorList([
      upstream("docker.io", "mirrors"),
      upstream("quay.io", "mirrors/quay.io"),
      upstream("localhost:5000", "mirrors/lh"),
      upstream("public.ecr.aws", publicEcrPrefix),
    ]),
    {
      registry: mirrorRegistry,
      region: "us-east-1",
      configuratorImage: { repository: configuratorRepository("mirrors"), digest: configuratorDigest },
    },
  );
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join("\n"));
  rmSync(join(work, "templates"), { recursive: true, force: true });
  for (const file of result.files.filter((f) => f.path.startsWith("hosts/"))) {
    const path = join(work, "templates", file.path.slice("hosts/".length));
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, file.content);
  }
}

beforeAll(async () => {
  registry = await startRegistry();
  ecr = await startEcr({ registry });
  const client = new ECRClient({
    endpoint: ecr.apiUrl,
    region: ecr.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await client.send(new CreateRepositoryCommand({ repositoryName: configuratorRepository("mirrors") }));
  client.destroy();
  const pushed = await pushTinyImage(
    ecr.proxyEndpoint,
    configuratorRepository("mirrors"),
    "2.15.62",
    "aws-cli",
    basicAuth("AWS", ecr.password),
  );
  expect(pushed.response.status).toBe(201);
  configuratorDigest = pushed.digest;
});

afterAll(async () => {
  await ecr?.stop();
  await registry?.stop();
});

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "ecr-mirror-node-scripts-"));
  writeTemplates(ecr.proxyEndpoint);
  mkdirSync(join(work, "certs.d"));
  writeFileSync(join(work, "configure.sh"), CONFIGURE_SCRIPT);
  writeFileSync(join(work, "ready.sh"), READY_SCRIPT);
  const bin = join(work, "bin");
  mkdirSync(bin);
  for (const tool of IMAGE_TOOLS) {
    const found = ["/usr/bin", "/bin"]
      .map((d) => join(d, tool))
      .find((p) => statSync(p, { throwIfNoEntry: false }));
    if (!found) throw new Error(`${tool} is not installed`);
    symlinkSync(found, join(bin, tool));
  }
  writeFileSync(join(work, "token.sh"), `#!/bin/sh\nexec cat ${JSON.stringify(join(work, "token.txt"))}\n`, {
    mode: 0o755,
  });
  setToken(ecr.token);
  hostConfig(NODEADM_V1);
  env = {
    PATH: bin,
    CERTS_DIR: join(work, "certs.d"),
    TEMPLATES_DIR: join(work, "templates"),
    STATE_DIR: join(work, "state"),
    HOST_CONTAINERD_CONFIG: join(work, "config.toml"),
    TOKEN_COMMAND: join(work, "token.sh"),
    PROBE_IMAGE: `${ecr.registryHost}/${configuratorRepository("mirrors")}@${configuratorDigest}`,
    PROBE_SOURCE: CONFIGURATOR_SOURCE,
    CONTAINERD_VERSION: "1.7.27",
    // No Kubernetes API unless a test starts one.
    SA_DIR: join(work, "no-serviceaccount"),
    NOW: String(T0),
  };
});

afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("configure.sh", () => {
  it("writes every hosts.toml with the token in the Authorization header, mode 0600, atomically", async () => {
    const result = await configure();
    expect(result.code).toBe(0);
    for (const name of ["docker.io", "quay.io", "localhost_5000_", "public.ecr.aws"]) {
      const text = readFileSync(certs(name), "utf8");
      expect(statSync(certs(name)).mode & 0o777).toBe(0o600);
      const toml = parseToml(text) as Table;
      expect(toml.header).toEqual({ Authorization: `Basic ${ecr.token}` });
      for (const host of Object.values(toml.host as Table)) {
        expect(host.header).toEqual({ Authorization: `Basic ${ecr.token}` });
      }
      expect(text).not.toContain("@ECR_TOKEN@");
      // Nothing else changed in the template.
      const template = readFileSync(join(work, "templates", name, "hosts.toml"), "utf8");
      expect(text).toBe(template.replaceAll("@ECR_TOKEN@", ecr.token));
    }
    // No temporary file left behind; the token is never logged.
    expect((await readdir(join(work, "certs.d", "docker.io"))).sort()).toEqual(["hosts.toml"]);
    expect(result.stderr).toContain("wrote 4 hosts.toml file(s)");
    expect(result.stderr).not.toContain(ecr.token);
  });

  it("replaces the file by rename on refresh (containerd never reads half a file)", async () => {
    expect((await configure()).code).toBe(0);
    const before = statSync(certs("docker.io")).ino;
    setToken(WRONG_TOKEN);
    expect((await configure({ NOW: String(T0 + 6 * 3600) })).code).toBe(0);
    const after = readFileSync(certs("docker.io"), "utf8");
    expect(after).toContain(`Basic ${WRONG_TOKEN}`);
    expect(after).not.toContain(ecr.token);
    expect(statSync(certs("docker.io")).ino).not.toBe(before);
    expect(statSync(certs("docker.io")).mode & 0o777).toBe(0o600);
  });

  it("refreshes on its own every REFRESH_SECONDS, and stops at once on SIGTERM", async () => {
    const child = spawn("sh", [join(work, "configure.sh")], {
      env: { ...env, NOW: "", REFRESH_SECONDS: "1", CLEANUP_ON_TERM: "never" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      const until = Date.now() + 8000;
      const has = (token: string) => {
        try {
          return readFileSync(certs("quay.io"), "utf8").includes(token);
        } catch {
          return false;
        }
      };
      while (!has(ecr.token) && Date.now() < until) await sleep(50);
      expect(has(ecr.token)).toBe(true);
      setToken(WRONG_TOKEN);
      while (!has(WRONG_TOKEN) && Date.now() < until) await sleep(50);
      expect(has(WRONG_TOKEN)).toBe(true);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      const stoppedAt = Date.now();
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(2000);
      // CLEANUP_ON_TERM=never: the files stay (a rolling update's next pod rewrites them).
      expect(has(WRONG_TOKEN)).toBe(true);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("writes nothing when the token cannot be fetched, and says what the node needs", async () => {
    writeFileSync(join(work, "token.sh"), "#!/bin/sh\necho 'AccessDenied' >&2\nexit 255\n", { mode: 0o755 });
    const result = await configure();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("AmazonEC2ContainerRegistryPullOnly");
    expect(exists(certs("docker.io"))).toBe(false);
    expect((await ready()).stdout).toMatch(/^NOT READY: .*docker\.io\/hosts\.toml does not exist yet/);
  });

  it.each([
    ["None", "None", "the AWS CLI printed None instead of a registry token"],
    ["null", "null", "the AWS CLI printed null instead of a registry token"],
    ["empty", "\n", "the registry token is empty"],
    ["not base64 (no TOML injection)", 'x"\n[host."https://evil.example"]\n', "not base64"],
    [
      "base64, but not of AWS:<password>",
      Buffer.from("admin:secret").toString("base64"),
      "not base64 of AWS:",
    ],
    ["AWS: with no password", Buffer.from("AWS:").toString("base64"), "not base64 of AWS:"],
  ])("refuses a token that is %s, and writes nothing", async (_, token, message) => {
    setToken(token);
    const result = await configure();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
    expect(exists(certs("docker.io"))).toBe(false);
    expect(exists(join(work, "state", "token-written-at"))).toBe(false);
  });

  it("never replaces a good file with a refused token: the last good token stays", async () => {
    expect((await configure()).code).toBe(0);
    setToken("None");
    expect((await configure({ NOW: String(T0 + 6 * 3600) })).code).toBe(1);
    const text = readFileSync(certs("docker.io"), "utf8");
    expect(text).toContain(`Basic ${ecr.token}`);
    expect(text).not.toContain("Basic None");
  });

  it("removes files it wrote for registries no longer redirected, and leaves other files alone", async () => {
    expect((await configure()).code).toBe(0);
    mkdirSync(join(work, "certs.d", "ghcr.io"));
    writeFileSync(certs("ghcr.io"), 'server = "https://ghcr.io"\n');
    rmSync(join(work, "templates", "quay.io"), { recursive: true });
    expect((await configure()).code).toBe(0);
    expect(exists(certs("quay.io"))).toBe(false);
    expect(readFileSync(certs("ghcr.io"), "utf8")).toBe('server = "https://ghcr.io"\n');
    expect(readFileSync(certs("docker.io"), "utf8")).toContain(ecr.token);
  });

  it("never overwrites a hosts.toml it did not write, and readiness names that file", async () => {
    const own =
      '# my own mirror\nserver = "https://registry-1.docker.io"\n[host."https://mirror.example.com"]\ncapabilities = ["pull"]\n';
    mkdirSync(join(work, "certs.d", "docker.io"));
    writeFileSync(certs("docker.io"), own);
    const result = await configure();
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`left ${certs("docker.io")} alone: ecr-mirror did not write it`);
    expect(readFileSync(certs("docker.io"), "utf8")).toBe(own);
    expect(readFileSync(certs("quay.io"), "utf8")).toContain(ecr.token);
    const verdict = await ready();
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toBe(
      `NOT READY: ${certs("docker.io")} was not written by ecr-mirror (its first line is not "${GENERATED_MARKER}") and is left as it is, so pulls of docker.io do not go to the mirror. Fix: remove the file (ecr-mirror then writes its own), or stop redirecting docker.io in the mirror list\n`,
    );
    // The user removes it: the next pass writes ecr-mirror's own, and the node is ready.
    rmSync(certs("docker.io"));
    expect((await configure()).code).toBe(0);
    expect((await ready()).stdout).toMatch(/^ready: /);
  });

  it("detects Spegel (its _backup folder and its own hosts.toml) and says what it does to the redirect", async () => {
    expect((await configure()).code).toBe(0);
    // What Spegel does at its start (pkg/oci/containerd/mirror.go): move everything to _backup,
    // write its own file; with prependExisting, ecr-mirror's host entry (token included) below its own.
    const certsDir = join(work, "certs.d");
    mkdirSync(join(certsDir, "_backup"));
    for (const name of readdirSync(certsDir).filter((n) => n !== "_backup")) {
      rmSync(join(certsDir, "_backup", name), { recursive: true, force: true });
      const from = join(certsDir, name);
      const to = join(certsDir, "_backup", name);
      mkdirSync(to);
      writeFileSync(join(to, "hosts.toml"), readFileSync(join(from, "hosts.toml")));
      rmSync(from, { recursive: true });
    }
    mkdirSync(join(certsDir, "docker.io"));
    writeFileSync(
      certs("docker.io"),
      `server = 'https://registry-1.docker.io'\n\n[host.'http://10.0.0.1:30020']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'\n\n[host.'${ecr.proxyEndpoint}/v2/mirrors']\ncapabilities = ['pull', 'resolve']\noverride_path = true\n[host.'${ecr.proxyEndpoint}/v2/mirrors'.header]\nAuthorization = 'Basic ${ecr.token}'\n`,
    );
    const result = await configure();
    expect(result.stderr).toContain(`left ${certs("docker.io")} alone`);
    expect(readFileSync(certs("docker.io"), "utf8")).toContain("dial_timeout");
    const verdict = await ready();
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toMatch(
      /^NOT READY: Spegel manages .*certs\.d: .*pulls of docker\.io try Spegel's peers and then docker\.io itself, not the mirror; with prependExisting .*expires within 12 h.*Fix: leave docker\.io out of Spegel's mirroredRegistries, or label the node ecr-mirror\/skip\n$/,
    );
    // Removal also takes ecr-mirror's files out of Spegel's backup (Spegel would restore them, with
    // an expired token, when it is removed), and leaves Spegel's own file.
    expect((await cleanup()).code).toBe(0);
    expect(exists(join(certsDir, "_backup", "quay.io", "hosts.toml"))).toBe(false);
    expect(readFileSync(certs("docker.io"), "utf8")).toContain("dial_timeout");
  });

  it("removes the startup taint with kubectl once the files are written", async () => {
    const record = join(work, "kubectl-args");
    // A stand-in for kubectl (no API server here): records its arguments, as kubectl succeeds.
    writeFileSync(
      join(work, "bin", "kubectl"),
      `#!/bin/sh\nprintf '%s\\n' "$@" > ${JSON.stringify(record)}\n`,
      {
        mode: 0o755,
      },
    );
    const taint = { STARTUP_TAINT: "ecr-mirror/not-ready:NoSchedule", NODE_NAME: "ip-10-0-0-1.ec2.internal" };
    expect((await configure(taint)).code).toBe(0);
    expect(readFileSync(record, "utf8").split("\n")).toEqual([
      "taint",
      "nodes",
      "ip-10-0-0-1.ec2.internal",
      "ecr-mirror/not-ready:NoSchedule-",
      "",
    ]);
    expect((await ready(taint)).code).toBe(0);
  });

  it("keeps the pod unready when the startup taint cannot be removed (no kubectl in the image)", async () => {
    const taint = { STARTUP_TAINT: "ecr-mirror/not-ready:NoSchedule", NODE_NAME: "node-1" };
    const result = await configure(taint);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("has no kubectl");
    expect((await ready(taint)).stdout).toMatch(
      /^NOT READY: the startup taint ecr-mirror\/not-ready:NoSchedule is still on the node/,
    );
  });
});

describe("removal", () => {
  it("`configure.sh cleanup` removes only the files ecr-mirror wrote, their temporary files and empty folders", async () => {
    expect((await configure()).code).toBe(0);
    // A user's file in a folder of its own, and a user's certificate beside ecr-mirror's file.
    mkdirSync(join(work, "certs.d", "ghcr.io"));
    writeFileSync(certs("ghcr.io"), 'server = "https://ghcr.io"\n');
    writeFileSync(join(work, "certs.d", "quay.io", "ca.crt"), "a certificate");
    writeFileSync(join(work, "certs.d", "docker.io", ".hosts.toml.AbC123"), `Basic ${ecr.token}`);
    const result = await cleanup();
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("removed 4 hosts.toml file(s) ecr-mirror wrote");
    expect(readdirSync(join(work, "certs.d")).sort()).toEqual(["ghcr.io", "quay.io"]);
    expect(readdirSync(join(work, "certs.d", "quay.io"))).toEqual(["ca.crt"]);
    expect(readFileSync(certs("ghcr.io"), "utf8")).toBe('server = "https://ghcr.io"\n');
    // Readiness now says so (the pod of a cleaned-up node is not serving the redirect).
    expect((await ready()).stdout).toMatch(/^NOT READY: .*does not exist yet/);
  });

  it("the documented one-shot command does the same from a debug pod (the node's root at /host)", async () => {
    expect((await configure()).code).toBe(0);
    mkdirSync(join(work, "certs.d", "ghcr.io"));
    writeFileSync(certs("ghcr.io"), 'server = "https://ghcr.io"\n');
    writeFileSync(join(work, "certs.d", "docker.io", ".hosts.toml.AbC123"), `Basic ${ecr.token}`);
    const command = nodeCleanupCommand("123.dkr.ecr.us-east-1.amazonaws.com/mirrors/x@sha256:ab");
    expect(command).toBe(
      `kubectl debug node/NODE_NAME --profile=sysadmin --attach --image=123.dkr.ecr.us-east-1.amazonaws.com/mirrors/x@sha256:ab -- sh -c '${CLEANUP_ONE_LINER}'`,
    );
    // The shell text inside the single quotes, run as the debug pod would, with /host at `work`.
    const inner = command.slice(command.indexOf("sh -c '") + 7, -1).replaceAll("/host/etc/containerd", work);
    const result = await new Promise<Run>((resolve) =>
      execFile("sh", ["-c", inner], { env: { PATH: env.PATH } }, (error, stdout, stderr) =>
        resolve({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split("\n")).toHaveLength(4);
    expect(exists(certs("docker.io"))).toBe(false);
    expect(exists(join(work, "certs.d", "docker.io", ".hosts.toml.AbC123"))).toBe(false);
    expect(readFileSync(certs("ghcr.io"), "utf8")).toBe('server = "https://ghcr.io"\n');
  });

  it("SIGTERM during a write leaves no temporary file (they hold the token) and no partial hosts.toml", async () => {
    expect((await configure()).code).toBe(0);
    const before = readFileSync(certs("docker.io"), "utf8");
    // A slow awk (the tool that writes the temporary file): the signal lands mid-write.
    const awk = join(work, "bin", "awk");
    const realAwk = join(work, "bin", "awk.real");
    symlinkSync("/usr/bin/awk", realAwk);
    rmSync(awk);
    writeFileSync(awk, `#!/bin/sh\nsleep 1\nexec ${JSON.stringify(realAwk)} "$@"\n`);
    chmodSync(awk, 0o755);
    setToken(WRONG_TOKEN);
    const child = spawn("sh", [join(work, "configure.sh")], {
      env: { ...env, CLEANUP_ON_TERM: "never" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      const temporaries = () =>
        readdirSync(join(work, "certs.d"), { recursive: true }).filter((p) =>
          String(p).includes(".hosts.toml."),
        );
      const until = Date.now() + 8000;
      while (temporaries().length === 0 && Date.now() < until) await sleep(20);
      expect(temporaries()).toHaveLength(1);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(temporaries()).toEqual([]);
      // The file being written is the old one or the new one, whole.
      const after = readFileSync(certs("docker.io"), "utf8");
      expect([before, before.replaceAll(ecr.token, WRONG_TOKEN)]).toContain(after);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

/** A local stand-in for the Kubernetes API server (HTTPS, bearer token), answering two objects. */
interface FakeApi {
  server: HttpsServer;
  port: number;
  node: Table | null;
  daemonSet: Table | null;
  requests: string[];
}

async function startFakeApi(saToken: string): Promise<FakeApi> {
  const api: FakeApi = {
    server: undefined as unknown as HttpsServer,
    port: 0,
    node: null,
    daemonSet: null,
    requests: [],
  };
  api.server = createHttpsServer(
    {
      cert: readFileSync(join(FIXTURES, "tls", "cert.pem")),
      key: readFileSync(join(FIXTURES, "tls", "key.pem")),
    },
    (req, res) => {
      api.requests.push(`${req.method} ${req.url}`);
      if (req.headers.authorization !== `Bearer ${saToken}`) {
        res.writeHead(401).end("{}");
        return;
      }
      const object =
        req.url === "/api/v1/nodes/node-1"
          ? api.node
          : req.url === "/apis/apps/v1/namespaces/kube-system/daemonsets/ecr-mirror-node"
            ? api.daemonSet
            : null;
      if (!object) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"kind":"Status","code":404}');
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(object));
    },
  );
  await new Promise<void>((resolve) => api.server.listen(0, "127.0.0.1", resolve));
  api.port = (api.server.address() as AddressInfo).port;
  return api;
}

const nodeObject = (labels: Record<string, string>, runtime = "containerd://1.7.27") => ({
  kind: "Node",
  metadata: {
    name: "node-1",
    labels: { "kubernetes.io/os": "linux", ...labels },
    managedFields: [{ fieldsV1: { "f:metadata": { "f:labels": { [`f:${SKIP_LABEL}`]: {} } } } }],
  },
  status: { nodeInfo: { containerRuntimeVersion: runtime, kubeletVersion: "v1.33.1" } },
});

describe("removal on pod termination", () => {
  let api: FakeApi;
  let apiEnv: Record<string, string>;

  beforeEach(async () => {
    const sa = join(work, "serviceaccount");
    mkdirSync(sa);
    writeFileSync(join(sa, "token"), "sa-token-123");
    writeFileSync(join(sa, "ca.crt"), readFileSync(join(FIXTURES, "tls", "cert.pem")));
    api = await startFakeApi("sa-token-123");
    apiEnv = {
      SA_DIR: sa,
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: String(api.port),
      NODE_NAME: "node-1",
    };
  });
  afterEach(async () => {
    await new Promise((resolve) => api.server.close(resolve));
  });

  async function terminate(extra: Record<string, string> = {}): Promise<void> {
    rmSync(join(work, "state", "token-written-at"), { force: true });
    const child = spawn("sh", [join(work, "configure.sh")], {
      env: { ...env, ...apiEnv, NOW: "", ...extra },
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      const until = Date.now() + 8000;
      while (!existsSync(join(work, "state", "token-written-at")) && Date.now() < until) await sleep(20);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }

  it("cleans up when the node was labelled ecr-mirror/skip (the DaemonSet pod leaves that node)", async () => {
    api.node = nodeObject({ [SKIP_LABEL]: "true" });
    api.daemonSet = { kind: "DaemonSet", metadata: { name: "ecr-mirror-node" } };
    await terminate();
    expect(exists(certs("docker.io"))).toBe(false);
    expect(api.requests).toContain("GET /api/v1/nodes/node-1");
  });

  it("cleans up when the DaemonSet is gone or being deleted", async () => {
    api.node = nodeObject({});
    api.daemonSet = null;
    await terminate();
    expect(exists(certs("docker.io"))).toBe(false);
    expect(api.requests).toContain("GET /apis/apps/v1/namespaces/kube-system/daemonsets/ecr-mirror-node");

    api.daemonSet = {
      kind: "DaemonSet",
      metadata: { name: "ecr-mirror-node", deletionTimestamp: "2026-12-01T00:00:00Z" },
    };
    await terminate();
    expect(exists(certs("docker.io"))).toBe(false);
  });

  it("keeps the files in a rolling update (the DaemonSet stays, the node is not skipped)", async () => {
    api.node = nodeObject({});
    api.daemonSet = { kind: "DaemonSet", metadata: { name: "ecr-mirror-node" } };
    await terminate();
    expect(readFileSync(certs("docker.io"), "utf8")).toContain(ecr.token);
  });

  it("keeps the files when the API cannot be asked, and cleans up with CLEANUP_ON_TERM=always", async () => {
    api.node = nodeObject({ [SKIP_LABEL]: "true" });
    await terminate({ KUBERNETES_SERVICE_PORT: "1" });
    expect(readFileSync(certs("docker.io"), "utf8")).toContain(ecr.token);
    await terminate({ KUBERNETES_SERVICE_PORT: "1", CLEANUP_ON_TERM: "always" });
    expect(exists(certs("docker.io"))).toBe(false);
  });

  it("readiness asks the Node object for the containerd version when none is given", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(NODEADM_V1);
    api.node = nodeObject({}, "containerd://2.1.4");
    const verdict = await ready({ ...apiEnv, CONTAINERD_VERSION: "" });
    expect(verdict.stdout).toMatch(/^NOT READY: containerd 2\.1\.4 runs with a version 2 config file/);
    // Asked once per pod (the state folder keeps it).
    api.node = nodeObject({}, "containerd://1.7.27");
    expect((await ready({ ...apiEnv, CONTAINERD_VERSION: "" })).stdout).toMatch(/containerd 2\.1\.4/);
    rmSync(join(work, "state", "containerd-version"));
    expect((await ready({ ...apiEnv, CONTAINERD_VERSION: "" })).stdout).toMatch(
      /^ready: .*containerd 1\.7\.27 reads/,
    );
  });
});

describe("ready.sh: the host's containerd configuration", () => {
  const fixV2 = CERTS_PATH_FIX.v2;
  const fixV3 = CERTS_PATH_FIX.v3;

  it.each([
    [
      "nodeadm's containerd 1.7 output (version 2, discard_unpacked_layers false, two folders)",
      NODEADM_V1,
      "1.7.27",
    ],
    ["nodeadm's containerd 1.7 output before Kubernetes 1.32", NODEADM_V1_PRE_132, "1.7.27"],
    [
      "nodeadm's containerd 2 output (version 3, discard_unpacked_layers true, two folders)",
      NODEADM_V3,
      "2.1.4",
    ],
    [
      "nodeadm's containerd 2 output from a v2 part on containerd 2.0 (no transfer-service pulls)",
      NODEADM_V3_FROM_V2_PART,
      "2.0.5",
    ],
    ["containerd 2.1 with one folder and discard_unpacked_layers false", NODEADM_V3_ONE_FOLDER, "2.1.4"],
    [
      "containerd 2.1 with two folders and use_local_image_pull",
      NODEADM_V3_FROM_V2_PART.replace(
        "discard_unpacked_layers = false",
        "discard_unpacked_layers = false\n    use_local_image_pull = true",
      ),
      "2.1.4",
    ],
    [
      "a drop-in (imports) without registry settings",
      `imports = ["/etc/containerd/conf.d/*.toml"]\n${NODEADM_V1}`,
      "1.7.27",
    ],
  ])("READY: %s", async (_, config, version) => {
    expect((await configure()).code).toBe(0);
    mkdirSync(join(work, "conf.d"));
    writeFileSync(
      join(work, "conf.d", "10-runtime.toml"),
      "version = 2\n[plugins.'io.containerd.grpc.v1.cri']\nenable_cdi = true\n",
    );
    hostConfig(config);
    const verdict = await ready({ CONTAINERD_VERSION: version });
    expect(verdict.stdout).toMatch(
      new RegExp(`^ready: .*containerd ${version.replaceAll(".", "\\.")} reads /etc/containerd/certs\\.d`),
    );
    expect(verdict.code).toBe(0);
  });

  it.each([
    [
      "nodeadm's containerd 2 output from a v2 part on containerd 2.1 (transfer service, two folders: containerd#12415)",
      NODEADM_V3_FROM_V2_PART,
      "2.1.4",
      /^NOT READY: containerd 2\.1\.4 with config_path = "\/etc\/containerd\/certs\.d:\/etc\/docker\/certs\.d" \(several folders\) and discard_unpacked_layers = false pulls through its transfer service.*containerd#12415/,
      fixV3,
    ],
    [
      "the same with no containerd version known (assumed 2.1 or later)",
      NODEADM_V3_FROM_V2_PART,
      "",
      /^NOT READY: containerd 2\.x \(config version 3\) with config_path .*containerd#12415/,
      fixV3,
    ],
    [
      "a version 2 config file on containerd 2",
      NODEADM_V1,
      "2.1.4",
      /^NOT READY: containerd 2\.1\.4 runs with a version 2 config file/,
      fixV3,
    ],
    [
      "config_path under io.containerd.grpc.v1.cri in a version 3 file",
      "version = 3\n[plugins.'io.containerd.cri.v1.images']\ndiscard_unpacked_layers = true\n[plugins.'io.containerd.grpc.v1.cri'.registry]\nconfig_path = '/etc/containerd/certs.d'\n",
      "2.1.4",
      /^NOT READY: .* is a version 3 file with config_path under io\.containerd\.grpc\.v1\.cri, where containerd 2 does not look/,
      fixV3,
    ],
    [
      "no config_path on containerd 1.7",
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "runc"\n',
      "1.7.27",
      /^NOT READY: the host's containerd configuration sets no registry config_path, so containerd 1\.7\.27 ignores/,
      fixV2,
    ],
    [
      "no config_path on containerd 2",
      "version = 3\n[plugins.'io.containerd.cri.v1.images']\ndiscard_unpacked_layers = true\n",
      "2.1.4",
      /^NOT READY: .*sets no registry config_path, so containerd 2\.1\.4 ignores/,
      fixV3,
    ],
    [
      "the transfer service's own config_path (not the CRI's)",
      "version = 3\n[plugins.'io.containerd.transfer.v1.local']\nconfig_path = '/etc/containerd/certs.d'\n",
      "2.1.4",
      /sets no registry config_path/,
      fixV3,
    ],
    [
      "a config_path without certs.d",
      'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/etc/docker/certs.d"\n',
      "2.1.4",
      /^NOT READY: containerd reads hosts\.toml from "\/etc\/docker\/certs\.d", not from \/etc\/containerd\/certs\.d/,
      fixV3,
    ],
    [
      "a drop-in (imports) that sets registry configuration",
      `imports = ["/etc/containerd/conf.d/*.toml"]\n${NODEADM_V1}`,
      "1.7.27",
      /^NOT READY: the drop-in \/etc\/containerd\/conf\.d\/50-registry\.toml \(imports in config\.toml\) sets registry configuration/,
      fixV2,
    ],
  ])("NOT READY: %s, with the fix for that version", async (_, config, version, verdict, fix) => {
    expect((await configure()).code).toBe(0);
    mkdirSync(join(work, "conf.d"));
    writeFileSync(
      join(work, "conf.d", "50-registry.toml"),
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\nendpoint = ["https://mirror.example.com"]\n',
    );
    hostConfig(config);
    const result = await ready({ CONTAINERD_VERSION: version });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(verdict);
    expect(result.stdout).toContain(fix);
  });

  it("READY on nodeadm's stock outputs when the containerd version is unknown (told by the file version)", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(NODEADM_V1);
    expect((await ready({ CONTAINERD_VERSION: "" })).stdout).toMatch(
      /^ready: .*containerd 1\.x \(config version 2\) reads/,
    );
    hostConfig(NODEADM_V3);
    expect((await ready({ CONTAINERD_VERSION: "" })).stdout).toMatch(
      /^ready: .*containerd 2\.x \(config version 3\) reads/,
    );
  });

  it("reads a version 1 file's short plugin names (containerd 1.x)", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig('[plugins.cri.registry]\nconfig_path = "/etc/containerd/certs.d"\n');
    expect((await ready()).stdout).toMatch(/^ready: /);
    hostConfig('[plugins.cri.registry]\nconfig_path = "/etc/docker/certs.d"\n');
    expect((await ready()).stdout).toMatch(
      /^NOT READY: containerd reads hosts\.toml from "\/etc\/docker\/certs\.d"/,
    );
  });

  it("NOT READY: SOCI (nodeadm's FastImagePull), saying that layers bypass the mirror", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(
      `${NODEADM_V3.replace("discard_unpacked_layers = true", "discard_unpacked_layers = true\nsnapshotter = 'soci'")}\n[proxy_plugins.soci]\ntype = 'snapshot'\naddress = '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock'\n`,
    );
    const result = await ready({ CONTAINERD_VERSION: "2.1.4" });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^NOT READY: containerd uses the SOCI snapshotter \(nodeadm's FastImagePull feature gate\): SOCI fetches image layers .* bypass the mirror .*Fix: remove FastImagePull/,
    );
  });

  it("the fix it names makes the node READY once nodeadm merged it (v3 key, one folder)", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(NODEADM_V3_FROM_V2_PART);
    const before = await ready({ CONTAINERD_VERSION: "2.1.4" });
    expect(before.stdout).toContain(fixV3);
    // nodeadm merges the part's table over its template: the key the fix names replaces the value.
    const key = fixV3.match(/config_path = "([^"]+)"/)![1];
    hostConfig(NODEADM_V3_FROM_V2_PART.replace(/config_path = '[^']*'/, `config_path = '${key}'`));
    expect((await ready({ CONTAINERD_VERSION: "2.1.4" })).stdout).toMatch(/^ready: /);
  });

  it("fails when the configuration cannot be read", async () => {
    expect((await configure()).code).toBe(0);
    rmSync(join(work, "config.toml"));
    expect((await ready()).stdout).toMatch(/^NOT READY: cannot read the host's containerd configuration/);
  });
});

describe("ready.sh: the token and the mirror", () => {
  it("fails once the token is older than 11 hours, and passes just before", async () => {
    expect((await configure()).code).toBe(0);
    expect((await ready({ NOW: String(T0 + MAX_TOKEN_AGE_SECONDS) })).code).toBe(0);
    const stale = await ready({ NOW: String(T0 + MAX_TOKEN_AGE_SECONDS + 60) });
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/^NOT READY: the registry token is 11 h old .*ecr:GetAuthorizationToken/);
  });

  it("fails before the first token is written", async () => {
    const result = await ready();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^NOT READY: /);
  });

  it("asks the mirror what containerd would: the /v2/ ping and the configurator's manifest under the prefix, with the token", async () => {
    expect((await configure()).code).toBe(0);
    ecr.resetCounts();
    const result = await ready();
    expect(result.stdout).toMatch(/^ready: .*the mirror answers with the token \(checked 0 s ago\)/);
    const requests = ecr.gateRequests();
    expect(requests.map((r) => [r.kind, r.path, r.status, r.authorized])).toEqual([
      ["ping", "/v2/", 200, true],
      [
        "manifest-head",
        `/v2/mirrors/public.ecr.aws/aws-cli/aws-cli/manifests/${configuratorDigest}`,
        200,
        true,
      ],
    ]);
  });

  it("reuses a passed check for PROBE_SECONDS, and asks again when the token changes", async () => {
    expect((await configure()).code).toBe(0);
    expect((await ready()).code).toBe(0);
    ecr.resetCounts();
    const cached = await ready({ NOW: String(T0 + PROBE_SECONDS - 1) });
    expect(cached.stdout).toMatch(/checked 299 s ago/);
    expect(ecr.gateRequests()).toEqual([]);
    expect((await ready({ NOW: String(T0 + PROBE_SECONDS) })).code).toBe(0);
    expect(ecr.gateRequests()).toHaveLength(2);
    // A refresh with a token the mirror refuses is caught at the next call, cache or not.
    setToken(WRONG_TOKEN);
    expect((await configure({ NOW: String(T0 + PROBE_SECONDS + 10) })).code).toBe(0);
    expect((await ready({ NOW: String(T0 + PROBE_SECONDS + 11) })).code).toBe(1);
  });

  it("NOT READY with a wrong or expired token (the mirror refuses it), retried on every call", async () => {
    setToken(WRONG_TOKEN);
    expect((await configure()).code).toBe(0);
    ecr.resetCounts();
    for (let i = 0; i < 2; i++) {
      const result = await ready();
      expect(result.code).toBe(1);
      expect(result.stdout).toBe(
        `NOT READY: the mirror refused the registry token in ${certs("docker.io")} (HTTP 401 to ${ecr.proxyEndpoint}/v2/): the token is wrong or expired, see this pod's log\n`,
      );
    }
    expect(ecr.gateRequests()).toHaveLength(2);
    expect(ecr.gateRequests().every((r) => r.kind === "ping" && r.status === 401)).toBe(true);
  });

  it("NOT READY with a wrong prefix: the configurator's manifest is not where the hosts.toml sends it", async () => {
    writeTemplates(ecr.proxyEndpoint, "mirrorz/public.ecr.aws");
    expect((await configure()).code).toBe(0);
    const result = await ready();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      `NOT READY: the mirror has no configurator image at ${ecr.proxyEndpoint}/v2/mirrorz/public.ecr.aws/aws-cli/aws-cli/manifests/${configuratorDigest} (HTTP 404): the prefix in ${certs("public.ecr.aws")} does not lead to the mirrored images (render again and apply), or the image was deleted from the mirror\n`,
    );
  });

  it("without a redirect of the configurator's own registry, asks for it by its mirror name", async () => {
    rmSync(join(work, "templates", "public.ecr.aws"), { recursive: true });
    expect((await configure()).code).toBe(0);
    ecr.resetCounts();
    expect((await ready()).code).toBe(0);
    expect(ecr.gateRequests().map((r) => r.path)).toContain(
      `/v2/mirrors/public.ecr.aws/aws-cli/aws-cli/manifests/${configuratorDigest}`,
    );
  });

  describe("an unreachable or silent mirror", () => {
    let silent: TcpServer;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      silent = createTcpServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it("NOT READY naming the endpoint when nothing listens (a missing VPC endpoint)", async () => {
      const closed = await new Promise<number>((resolve) => {
        const probe = createTcpServer();
        probe.listen(0, "127.0.0.1", () => {
          const { port } = probe.address() as AddressInfo;
          probe.close(() => resolve(port));
        });
      });
      writeTemplates(`http://127.0.0.1:${closed}`);
      expect((await configure()).code).toBe(0);
      const result = await ready();
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        new RegExp(
          `^NOT READY: cannot reach the mirror at http://127\\.0\\.0\\.1:${closed}/v2/ \\(curl: .*\\): .*ecr\\.dkr interface endpoint`,
        ),
      );
    });

    it("NOT READY within the time bound when the mirror accepts and never answers", async () => {
      writeTemplates(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      expect((await configure()).code).toBe(0);
      const started = Date.now();
      const result = await ready({ HTTP_TIMEOUT: "1" });
      const took = Date.now() - started;
      expect(result.stdout).toMatch(/^NOT READY: cannot reach the mirror at .*timed out/);
      expect(took).toBeLessThan(4000);
    });
  });
});

describe("the DaemonSet runs the probe as tested", () => {
  it("passes its own image as PROBE_IMAGE and gives the probe time for its bounded requests", () => {
    const result = renderNodeConfig(mirrorList([upstream("docker.io", "mirrors")]), {
      registry: null,
      region: null,
      configuratorImage: {
        repository: configuratorRepository("mirrors"),
        digest: `sha256:${"ab".repeat(32)}`,
      },
    });
    if (!result.ok) throw new Error("render failed");
    const manifests = result.files.find((f) => f.path === "ecr-mirror-node.yaml")!.content;
    const daemonSet = parseAllDocuments(manifests)
      .map((d) => d.toJS() as Table)
      .find((o) => o.kind === "DaemonSet")!;
    const container = daemonSet.spec.template.spec.containers[0];
    expect(container.env).toContainEqual({ name: "PROBE_IMAGE", value: container.image });
    expect(container.readinessProbe.timeoutSeconds).toBeGreaterThan(3 * HTTP_TIMEOUT_SECONDS);
  });
});
