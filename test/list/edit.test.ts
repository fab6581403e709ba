// `ecr-mirror add`'s edit (src/list/edit.ts): where an entry lands, that every other byte of the list stays
// as it was (comments, alignment, quoting), duplicates refused and bad references located, checked by the list
// parser the product runs.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Addition, addToList } from "../../src/list/edit.js";
import { parseMirrorList } from "../../src/list/parse.js";

const EXAMPLE = join(import.meta.dirname, "..", "..", "examples", "mirrors.yaml");
const image = (reference: string): Addition => ({ kind: "image", reference });
const DIGEST_1 = `sha256:${"1".repeat(64)}`;
const DIGEST_2 = `sha256:${"2".repeat(64)}`;

/** The edit as a user sees it in a diff: the lines removed and the lines added, in order. */
function diff(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split("\n");
  const b = after.split("\n");
  let start = 0;
  while (start < a.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  return { removed: a.slice(start, endA), added: b.slice(start, endB) };
}

function added(text: string, addition: Addition) {
  const result = addToList(text, "mirrors.yaml", addition);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  // The file written is a list the product reads, with the entry in it.
  expect(parseMirrorList(result.text, "mirrors.yaml").list).not.toBeNull();
  return { ...result, ...diff(text, result.text) };
}

describe("ecr-mirror add: where the entry goes", () => {
  it("appends a tag to the source's tags, changing only that line (comments and alignment kept)", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const r = added(text, image("docker.io/library/busybox:1.38"));
    expect(r.removed).toEqual(['    tags: ["1.37", "1.36"]']);
    expect(r.added).toEqual(['    tags: ["1.37", "1.36", "1.38"]']);
    expect(r.how).toBe("appended to the tags of the entry for docker.io/library/busybox");
    expect(r.location.line).toBe(text.split("\n").indexOf('    tags: ["1.37", "1.36"]') + 1);
  });

  it("puts a new tag of a plain-string source right after that source's entries, in its style", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const r = added(text, image("nginx:1.28"));
    expect(r.removed).toEqual([]);
    expect(r.added).toEqual(["  - nginx:1.28"]);
    const lines = r.text.split("\n");
    expect(lines[lines.indexOf("  - nginx:1.28") - 1]).toBe("  - nginx:1.27");
    expect(r.how).toBe("a new entry after the entries for docker.io/library/nginx");
  });

  it("adds a new source at the end of images, before the charts, keeping the comment above the last entry", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const r = added(text, image("docker.io/bitnami/nginx:1.27"));
    expect(r.added).toEqual(["  - docker.io/bitnami/nginx:1.27"]);
    const lines = r.text.split("\n");
    const at = lines.indexOf("  - docker.io/bitnami/nginx:1.27");
    expect(lines.slice(at - 2, at)).toEqual([
      "  # The node configurator's own image (it runs the AWS CLI on every node).",
      "  - public.ecr.aws/aws-cli/aws-cli:2.15.62",
    ]);
    expect(r.how).toBe("a new entry at the end of images");
  });

  it("follows a block list's quoting and keeps the trailing comments of its items", () => {
    const text = [
      "images:",
      "  - source: docker.io/library/busybox   # the base image",
      "    tags:",
      "      - '1.36'    # old",
      "  - redis:7.0",
      "",
    ].join("\n");
    const r = added(text, image("busybox:1.37"));
    expect(r.removed).toEqual([]);
    expect(r.added).toEqual(["      - '1.37'"]);
    expect(r.text.split("\n").slice(1, 5)).toEqual([
      "  - source: docker.io/library/busybox   # the base image",
      "    tags:",
      "      - '1.36'    # old",
      "      - '1.37'",
    ]);
  });

  it("takes a digest into a source's digests; a pinned tag (tag@digest) gets an entry of its own", () => {
    const text = `images:\n  - source: quay.io/org/app\n    digests: ["${DIGEST_1}"]\n`;
    expect(added(text, image(`quay.io/org/app@${DIGEST_2}`)).added).toEqual([
      `    digests: ["${DIGEST_1}", "${DIGEST_2}"]`,
    ]);
    const pinned = added(text, image(`quay.io/org/app:1.0@${DIGEST_2}`));
    expect(pinned.removed).toEqual([]);
    expect(pinned.added).toEqual([`  - quay.io/org/app:1.0@${DIGEST_2}`]);
  });

  it("writes a source + tags mapping when every entry of the list is one", () => {
    const text = 'images:\n  - source: docker.io/library/redis\n    tags: ["7.0"]\n';
    expect(added(text, image("ghcr.io/org/tool:2.1")).added).toEqual([
      "  - source: ghcr.io/org/tool",
      '    tags: ["2.1"]',
    ]);
  });

  it("adds into a flow list, and starts an images: section when the list has none", () => {
    expect(added("images: [redis:7.0]  # two\n", image("redis:7.2")).added).toEqual([
      "images: [redis:7.0, redis:7.2]  # two",
    ]);
    const charts = 'charts:\n  - source: oci://ghcr.io/org/charts/app\n    versions: ["1.0.0"]\n';
    expect(added(charts, image("redis:7.0")).text).toBe(`${charts}\nimages:\n  - redis:7.0\n`);
  });
  it("keeps CRLF line ends", () => {
    const text = "images:\r\n  - redis:7.0   # one\r\n";
    expect(added(text, image("redis:7.2")).text).toBe(
      "images:\r\n  - redis:7.0   # one\r\n  - redis:7.2\r\n",
    );
  });
});

