import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import { mirrorListSchema } from "../../src/list/schema.js";
import { listToJson } from "../../src/report/list-json.js";

const D0 = `sha256:${"0".repeat(64)}`;
const D1 = `sha256:${"1".repeat(64)}`;

function parse(text: string) {
  const result = parseMirrorList(text, "mirrors.yaml");
  if (!result.list)
    throw new Error(result.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join("\n"));
  return result.list;
}

describe("where images land", () => {
  it("nests Docker Hub under the prefix and other hosts under prefix/host", () => {
    const list = parse(`images:
  - redis:7.0
  - bitnamilegacy/nginx:1.25.0
  - quay.io/prometheus/node-exporter:v1.8.2
  - ghcr.io/org/app@${D0}
  - nginx:1.27@${D1}
`);
    expect(listToJson(list).images).toEqual([
      {
        source: "docker.io/library/redis:7.0",
        repository: "mirrors/library/redis",
        tag: "7.0",
        digest: null,
      },
      {
        source: "docker.io/bitnamilegacy/nginx:1.25.0",
        repository: "mirrors/bitnamilegacy/nginx",
        tag: "1.25.0",
        digest: null,
      },
      {
        source: "quay.io/prometheus/node-exporter:v1.8.2",
        repository: "mirrors/quay.io/prometheus/node-exporter",
        tag: "v1.8.2",
        digest: null,
      },
      { source: `ghcr.io/org/app@${D0}`, repository: "mirrors/ghcr.io/org/app", tag: null, digest: D0 },
      {
        source: `docker.io/library/nginx:1.27@${D1}`,
        repository: "mirrors/library/nginx",
        tag: "1.27",
        digest: D1,
      },
    ]);
    expect(list.upstreams.map((u) => [u.host, u.prefix, u.redirect])).toEqual([
      ["docker.io", "mirrors", true],
      ["ghcr.io", "mirrors/ghcr.io", true],
      ["quay.io", "mirrors/quay.io", true],
    ]);
  });

  it("honours the image prefix, per-upstream prefixes and endpoints", () => {
    const list = parse(`target: { imagePrefix: mirror }
upstreams:
  docker.io: { endpoint: "https://mirror.gcr.io/" }
  localhost:5000: { prefix: mirror/local }
  registry.k8s.io: { redirect: false }
images:
  - redis:7.0
  - localhost:5000/team/app:1
`);
    expect(list.images.map((i) => i.repository)).toEqual(["mirror/library/redis", "mirror/local/team/app"]);
    const byHost = Object.fromEntries(list.upstreams.map((u) => [u.host, u]));
    expect(byHost["docker.io"]).toMatchObject({ prefix: "mirror", endpoint: "https://mirror.gcr.io" });
    expect(byHost["localhost:5000"]).toMatchObject({ prefix: "mirror/local", endpoint: null });
    // Listed explicitly, so kept even though no image uses it; redirect off as asked.
    expect(byHost["registry.k8s.io"]).toMatchObject({ redirect: false });
  });

  it("expands object entries into one element per tag and digest and merges duplicates", () => {
    const list = parse(`images:
  - source: busybox
    tags: ["1.37", "1.36"]
  - source: ghcr.io/org/tool
    digests: ["${D0}"]
  - docker.io/library/busybox:1.37
  - index.docker.io/busybox:1.36
`);
    expect(listToJson(list).images).toEqual([
      {
        source: "docker.io/library/busybox:1.37",
        repository: "mirrors/library/busybox",
        tag: "1.37",
        digest: null,
      },
      {
        source: "docker.io/library/busybox:1.36",
        repository: "mirrors/library/busybox",
        tag: "1.36",
        digest: null,
      },
      { source: `ghcr.io/org/tool@${D0}`, repository: "mirrors/ghcr.io/org/tool", tag: null, digest: D0 },
    ]);
  });

  it("keeps the platforms of a filtered entry", () => {
    const list = parse(
      'images:\n  - { source: busybox, tags: ["1.37"], platforms: [linux/arm64, linux/amd64] }\n',
    );
    expect(listToJson(list).images[0]).toEqual({
      source: "docker.io/library/busybox:1.37",
      repository: "mirrors/library/busybox",
      tag: "1.37",
      digest: null,
      platforms: ["linux/arm64", "linux/amd64"],
    });
  });

  it("gives defaults for the target and repository settings", () => {
    const list = parse("images: [redis:7.0]\n");
    expect(list.target).toEqual({
      type: "ecr",
      region: null,
      accountId: null,
      registry: null,
      imagePrefix: "mirrors",
      chartPrefix: "charts",
      prune: false,
      maxDeletions: 20,
      reconcileSettings: false,
      pruneLocation: null,
      repositorySettings: {
        imageTagMutability: "MUTABLE",
        imageTagMutabilityExclusionFilters: [],
        scanOnPush: false,
        encryption: { type: "AES256", kmsKey: null },
        tags: {},
        lifecyclePolicy: null,
        repositoryPolicy: null,
      },
    });
  });

  it("turns policies given as mappings into JSON", () => {
    const list = parse(`target:
  repositorySettings:
    lifecyclePolicy:
      rules: [{ rulePriority: 1, selection: { tagStatus: untagged, countType: imageCountMoreThan, countNumber: 1 }, action: { type: expire } }]
images: [redis:7.0]
`);
    expect(JSON.parse(list.target.repositorySettings.lifecyclePolicy!)).toEqual({
      rules: [
        {
          rulePriority: 1,
          selection: { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 1 },
          action: { type: "expire" },
        },
      ],
    });
  });

  it("allows double separators on a plain OCI registry target, where the Distribution rule applies", () => {
    const list = parse(`target: { type: oci, registry: "harbor.example.com" }
images: [dock__er/x:1]
`);
    expect(list.images[0]!.repository).toBe("mirrors/dock__er/x");
  });
});

