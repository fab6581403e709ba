// `ecr-mirror audit` from the terminal: the captured pod list from a file and from stdin, the lines it prints applied
// to a copy of the list and audited again, pinned digests checked against a local ECR (a real registry behind the
// ECR gate, reached through the real SDK), --no-target, usage errors and exit codes.

import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../e2e/bundle.js";
import { runCli } from "../harness/cli.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { pushImage, pushIndex } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/audit");
const dir = mkdtempSync(join(tmpdir(), "ecr-mirror-audit-cli-"));
const LIST = join(dir, "mirrors.yaml");
const PODS = join(FIXTURES, "pods.json");
copyFileSync(join(FIXTURES, "mirrors.yaml"), LIST);

const cli = (args: string[], stdin?: string) => runCli(args, { stdin });

describe("ecr-mirror audit --pods (offline)", () => {
  it("names the missing images and the lines to add, and exits 1", async () => {
    const r = await cli(["audit", LIST, "--pods", PODS, "--no-target"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `Audit of 14 pods (20 containers) against ${LIST}: 16 images, 6 mirrored, 7 repositories not in the list, 2 list entries no pod uses.`,
    );
    expect(r.out).toContain(
      "  docker.io/library/busybox:latest  (shop/web-7d4b9c6f5-fghij)  [its host is redirected to the mirror: the next pull fails]",
    );
    expect(r.out).toMatch(
      / {2}ghcr\.io\/example\/api@sha256:[0-9a-f]{64} {2}\(apps\/api-5f6d7c8b9-qwert\)\n/,
    );
    expect(r.out).toContain(
      "  quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0  (monitoring/prometheus-main-0)",
    );
    expect(r.out).toContain(
      `Add to ${LIST} after line 17:\n  - source: alpine\n    tags: ["3.19", "3.20"]\n  - busybox:latest\n`,
    );
    expect(r.out).toContain(
      `No pod uses these list entries (prune candidates):\n  ${LIST}:12: docker.io/library/postgres:16.4\n  ${LIST}:16: docker.io/library/busybox:1.37`,
    );
    expect(r.out).toContain(
      "Digests were not checked against the mirror: --no-target (the target was not asked).",
    );
  });

  it("reads the pods from stdin with --pods -, the same as from the file", async () => {
    const fromFile = await cli(["audit", LIST, "--pods", PODS, "--no-target", "--json"]);
    const fromStdin = await cli(
      ["audit", LIST, "--pods", "-", "--no-target", "--json"],
      readFileSync(PODS, "utf8"),
    );
    expect(fromStdin.code).toBe(1);
    expect(fromStdin.out).toBe(fromFile.out);
  });

  it("with the printed lines added where it says, the same cluster audits clean and exits 0", async () => {
    const r = await cli(["audit", LIST, "--pods", PODS, "--no-target", "--json"]);
    const json = JSON.parse(r.out);
    expect(json.missingImages).toBe(true);
    const amended = join(dir, "amended.yaml");
    const lines = readFileSync(LIST, "utf8").split("\n");
    lines.splice(json.additions.afterLine, 0, ...json.additions.lines);
    writeFileSync(amended, lines.join("\n"));
    const again = await cli(["audit", amended, "--pods", PODS, "--no-target"]);
    expect(again.err).toBe("");
    expect(again.out).toContain(
      "16 images, 15 mirrored, 0 repositories not in the list, 2 list entries no pod uses.",
    );
    expect(again.out).not.toContain("Add to");
    expect(again.code).toBe(0);
  });

  it("counts images the list mirrors through charts (--charts-record), from chart versions it still names only", async () => {
    const charted = join(dir, "charted.yaml");
    writeFileSync(
      charted,
      readFileSync(LIST, "utf8").replace('versions: ["4.11.3"]', 'versions: ["4.11.3"]\n    images: true'),
    );
    const entry = (version: string, images: string[]) => ({
      source: "https://kubernetes.github.io/ingress-nginx",
      name: "ingress-nginx",
      version,
      valuesSha256: "0".repeat(64),
      images,
      warnings: [],
    });
    const record = join(dir, "chart-images.json");
    writeFileSync(
      record,
      JSON.stringify({
        version: 1,
        charts: [
          entry("4.10.0", ["docker.io/library/redis:latest"]),
          entry("4.11.3", ["docker.io/library/alpine:3.19", "docker.io/library/alpine:3.20"]),
        ],
      }),
    );
    const r = await cli([
      "audit",
      charted,
      "--pods",
      PODS,
      "--no-target",
      "--charts-record",
      record,
      "--json",
    ]);
    const names = JSON.parse(r.out).missing.map((m: { name: string }) => m.name);
    expect(names).not.toContain("docker.io/library/alpine");
    expect(names).toContain("docker.io/library/redis");
    expect(JSON.parse(r.out).mirrored).toBe(8);
  });

  it("refuses a call without exactly one pod source, and --context without --kubeconfig (exit 2)", async () => {
    expect((await cli(["audit", LIST, "--no-target"])).code).toBe(2);
    const both = await cli(["audit", LIST, "--pods", PODS, "--kubeconfig", PODS]);
    expect(both.code).toBe(2);
    expect(both.err).toContain("one of them");
    expect((await cli(["audit", LIST, "--pods", PODS, "--context", "x"])).err).toContain(
      "--context needs --kubeconfig",
    );
  });
});

describe("ecr-mirror audit against a local ECR", () => {
  let registry: RunningRegistry;
  let ecr: LocalEcr;
  let restore: () => void;
  let nginx: string;
  let redis: string;
  const list = join(dir, "ecr.yaml");

  beforeAll(async () => {
    registry = await startRegistry();
    ecr = await startEcr({ registry });
    restore = setEnv({ ...ecr.env(), ECR_MIRROR_DOCKER_HUB_TOKEN: undefined });
    const client = ecr.client();
    for (const name of ["mirrors/library/nginx", "mirrors/library/redis"])
      await client.send(new CreateRepositoryCommand({ repositoryName: name }));
    const auth = { user: "AWS", password: ecr.password };
    nginx = (
      await pushIndex(`http://${ecr.registryHost}`, "mirrors/library/nginx", "1.27", {
        platforms: ["linux/amd64", "linux/arm64"],
        seed: "nginx",
        auth,
      })
    ).digest;
    redis = (
      await pushImage(`http://${ecr.registryHost}`, "mirrors/library/redis", "7.4", { seed: "redis", auth })
    ).digest;
    writeFileSync(list, `target:\n  region: ${ecr.region}\nimages:\n  - nginx:1.27\n  - redis:7.4\n`);
  });

  afterAll(async () => {
    restore?.();
    await ecr?.stop();
    await registry?.stop();
  });

  function podList(): string {
    const other = `sha256:${"0".repeat(64)}`;
    const pod = (name: string, image: string, imageID?: string) => ({
      metadata: { namespace: "shop", name },
      spec: { containers: [{ name: "c", image }] },
      status: imageID ? { containerStatuses: [{ name: "c", imageID }] } : {},
    });
    return JSON.stringify({
      kind: "List",
      items: [
        pod("pinned-held", `nginx:1.27@${nginx}`),
        pod("by-mirror-address", `${ecr.registryHost}/mirrors/library/nginx@${nginx}`),
        pod("pinned-not-held", `redis:7.4@${other}`),
        pod("runs-held", "redis:7.4", `docker.io/library/redis@${redis}`),
      ],
    });
  }

  it("names a pinned digest the mirror does not hold (DescribeImages, as the plan observes) and exits 1", async () => {
    const pods = join(dir, "ecr-pods.json");
    writeFileSync(pods, podList());
    ecr.resetCounts();
    const r = await cli(["audit", list, "--pods", pods]);
    expect(r.err).toBe("");
    expect(r.out).toContain("0 repositories not in the list, 0 list entries no pod uses.");
    expect(r.out).toContain(
      `Digests the mirror does not hold:\n  docker.io/library/redis:7.4@sha256:${"0".repeat(64)} in mirrors/library/redis: pinned by shop/pinned-not-held`,
    );
    expect(r.out).not.toContain("pinned-held");
    expect(r.code).toBe(1);
    expect(ecr.calls.DescribeImages).toBe(2);
    // Nothing was pushed, nothing pulled: the audit only reads.
    expect(ecr.gateCounts()["manifest-put"] ?? 0).toBe(0);
  });

  it("--no-target asks nothing and says the digests were not checked (exit 0: nothing missing from the list)", async () => {
    const pods = join(dir, "ecr-pods.json");
    writeFileSync(pods, podList());
    ecr.resetCounts();
    const r = await cli(["audit", list, "--pods", pods, "--no-target"]);
    expect(r.out).toContain("Digests were not checked against the mirror: --no-target");
    expect(r.code).toBe(0);
    expect(ecr.calls).toEqual({});
  });
});

describe("dist/cli.js audit as a process", () => {
  it("kubectl get pods -A -o json | ecr-mirror audit --pods -: the report on stdout, exit 1", async () => {
    const child = spawn(process.execPath, [CLI, "audit", LIST, "--pods", "-", "--no-target"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.stdin.end(readFileSync(PODS));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(1);
    expect(stdout).toContain(`Add to ${LIST} after line 17:\n  - source: alpine\n`);
  });
});
