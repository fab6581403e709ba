// The DaemonSet's scripts, run for real with dash (/bin/sh) against temporary folders standing in
// for the host paths, with a stand-in token program instead of the AWS CLI. PATH holds only the
// tools the scripts may use, so this also pins what the configurator image must contain.
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderNodeConfig } from "../../src/render/index.js";
import { containerdConfigPatch } from "../../src/render/node-config.js";
import { CONFIGURE_SCRIPT, MAX_TOKEN_AGE_SECONDS, READY_SCRIPT } from "../../src/render/node-scripts.js";
import { CONFIGURATOR, mirrorList, upstream } from "./fixtures.js";

/** What the configurator image must provide besides the AWS CLI (and kubectl for the startup taint). */
const IMAGE_TOOLS = [
  "sh",
  "awk",
  "basename",
  "cat",
  "chmod",
  "date",
  "dirname",
  "grep",
  "head",
  "mkdir",
  "mktemp",
  "mv",
  "rm",
  "sed",
  "sleep",
];

const TOKEN_A = Buffer.from("AWS:first-password").toString("base64");
const TOKEN_B = Buffer.from("AWS:second-password").toString("base64");
const T0 = 1_800_000_000;

// Configs as EKS AL2023 nodes have them (nodeadm's config.template.toml / config2.template.toml).
const EKS_V2 = `version = 2
root = "/var/lib/containerd"
[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "runc"
discard_unpacked_layers = true
[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"
`;
const EKS_V3 = `version = 3
root = "/var/lib/containerd"
[plugins.'io.containerd.cri.v1.images']
discard_unpacked_layers = true
[plugins."io.containerd.cri.v1.images".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"
[plugins.'io.containerd.cri.v1.runtime'.containerd]
default_runtime_name = "runc"
`;
/** containerd 2.1+ pulling through the transfer service (containerd#12415's reproduction). */
const V3_TRANSFER = EKS_V3.replace("discard_unpacked_layers = true", "discard_unpacked_layers = false");

// biome-ignore lint/suspicious/noExplicitAny: TOML tables merged generically.
type Table = Record<string, any>;
function deepMerge(base: Table, patch: Table): Table {
  const out: Table = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && typeof out[key] === "object"
        ? deepMerge(out[key], value)
        : value;
  }
  return out;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let env: Record<string, string>;

