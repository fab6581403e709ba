// `ecr-mirror render` as a user runs it: offline when the registry and the configurator digest are
// known, otherwise asking the target (the local ECR) for both.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { parse as parseToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { valuesSha256 } from "../../src/render/chart-images.js";
import { CLI, runNode } from "../e2e/bundle.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

const DIGEST = `sha256:${"d".repeat(64)}`;

/** dist/cli.js in `cwd`, with PATH and `env` only. */
const run = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  runNode(CLI, args, { PATH: process.env.PATH, ...env }, cwd);

describe("ecr-mirror render, offline", () => {
  it("writes hosts.toml per upstream, the DaemonSet and its kustomization (no NodeConfig), pinned to the given digest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "render-"));
    writeFileSync(
      join(dir, "mirrors.yaml"),
      `target: { registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com, region: eu-west-1 }\nimages:\n  - redis:7.0\n  - quay.io/org/app:1\n`,
    );
    const r = await run(["render", "--out", "deploy/ecr-mirror", "--configurator-digest", DIGEST], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual(
      expect.arrayContaining([
        "deploy/ecr-mirror/hosts/docker.io/hosts.toml",
        "deploy/ecr-mirror/hosts/quay.io/hosts.toml",
      ]),
    );
    const hosts = parseToml(
      readFileSync(join(dir, "deploy/ecr-mirror/hosts/docker.io/hosts.toml"), "utf8"),
    ) as Record<string, unknown>;
    expect(hosts.server).toBe("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/mirrors");
    expect(Object.keys(hosts.host as object)).toEqual([
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/mirrors",
    ]);
    const daemonSet = readFileSync(join(dir, "deploy/ecr-mirror/ecr-mirror-node.yaml"), "utf8");
    expect(daemonSet).toContain(
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirrors/public.ecr.aws/aws-cli/aws-cli@${DIGEST}`,
    );
    // No NodeConfig unless asked for; no redirect for the configurator's own host.
    expect(existsSync(join(dir, "deploy/ecr-mirror/nodeconfig.yaml"))).toBe(false);
    expect(existsSync(join(dir, "deploy/ecr-mirror/hosts/public.ecr.aws"))).toBe(false);
    // The kustomization lists the cluster objects, and the folder's manifest lists the kustomization.
    const kustomization = parseYaml(readFileSync(join(dir, "deploy/ecr-mirror/kustomization.yaml"), "utf8"));
    expect(kustomization.resources).toEqual(["ecr-mirror-node.yaml"]);
    const manifest = readFileSync(join(dir, "deploy/ecr-mirror/.ecr-mirror-files"), "utf8");
    expect(manifest.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual([
      "README.md",
      "ecr-mirror-node.yaml",
      "hosts/docker.io/hosts.toml",
      "hosts/quay.io/hosts.toml",
      "kustomization.yaml",
    ]);
    expect(r.stdout.split("\n")).toContain("deploy/ecr-mirror/kustomization.yaml");
  });

  it("writes the NodeConfig for the containerd version --node-config names, and refuses another value", async () => {
    const dir = mkdtempSync(join(tmpdir(), "render-nodeconfig-"));
    writeFileSync(
      join(dir, "mirrors.yaml"),
      "target: { registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com, region: eu-west-1 }\nimages: [redis:7.0]\n",
    );
    const args = ["render", "--out", "out", "--configurator-digest", DIGEST, "--node-config"];
    for (const [version, key] of [
      ["containerd-2", "io.containerd.cri.v1.images"],
      ["containerd-1.7", "io.containerd.grpc.v1.cri"],
    ] as const) {
      const r = await run([...args, version], dir);
      expect(r.code, r.stderr).toBe(0);
      const nodeConfig = parseYaml(readFileSync(join(dir, "out/nodeconfig.yaml"), "utf8"));
      const patch = parseToml(nodeConfig.spec.containerd.config) as { plugins: Record<string, unknown> };
      expect(Object.keys(patch.plugins)).toEqual([key]);
      expect(parseYaml(readFileSync(join(dir, "out/kustomization.yaml"), "utf8")).resources).toEqual([
        "ecr-mirror-node.yaml",
      ]);
    }
    const bad = await run([...args, "2.1"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--node-config is "2.1"; expected one of none, containerd-1.7, containerd-2',
    );
  });

  it("validate names the redirected hosts and says their pulls go to the mirror only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "validate-redirects-"));
    writeFileSync(
      join(dir, "mirrors.yaml"),
      "upstreams:\n  quay.io: { fallback: true }\nimages: [redis:7.0, quay.io/org/app:1]\n",
    );
    const r = await run(["validate"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "Nodes redirect these hosts: every pull from them on every node goes to the mirror.",
    );
    expect(r.stdout).toContain("  docker.io -> mirrors: mirror only, no fallback");
    expect(r.stdout).toContain(
      "  quay.io -> mirrors/quay.io: mirror first, falling back to quay.io when the mirror fails",
    );
  });

  it("carries --charts-record over into chart-images.json for the chart versions the list names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "render-record-"));
    const values = { controller: { image: { tag: "1.0" } } };
    writeFileSync(
      join(dir, "mirrors.yaml"),
      `target: { registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com, region: eu-west-1 }
images: [redis:7.0]
charts:
  - source: https://charts.example.com
    name: web
    versions: ["1.0.0"]
    images: true
    values: ${JSON.stringify(values)}
`,
    );
    const entry = (version: string) => ({
      images: ["quay.io/org/web:1.0"],
      name: "web",
      source: "https://charts.example.com",
      valuesSha256: valuesSha256({ values }),
      version,
      warnings: [],
    });
    const recorded = { charts: [entry("1.0.0"), entry("0.9.0")], version: 1 };
    writeFileSync(join(dir, "old.json"), JSON.stringify(recorded));
    const args = ["render", "--out", "out", "--configurator-digest", DIGEST, "--charts-record"];
    const r = await run([...args, "old.json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("out/chart-images.json");
    const written = readFileSync(join(dir, "out/chart-images.json"), "utf8");
    expect(JSON.parse(written)).toEqual({ charts: [entry("1.0.0")], version: 1 });
    expect(written.endsWith("\n")).toBe(true);

    // A malformed record is a warning, never a failure.
    writeFileSync(join(dir, "bad.json"), "{ not json");
    const bad = await run([...args, "bad.json"], dir);
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stderr).toMatch(/warning: bad\.json is not a chart images record: not JSON/);
    expect(JSON.parse(readFileSync(join(dir, "out/chart-images.json"), "utf8"))).toEqual({
      charts: [],
      version: 1,
    });
  });

  it("rejects a malformed digest as a usage error", async () => {
    const r = await run(["render", "--out", "x", "--configurator-digest", "sha256:abc"], tmpdir());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--configurator-digest is sha256:<64 hex>");
  });
});

describe("ecr-mirror render against the target", () => {
  let registry: RunningRegistry;
  let ecr: LocalEcr;
  let dir: string;
  beforeAll(async () => {
    registry = await startRegistry();
    ecr = await startEcr({ registry });
    dir = mkdtempSync(join(tmpdir(), "render-ecr-"));
    writeFileSync(join(dir, "mirrors.yaml"), "images:\n  - redis:7.0\n");
  });
  afterAll(async () => {
    await ecr?.stop();
    await registry?.stop();
  });

  it("says to sync first while the configurator image is not mirrored", async () => {
    const r = await run(["render", "--out", "out"], dir, ecr.env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("public.ecr.aws/aws-cli/aws-cli:2.15.62 is not in the mirror yet");
    expect(r.stderr).toContain("run ecr-mirror sync first");
  });

  it("learns the registry from ECR and the configurator digest from the target", async () => {
    const client = new ECRClient({
      region: ecr.region,
      endpoint: ecr.apiUrl,
      credentials: { accessKeyId: "t", secretAccessKey: "t" },
    });
    await client.send(
      new CreateRepositoryCommand({ repositoryName: "mirrors/public.ecr.aws/aws-cli/aws-cli" }),
    );
    const { digest } = await pushImage(
      `http://${ecr.registryHost}`,
      "mirrors/public.ecr.aws/aws-cli/aws-cli",
      "2.15.62",
      {
        seed: "aws-cli",
        auth: { user: "AWS", password: ecr.password },
      },
    );
    const r = await run(["render", "--out", "out"], dir, ecr.env());
    expect(r.code, r.stderr).toBe(0);
    const daemonSet = readFileSync(join(dir, "out/ecr-mirror-node.yaml"), "utf8");
    expect(daemonSet).toContain(`${ecr.registryHost}/mirrors/public.ecr.aws/aws-cli/aws-cli@${digest}`);
    expect(readFileSync(join(dir, "out/hosts/docker.io/hosts.toml"), "utf8")).toContain(
      `http://${ecr.registryHost}/v2/mirrors`,
    );
  });
});

