// The audit's core on a captured pod list (test/fixtures/audit/pods.json, the shape `kubectl get pods -A -o json`
// prints): Docker Hub short names, library images, quay.io, a digest-pinned pod, init and ephemeral containers, the
// node configurator named by its ECR address, a private ECR image. What it names missing, the lines it gives, and
// the list with those lines applied, parsed again by the real parser and audited again.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyAdditions } from "../../src/audit/additions.js";
import { auditCluster, auditFindsMissing } from "../../src/audit/audit.js";
import { parsePodList } from "../../src/audit/pods.js";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { ObservedTarget } from "../../src/observe/model.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/audit");
const LIST_TEXT = readFileSync(join(FIXTURES, "mirrors.yaml"), "utf8");
const PODS_TEXT = readFileSync(join(FIXTURES, "pods.json"), "utf8");
const REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

function listOf(text: string): MirrorList {
  const { list, problems } = parseMirrorList(text, "mirrors.yaml");
  expect(problems).toEqual([]);
  return list!;
}

function podsOf(text: string) {
  const pods = parsePodList(text, "pods.json");
  if (!pods.ok) throw new Error(pods.problem.message);
  return pods.images;
}

function audit(text: string, observed: ObservedTarget | null = null) {
  const list = listOf(text);
  return auditCluster(podsOf(PODS_TEXT), list, { registry: list.target.registry, observed, listText: text });
}