describe("charts", () => {
  it("lists each chart version with its source, name and target repository", () => {
    const list = parse(`charts:
  - source: https://kubernetes.github.io/ingress-nginx/
    name: ingress-nginx
    versions: ["4.11.3", "4.10.0+build.1"]
  - source: oci://ghcr.io/prometheus-community/charts/prometheus-node-exporter
    versions: ["4.39.0"]
`);
    expect(listToJson(list).charts).toEqual([
      {
        source: "https://kubernetes.github.io/ingress-nginx",
        name: "ingress-nginx",
        repository: "charts/ingress-nginx",
        version: "4.11.3",
      },
      {
        source: "https://kubernetes.github.io/ingress-nginx",
        name: "ingress-nginx",
        repository: "charts/ingress-nginx",
        version: "4.10.0+build.1",
      },
      {
        source: "oci://ghcr.io/prometheus-community/charts/prometheus-node-exporter",
        name: "prometheus-node-exporter",
        repository: "charts/prometheus-node-exporter",
        version: "4.39.0",
      },
    ]);
    expect(list.charts[1]!.tag).toBe("4.10.0_build.1");
  });
});

describe("problems", () => {
  it("reports every problem at once, in file order, and yields no list", () => {
    const result = parseMirrorList(
      "images:\n  - Bad:1\n  - nginx\n  - quay.io/x/y:-1\ntarget:\n  nope: 1\n",
      "m.yaml",
    );
    expect(result.list).toBeNull();
    expect(result.problems.map((p) => [p.line, p.column])).toEqual([
      [2, 5],
      [3, 5],
      [4, 5],
      [6, 3],
    ]);
  });

  it("reports a conflict naming both lines", () => {
    const result = parseMirrorList(
      "upstreams:\n  ghcr.io: { prefix: mirrors }\nimages:\n  - foo/bar:1\n  - ghcr.io/foo/bar:2\n",
      "m.yaml",
    );
    expect(result.problems).toEqual([
      expect.objectContaining({
        line: 5,
        column: 5,
        message: "ghcr.io/foo/bar and docker.io/foo/bar (line 4) both land in repository mirrors/foo/bar",
      }),
    ]);
  });
});

describe("the JSON Schema file", () => {
  it("is the one generated from src/list/schema.ts (run npm run build when this fails)", () => {
    const file = readFileSync(join(import.meta.dirname, "..", "..", "schema", "mirrors.schema.json"), "utf8");
    expect(file).toBe(`${JSON.stringify(mirrorListSchema, null, 2)}\n`);
  });

  it("is referenced from the example", () => {
    const example = readFileSync(join(import.meta.dirname, "..", "..", "examples", "mirrors.yaml"), "utf8");
    expect(example.split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/mirrors.schema.json");
  });
});

describe("hostile values the parser once misread (issue 12, defect 10)", () => {
  function problems(text: string) {
    const result = parseMirrorList(text, "mirrors.yaml");
    expect(result.list).toBeNull();
    return result.problems.map((p) => `${p.line}:${p.column} ${p.message}`);
  }

  it("a resource tag named __proto__ is an own key, not the object's prototype", () => {
    const list = parse(`target:
  repositorySettings:
    tags:
      __proto__: x
      team: platform
images:
  - redis:7.0
`);
    const tags = list.target.repositorySettings.tags;
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
    expect(Object.entries(tags)).toEqual([
      ["__proto__", "x"],
      ["team", "platform"],
    ]);
  });

  it("an alias in a policy or in chart values is refused where it stands, not read as {source: anchor}", () => {
    expect(
      problems(`target:
  repositorySettings:
    lifecyclePolicy:
      rules: &r []
    repositoryPolicy:
      Statement: *r
images:
  - redis:7.0
`),
    ).toEqual(['6:18 YAML aliases ("*r") are not supported in a mirror list']);
  });

  it("an unclosed quote is reported on the line where it opens", () => {
    expect(
      problems(`images:
  - nginx:1.27
  - "redis:7.0
  - busybox:1.37
charts: []
`),
    ).toEqual(["3:5 this double quote is never closed"]);
  });

  it("credentials in an endpoint are refused without being echoed", () => {
    const text = `upstreams:
  docker.io:
    endpoint: https://robot:s3cr3t-token@mirror.example.com
images:
  - redis:7.0
`;
    const found = problems(text);
    expect(found).toEqual([
      '3:15 upstream docker.io endpoint: the URL "https://***@mirror.example.com" carries credentials (user:password@)',
    ]);
    expect(JSON.stringify(parseMirrorList(text, "m.yaml"))).not.toContain("s3cr3t");
  });

  it("a chart name with a / is refused at validate, as helm refuses it", () => {
    expect(
      problems(`charts:
  - source: https://charts.example.com
    name: a/b
    versions: ["1.0.0"]
`),
    ).toEqual(['3:11 chart name "a/b" is a path; a chart name has no /']);
  });
});