describe("ecr-mirror render against a plain OCI registry", () => {
  it("looks up the configurator's digest with a manifest HEAD (tag lists carry no digests)", async () => {
    const registry = await startRegistry();
    try {
      const { digest } = await pushImage(registry.url, "mirrors/public.ecr.aws/aws-cli/aws-cli", "2.15.62", {
        seed: "aws-cli-oci",
      });
      const dir = mkdtempSync(join(tmpdir(), "render-oci-"));
      writeFileSync(join(dir, "mirrors.yaml"), `target: { region: eu-west-1 }\nimages:\n  - redis:7.0\n`);
      const r = await run(["render", "--out", "out", "--registry-url", registry.url], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(dir, "out/ecr-mirror-node.yaml"), "utf8")).toContain(
        `${registry.host}/mirrors/public.ecr.aws/aws-cli/aws-cli@${digest}`,
      );
      // plan against the same target names the hosts nodes redirect, and only those.
      const plan = await run(["plan", "--registry-url", registry.url], dir);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain("Plan for ");
      expect(plan.stdout).toContain(
        "Nodes redirect these hosts: every pull from them on every node goes to the mirror.\n  docker.io -> mirrors: mirror only, no fallback\n",
      );
      expect(plan.stdout).not.toMatch(/^ {2}public\.ecr\.aws -> /m);
    } finally {
      await registry.stop();
    }
  });
});