describe("audit of a captured pod list", () => {
  it("reads every container, init container and ephemeral container", () => {
    const images = podsOf(PODS_TEXT);
    expect(images.filter((i) => i.kind === "initContainer").map((i) => i.image)).toEqual([
      "busybox:1.36",
      "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0",
      "busybox:1.36",
    ]);
    expect(images.filter((i) => i.kind === "ephemeralContainer")).toMatchObject([
      { namespace: "shop", pod: "web-7d4b9c6f5-fghij", container: "debugger-x7k2p", image: "busybox" },
    ]);
    // The digest the node runs, from the status's imageID.
    expect(
      images.find((i) => i.pod === "web-7d4b9c6f5-abcde" && i.container === "nginx")?.runningDigest,
    ).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("names every image not in the list, normalised as containerd pulls it", () => {
    const result = audit(LIST_TEXT);
    expect(result.missing.map((m) => [m.name, m.references])).toEqual([
      ["docker.io/library/alpine", ["docker.io/library/alpine:3.19", "docker.io/library/alpine:3.20"]],
      // `busybox` in an ephemeral container is busybox:latest; the list's 1.36 and 1.37 do not cover it.
      ["docker.io/library/busybox", ["docker.io/library/busybox:latest"]],
      // `redis` without a tag is redis:latest; `docker.io/library/redis:7.4` is the list's `redis:7.4`.
      ["docker.io/library/redis", ["docker.io/library/redis:latest"]],
      [
        "ghcr.io/example/api",
        ["ghcr.io/example/api@sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479"],
      ],
      [
        "ghcr.io/example/worker",
        [
          "ghcr.io/example/worker:1.4.0@sha256:87eba76e7f3164534045ba922e7770fb58bbd14ad732bbf5ba6f11cc56989e6e",
        ],
      ],
      [
        "quay.io/prometheus-operator/prometheus-config-reloader",
        ["quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0"],
      ],
      [
        "quay.io/prometheus/prometheus",
        ["quay.io/prometheus/prometheus:v2.53.0", "quay.io/prometheus/prometheus:v2.54.1"],
      ],
    ]);
    // The reloader runs as a container and as an init container of the same pod: both uses are named.
    expect(result.missing.find((m) => m.name.endsWith("config-reloader"))?.uses.map((u) => u.kind)).toEqual([
      "container",
      "initContainer",
    ]);
    // Docker Hub and quay.io are redirected to the mirror (the list mirrors images of theirs), without fallback: the
    // images missing there fail at their next pull; ghcr.io is not redirected yet (pulled upstream until the air gap).
    expect(result.missing.filter((m) => m.redirected).map((m) => m.name.split("/")[0])).toEqual([
      "docker.io",
      "docker.io",
      "docker.io",
      "quay.io",
      "quay.io",
    ]);
    // The private ECR image (the VPC CNI) is pulled from its own registry: not a mirror candidate.
    expect(result.privateEcr).toEqual([
      "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.18.3-eksbuild.1",
    ]);
    expect(result.invalid).toEqual([]);
    expect(auditFindsMissing(result)).toBe(true);
  });

  it("gives the list lines that add them, in the list's grammar, after the last entry of images:", () => {
    const { additions } = audit(LIST_TEXT);
    expect(additions.afterLine).toBe(17);
    expect(LIST_TEXT.split("\n")[16]).toContain("aws-cli:2.15.62");
    expect(additions.lines).toEqual([
      "  - source: alpine",
      '    tags: ["3.19", "3.20"]',
      "  - busybox:latest",
      "  - redis:latest",
      "  - ghcr.io/example/api@sha256:14c2529eb4498c5d1ffd6915d05bf58a91bdda796af59f41d480d11c099d0479",
      "  - ghcr.io/example/worker:1.4.0@sha256:87eba76e7f3164534045ba922e7770fb58bbd14ad732bbf5ba6f11cc56989e6e",
      "  - quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0",
      "  - source: quay.io/prometheus/prometheus",
      '    tags: ["v2.53.0", "v2.54.1"]',
    ]);
  });

  it("with those lines applied, the list is valid and nothing is missing", () => {
    const first = audit(LIST_TEXT);
    const amended = applyAdditions(LIST_TEXT, first.additions);
    // Only the lines were added, where the report said.
    const before = LIST_TEXT.split("\n");
    const after = amended.split("\n");
    const at = first.additions.afterLine;
    expect(after.slice(0, at)).toEqual(before.slice(0, at));
    expect(after.slice(at, at + first.additions.lines.length)).toEqual(first.additions.lines);
    expect(after.slice(at + first.additions.lines.length)).toEqual(before.slice(at));
    const again = audit(amended);
    expect(again.missing).toEqual([]);
    expect(again.additions.lines).toEqual([]);
    expect(auditFindsMissing(again)).toBe(false);
    expect(listOf(amended).images).toHaveLength(listOf(LIST_TEXT).images.length + 9);
  });

  it("names the list entries no pod uses as prune candidates, on their lines", () => {
    const result = audit(LIST_TEXT);
    expect(result.unused.map((e) => [e.source, e.location.line])).toEqual([
      ["docker.io/library/postgres:16.4", 12],
      ["docker.io/library/busybox:1.37", 16],
    ]);
  });

  it("counts an image named by its mirror address as mirrored (the configurator's aws-cli by digest)", () => {
    const result = audit(LIST_TEXT);
    expect(result.missing.some((m) => m.name.includes("aws-cli"))).toBe(false);
    expect(result.unused.some((e) => e.source.includes("aws-cli"))).toBe(false);
    // 16 distinct references, the private ECR one included; 6 of them are mirrored, the configurator's too.
    expect(result.references).toBe(16);
    expect(result.mirrored).toBe(6);
    expect(result.pods).toBe(14);
  });
});

describe("references spelled the ways a pod spec may spell them", () => {
  const podsWith = (...images: string[]) => {
    const pods = parsePodList(
      JSON.stringify({
        kind: "List",
        items: images.map((image, i) => ({
          metadata: { namespace: "a", name: `p${i}` },
          spec: { containers: [{ name: "c", image }] },
        })),
      }),
      "pods.json",
    );
    if (!pods.ok) throw new Error(pods.problem.message);
    return pods.images;
  };

  it("index.docker.io, docker.io/library/ and the short name are one image; a listed tag covers its pinned spelling", () => {
    const list = listOf(LIST_TEXT);
    const result = auditCluster(
      podsWith(
        "index.docker.io/library/nginx:1.27",
        "docker.io/library/nginx:1.27",
        "docker.io/nginx:1.27",
        `nginx:1.27@sha256:${"a".repeat(64)}`,
      ),
      list,
      { registry: REGISTRY, observed: null, listText: LIST_TEXT },
    );
    expect(result.missing).toEqual([]);
    expect(result.references).toBe(2);
    expect(result.mirrored).toBe(2);
  });

  it("an image that cannot land as the list stands gets the way out instead of a line", () => {
    const result = auditCluster(podsWith("localhost:5000/team/app:1", "nginx:9"), listOf(LIST_TEXT), {
      registry: REGISTRY,
      observed: null,
      listText: LIST_TEXT,
    });
    expect(result.missing.map((m) => [m.name, m.problem?.hint ?? null])).toEqual([
      ["docker.io/library/nginx", null],
      ["localhost:5000/team/app", "give localhost:5000 a prefix of its own under upstreams:"],
    ]);
    expect(result.additions.lines).toEqual(["  - nginx:9"]);
  });

  it("a list without images: the lines come with the key, at the end of the file", () => {
    const text = 'charts:\n  - source: https://charts.example.com\n    name: app\n    versions: ["1.0.0"]\n';
    const result = auditCluster(podsWith("redis:7.4"), listOf(text), {
      registry: null,
      observed: null,
      listText: text,
    });
    expect(result.additions).toEqual({ lines: ["images:", "  - redis:7.4"], afterLine: 4, withKey: true });
    expect(listOf(applyAdditions(text, result.additions)).images.map((i) => i.source)).toEqual([
      "docker.io/library/redis:7.4",
    ]);
  });
});

describe("audit against what the target holds", () => {
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const observed = (repositories: Record<string, Record<string, string>>): ObservedTarget => ({
    registry: REGISTRY,
    repositories: new Map(
      Object.entries(repositories).map(([name, tags]) => [
        name,
        {
          name,
          imageTagMutability: "MUTABLE" as const,
          imageTagMutabilityExclusionFilters: [],
          tags: new Map(Object.entries(tags)),
        },
      ]),
    ),
  });

  it("reports a pinned digest the mirror does not hold, and the digest a tag runs when the mirror's differs", () => {
    const list = listOf(LIST_TEXT);
    const pods = parsePodList(
      JSON.stringify({
        kind: "List",
        items: [
          {
            metadata: { namespace: "a", name: "pinned" },
            spec: { containers: [{ name: "c", image: `nginx:1.27@${digest("a")}` }] },
          },
          {
            metadata: { namespace: "a", name: "drifted" },
            spec: { containers: [{ name: "c", image: "redis:7.4" }] },
            status: { containerStatuses: [{ name: "c", imageID: `docker.io/library/redis@${digest("b")}` }] },
          },
          {
            metadata: { namespace: "a", name: "fine" },
            spec: { containers: [{ name: "c", image: `${REGISTRY}/mirrors/library/nginx@${digest("c")}` }] },
          },
        ],
      }),
      "pods.json",
    );
    if (!pods.ok) throw new Error(pods.problem.message);
    const result = auditCluster(pods.images, list, {
      registry: REGISTRY,
      observed: observed({
        "mirrors/library/nginx": { "1.27": digest("c") },
        "mirrors/library/redis": { "7.4": digest("d") },
      }),
      listText: LIST_TEXT,
    });
    expect(result.missing).toEqual([]);
    expect(result.unheld?.map((u) => [u.reference, u.digest, u.pinned, u.uses[0]?.pod])).toEqual([
      [`docker.io/library/nginx:1.27@${digest("a")}`, digest("a"), true, "pinned"],
      ["docker.io/library/redis:7.4", digest("b"), false, "drifted"],
    ]);
    expect(auditFindsMissing(result)).toBe(true);
  });

  it("a pod pinning by digest alone uses the tag that holds that digest, and only that one", () => {
    const list = listOf(LIST_TEXT);
    const pods = parsePodList(
      JSON.stringify({
        kind: "Pod",
        metadata: { namespace: "a", name: "p" },
        spec: { containers: [{ name: "c", image: `busybox@${digest("e")}` }] },
      }),
      "pod.json",
    );
    if (!pods.ok) throw new Error(pods.problem.message);
    const result = auditCluster(pods.images, list, {
      registry: REGISTRY,
      observed: observed({ "mirrors/library/busybox": { "1.36": digest("e"), "1.37": digest("f") } }),
      listText: LIST_TEXT,
    });
    expect(result.missing).toEqual([]);
    expect(result.unheld).toEqual([]);
    expect(result.unused.map((e) => e.source)).toContain("docker.io/library/busybox:1.37");
    expect(result.unused.map((e) => e.source)).not.toContain("docker.io/library/busybox:1.36");
  });
});