describe("ecr-mirror add --chart", () => {
  it("appends a version to the chart's versions (the source as written or with a trailing slash)", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const http = added(text, {
      kind: "chart",
      source: "https://kubernetes.github.io/ingress-nginx/",
      name: "ingress-nginx",
      version: "4.12.0",
    });
    expect(http.removed).toEqual(['    versions: ["4.11.3"]']);
    expect(http.added).toEqual(['    versions: ["4.11.3", "4.12.0"]']);
    const oci = added(text, {
      kind: "chart",
      source: "oci://ghcr.io/prometheus-community/charts/prometheus-node-exporter",
      name: null,
      version: "4.40.0",
    });
    expect(oci.added).toEqual(['    versions: ["4.39.0", "4.40.0"]']);
  });

  it("adds a new HTTP chart with its name, and starts a charts: section when there is none", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const r = added(text, {
      kind: "chart",
      source: "https://charts.bitnami.com/bitnami",
      name: "redis",
      version: "19.0.0",
    });
    expect(r.added).toEqual([
      "  - source: https://charts.bitnami.com/bitnami",
      "    name: redis",
      '    versions: ["19.0.0"]',
    ]);
    expect(r.text.endsWith('    versions: ["19.0.0"]\n')).toBe(true);
    const fresh = added("images:\n  - redis:7.0", {
      kind: "chart",
      source: "oci://ghcr.io/org/charts/app",
      name: null,
      version: "1.0.0",
    });
    expect(fresh.text).toBe(
      'images:\n  - redis:7.0\n\ncharts:\n  - source: oci://ghcr.io/org/charts/app\n    versions: ["1.0.0"]\n',
    );
  });
});

describe("ecr-mirror add refuses", () => {
  it("an image the list has, pointing at where it is (a plain entry, a tags item, a pinned tag)", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const lines = text.split("\n");
    const refused = (reference: string) => {
      const r = addToList(text, "examples/mirrors.yaml", image(reference));
      if (r.ok) throw new Error(`${reference} was added`);
      expect(r.afterEdit).toBe(false);
      return r.problems;
    };
    expect(refused("docker.io/library/redis:7.4")).toEqual([
      {
        file: "examples/mirrors.yaml",
        line: lines.findIndex((l) => l.startsWith("  - redis:7.4")) + 1,
        column: 5,
        severity: "error",
        message: "docker.io/library/redis:7.4 is already in the list as docker.io/library/redis:7.4",
        hint: "it is mirrored already; nothing was added",
      },
    ]);
    const [tagItem] = refused("busybox:1.36");
    expect(tagItem).toMatchObject({
      line: lines.indexOf('    tags: ["1.37", "1.36"]') + 1,
      column: 20,
      message: "busybox:1.36 is already in the list as docker.io/library/busybox:1.36",
    });
    const pinned = `images:\n  - nginx:1.27@${DIGEST_1}\n`;
    const r = addToList(pinned, "m.yaml", image("nginx:1.27"));
    expect(r.ok ? null : r.problems[0]?.message).toBe(
      `nginx:1.27 is already in the list as docker.io/library/nginx:1.27@${DIGEST_1}`,
    );
  });

  it("a chart version the list has", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const r = addToList(text, "m.yaml", {
      kind: "chart",
      source: "https://kubernetes.github.io/ingress-nginx",
      name: "ingress-nginx",
      version: "4.11.3",
    });
    expect(r.ok ? null : r.problems.map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual([
      `${text.split("\n").indexOf('    versions: ["4.11.3"]') + 1}:16 chart ingress-nginx 4.11.3 is already in the list`,
    ]);
  });

  it("a bad reference, located where the entry would go, with the parser's reason and hint", async () => {
    const text = await readFile(EXAMPLE, "utf8");
    const r = addToList(text, "examples/mirrors.yaml", image("Nginx:1.27"));
    expect(r).toEqual({
      ok: false,
      afterEdit: true,
      problems: [
        {
          file: "examples/mirrors.yaml",
          line: text.split("\n").indexOf("  - public.ecr.aws/aws-cli/aws-cli:2.15.62") + 2,
          column: 5,
          severity: "error",
          message: 'invalid image reference "Nginx:1.27": repository name (library/Nginx) must be lowercase',
          hint: "registry repository paths are lower case; tags may use upper case",
        },
      ],
    });
  });

  it("an entry that would make the list invalid (a second source landing in one repository)", () => {
    const text =
      "upstreams:\n  registry.k8s.io: { prefix: mirrors/k8s }\nimages:\n  - registry.k8s.io/pause:3.10\n";
    const r = addToList(text, "m.yaml", image("docker.io/k8s/pause:3.10"));
    expect(r.ok ? [] : r.problems.map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual([
      "5:5 docker.io/k8s/pause and registry.k8s.io/pause (line 4) both land in repository mirrors/k8s/pause",
    ]);
  });

  it("to touch a list that is invalid already: its own problems, nothing edited", () => {
    const r = addToList("images:\n  - redis\n", "m.yaml", image("redis:7.0"));
    expect(r).toMatchObject({ ok: false, afterEdit: false, problems: [{ line: 2, column: 5 }] });
  });
});