function run(script: string, extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      "sh",
      [join(work, script)],
      { env: { ...env, ...extra }, timeout: 10_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
const configure = (extra: Record<string, string> = {}) => run("configure.sh", { ONCE: "1", ...extra });
const ready = (extra: Record<string, string> = {}) => run("ready.sh", extra);

function setToken(token: string): void {
  writeFileSync(join(work, "token.txt"), token);
}
const certs = (name: string) => join(work, "certs.d", name, "hosts.toml");
const hostConfig = (text: string) => writeFileSync(join(work, "config.toml"), text);

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "ecr-mirror-node-scripts-"));
  const result = renderNodeConfig(
    mirrorList([
      upstream("docker.io", "mirrors"),
      upstream("quay.io", "mirrors/quay.io"),
      upstream("localhost:5000", "mirrors/lh"),
    ]),
    { registry: null, region: null, configuratorImage: CONFIGURATOR },
  );
  if (!result.ok) throw new Error("render failed");
  for (const file of result.files.filter((f) => f.path.startsWith("hosts/"))) {
    const path = join(work, "templates", file.path.slice("hosts/".length));
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, file.content);
  }
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
  setToken(TOKEN_A);
  hostConfig(EKS_V2);
  env = {
    PATH: bin,
    CERTS_DIR: join(work, "certs.d"),
    TEMPLATES_DIR: join(work, "templates"),
    STATE_DIR: join(work, "state"),
    HOST_CONTAINERD_CONFIG: join(work, "config.toml"),
    TOKEN_COMMAND: join(work, "token.sh"),
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
    for (const name of ["docker.io", "quay.io", "localhost_5000_"]) {
      const text = readFileSync(certs(name), "utf8");
      expect(statSync(certs(name)).mode & 0o777).toBe(0o600);
      const toml = parseToml(text) as Table;
      expect(toml.header).toEqual({ Authorization: `Basic ${TOKEN_A}` });
      for (const host of Object.values(toml.host as Table)) {
        expect(host.header).toEqual({ Authorization: `Basic ${TOKEN_A}` });
      }
      expect(text).not.toContain("@ECR_TOKEN@");
      // Nothing else changed in the template.
      const template = readFileSync(join(work, "templates", name, "hosts.toml"), "utf8");
      expect(text).toBe(template.replaceAll("@ECR_TOKEN@", TOKEN_A));
    }
    // No temporary file left behind; the token is never logged.
    expect((await readdir(join(work, "certs.d", "docker.io"))).sort()).toEqual(["hosts.toml"]);
    expect(result.stderr).toContain("wrote 3 hosts.toml file(s)");
    expect(result.stderr).not.toContain(TOKEN_A);
  });

  it("replaces the file by rename on refresh (containerd never reads half a file)", async () => {
    expect((await configure()).code).toBe(0);
    const before = statSync(certs("docker.io")).ino;
    setToken(TOKEN_B);
    expect((await configure({ NOW: String(T0 + 6 * 3600) })).code).toBe(0);
    const after = readFileSync(certs("docker.io"), "utf8");
    expect(after).toContain(`Basic ${TOKEN_B}`);
    expect(after).not.toContain(TOKEN_A);
    expect(statSync(certs("docker.io")).ino).not.toBe(before);
    expect(statSync(certs("docker.io")).mode & 0o777).toBe(0o600);
  });

  it("refreshes on its own every REFRESH_SECONDS, and stops at once on SIGTERM", async () => {
    const child = spawn("sh", [join(work, "configure.sh")], {
      env: { ...env, NOW: "", REFRESH_SECONDS: "1" },
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
      while (!has(TOKEN_A) && Date.now() < until) await sleep(50);
      expect(has(TOKEN_A)).toBe(true);
      setToken(TOKEN_B);
      while (!has(TOKEN_B) && Date.now() < until) await sleep(50);
      expect(has(TOKEN_B)).toBe(true);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      const stoppedAt = Date.now();
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(2000);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("writes nothing when the token cannot be fetched, and says what the node needs", async () => {
    writeFileSync(join(work, "token.sh"), "#!/bin/sh\necho 'AccessDenied' >&2\nexit 255\n", { mode: 0o755 });
    const result = await configure();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("AmazonEC2ContainerRegistryPullOnly");
    expect(statSync(certs("docker.io"), { throwIfNoEntry: false })).toBeUndefined();
    expect((await ready()).stdout).toMatch(/^NOT READY: .*docker\.io\/hosts\.toml does not exist yet/);
  });

  it("refuses a token that is not base64 (no TOML injection)", async () => {
    setToken('x"\n[host."https://evil.example"]\n');
    const result = await configure();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not base64");
    expect(statSync(certs("docker.io"), { throwIfNoEntry: false })).toBeUndefined();
  });

  it("removes files it wrote for registries no longer redirected, and leaves other files alone", async () => {
    expect((await configure()).code).toBe(0);
    mkdirSync(join(work, "certs.d", "ghcr.io"));
    writeFileSync(certs("ghcr.io"), 'server = "https://ghcr.io"\n');
    rmSync(join(work, "templates", "quay.io"), { recursive: true });
    expect((await configure()).code).toBe(0);
    expect(statSync(certs("quay.io"), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(certs("ghcr.io"), "utf8")).toBe('server = "https://ghcr.io"\n');
    expect(readFileSync(certs("docker.io"), "utf8")).toContain(TOKEN_A);
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

describe("ready.sh", () => {
  it("passes on an EKS node with containerd 1.7 (config version 2, two folders)", async () => {
    expect((await configure()).code).toBe(0);
    const result = await ready();
    expect(result.stdout).toMatch(/^ready: /);
    expect(result.code).toBe(0);
  });

  it("passes on EKS's containerd 2 config, which pulls locally (discard_unpacked_layers = true)", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(EKS_V3);
    expect((await ready()).code).toBe(0);
  });

  it("fails on containerd 2 pulling through the transfer service with two folders, naming the fix", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(V3_TRANSFER);
    const result = await ready();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^NOT READY: containerd 2\.x .*containerd#12415/);
    expect(result.stdout).toContain("nodeconfig.yaml");
  });

  it("passes on that node once nodeadm merged the rendered NodeConfig into config.toml", async () => {
    expect((await configure()).code).toBe(0);
    const merged = deepMerge(parseToml(V3_TRANSFER) as Table, parseToml(containerdConfigPatch()) as Table);
    hostConfig(stringifyToml(merged));
    const result = await ready();
    expect(result.stdout).toMatch(/^ready: /);
  });

  it("fails when containerd does not read certs.d at all", async () => {
    expect((await configure()).code).toBe(0);
    hostConfig(
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "runc"\n',
    );
    expect((await ready()).stdout).toMatch(/^NOT READY: .*sets no registry config_path.*nodeconfig\.yaml/);
    hostConfig(
      'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/etc/docker/certs.d"\n',
    );
    expect((await ready()).stdout).toMatch(
      /^NOT READY: containerd reads hosts.toml from "\/etc\/docker\/certs.d"/,
    );
    // The transfer service's own config_path is not the CRI's.
    hostConfig(
      'version = 3\n[plugins."io.containerd.transfer.v1.local"]\nconfig_path = "/etc/containerd/certs.d"\n',
    );
    expect((await ready()).stdout).toMatch(/sets no registry config_path/);
    rmSync(join(work, "config.toml"));
    expect((await ready()).stdout).toMatch(/^NOT READY: cannot read the host's containerd configuration/);
  });

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
});
