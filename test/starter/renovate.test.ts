// The Renovate preset (renovate/mirrors.json) applied as Renovate's regex custom manager applies it: each
// matchStrings pattern compiled with RE2 (Renovate's engine; re2-wasm is Google's RE2 build), the "recurse"
// strategy (each pattern runs on the previous one's matches, the named groups merged), templates over groups,
// and Renovate's validity rule. The oracle is the product's own list parser: every tag and chart version a list
// names exactly is one dependency with the right datasource, name, version and registry, and nothing else is.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { RE2, type RE2ExecArray } from "re2-wasm";
import { describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { parseReference, referenceName } from "../../src/list/reference.js";
import { starterFiles } from "../../src/starter/files.js";

const ROOT = join(import.meta.dirname, "..", "..");

interface Manager {
  customType: string;
  managerFilePatterns: string[];
  matchStringsStrategy: string;
  matchStrings: string[];
  datasourceTemplate: string;
}

interface Dependency {
  datasource: string;
  depName: string;
  currentValue: string;
  currentDigest?: string;
  registryUrl?: string;
  /** The last pattern's match: what Renovate's auto-replace looks for and edits. */
  replaceString?: string;
}

const config = JSON.parse(await readFile(join(ROOT, "renovate", "mirrors.json"), "utf8")) as {
  customManagers: Manager[];
};

/** Renovate's regexMatchAll: every match of a global pattern. */
function matchAll(pattern: RE2, content: string): RE2ExecArray[] {
  pattern.lastIndex = 0;
  const out: RE2ExecArray[] = [];
  for (let m = pattern.exec(content); m !== null && out.length < 10_000; m = pattern.exec(content))
    out.push(m);
  return out;
}

/** Renovate's handleRecursive + createDependency + isValidDependency for one manager. */
function extract(manager: Manager, content: string): Dependency[] {
  const patterns = manager.matchStrings.map((s) => new RE2(s, "gu"));
  const deps: Dependency[] = [];
  const recurse = (text: string, index: number, groups: Record<string, string>) => {
    if (index === patterns.length) {
      const dep: Dependency = {
        datasource: manager.datasourceTemplate,
        depName: groups.depName ?? "",
        currentValue: groups.currentValue ?? "",
      };
      if (groups.currentDigest) dep.currentDigest = groups.currentDigest;
      if (groups.registryUrl) dep.registryUrl = new URL(groups.registryUrl).toString();
      Object.defineProperty(dep, "replaceString", { value: text, enumerable: false });
      if (dep.depName.trim() && (dep.currentValue.trim() || dep.currentDigest)) deps.push(dep);
      return;
    }
    for (const m of matchAll(patterns[index]!, text)) {
      const found = Object.fromEntries(Object.entries(m.groups ?? {}).filter(([, v]) => v !== undefined));
      recurse(m[0]!, index + 1, { ...groups, ...found } as Record<string, string>);
    }
  };
  recurse(content, 0, {});
  return deps;
}

const extractAll = (content: string) => config.customManagers.flatMap((m) => extract(m, content));

/** A dependency as compared: the image name normalised as the list normalises it. */
function key(d: Dependency): string {
  const parsed = d.datasource === "docker" ? parseReference(d.depName) : null;
  const name = parsed?.ok ? referenceName(parsed.value) : d.depName;
  const registry = d.registryUrl ? ` from ${d.registryUrl.replace(/\/+$/, "")}` : "";
  return `${d.datasource} ${name}:${d.currentValue}${d.currentDigest ? `@${d.currentDigest}` : ""}${registry}`;
}

/** What Renovate must find in a list: every tag (pinned or not) and every exact chart version it names. */
function expected(list: MirrorList): string[] {
  const images = list.images
    .filter((i) => i.reference.tag !== null)
    .map((i) => {
      const digest = i.reference.digest ? `@${i.reference.digest}` : "";
      return `docker ${referenceName(i.reference)}:${i.reference.tag}${digest}`;
    });
  const charts = list.charts.map((c) => {
    if (c.kind === "http") return `helm ${c.name}:${c.version} from ${c.source}`;
    const parsed = parseReference(c.source.slice("oci://".length));
    return `docker ${parsed.ok ? referenceName(parsed.value) : c.source}:${c.version}`;
  });
  return [...new Set([...images, ...charts])].sort();
}

function check(text: string, file: string): string[] {
  const parsed = parseMirrorList(text, file);
  expect(parsed.problems.filter((p) => p.severity === "error")).toEqual([]);
  const found = [...new Set(extractAll(text).map(key))].sort();
  expect(found).toEqual(expected(parsed.list!));
  return found;
}

/**
 * Renovate's doAutoReplace: at each place the dependency's replaceString occurs, its currentValue replaced by
 * the new one, kept where extracting again finds the same dependency (by index) at the new value.
 */
function bump(content: string, manager: Manager, index: number, newValue: string): string {
  const dep = extract(manager, content)[index]!;
  const replaced = dep.replaceString!.replaceAll(dep.currentValue, newValue);
  for (
    let at = content.indexOf(dep.replaceString!);
    at !== -1;
    at = content.indexOf(dep.replaceString!, at + 1)
  ) {
    const candidate = content.slice(0, at) + replaced + content.slice(at + dep.replaceString!.length);
    const again = extract(manager, candidate)[index];
    if (again?.depName === dep.depName && again.currentValue === newValue) return candidate;
  }
  throw new Error(`no place to bump ${dep.depName}`);
}

describe("the Renovate preset finds every entry form of a mirror list", () => {
  it("uses the regex custom manager with managerFilePatterns for mirrors.yaml anywhere in the repository", () => {
    for (const m of config.customManagers) {
      expect(m).toMatchObject({ customType: "regex", matchStringsStrategy: "recurse" });
      expect(m.managerFilePatterns).toEqual(["/(^|/)mirrors\\.ya?ml$/"]);
    }
    const pattern = new RE2(config.customManagers[0]!.managerFilePatterns[0]!.slice(1, -1), "u");
    const files = ["mirrors.yaml", "clusters/prod/mirrors.yml", "mirrors.yaml.bak", "my-mirrors.yaml"];
    expect(files.filter((f) => pattern.test(f))).toEqual(["mirrors.yaml", "clusters/prod/mirrors.yml"]);
  });

  it("examples/mirrors.yaml: plain references, source + tags, an HTTP and an OCI chart", async () => {
    const found = check(
      await readFile(join(ROOT, "examples", "mirrors.yaml"), "utf8"),
      "examples/mirrors.yaml",
    );
    expect(found).toEqual([
      "docker docker.io/library/busybox:1.36",
      "docker docker.io/library/busybox:1.37",
      "docker docker.io/library/nginx:1.27",
      "docker docker.io/library/redis:7.4",
      "docker ghcr.io/prometheus-community/charts/prometheus-node-exporter:4.39.0",
      "docker public.ecr.aws/aws-cli/aws-cli:2.15.62",
      "docker quay.io/prometheus/node-exporter:v1.8.2",
      "docker registry.k8s.io/pause:3.10",
      "helm ingress-nginx:4.11.3 from https://kubernetes.github.io/ingress-nginx",
    ]);
  });

  it("the test fixtures: pinned tags, ports, digests-only entries, charts with ranges, values and targets", async () => {
    for (const name of ["everything.yaml", "minimal.yaml"]) {
      const path = join(ROOT, "test", "fixtures", "lists", "valid", name);
      check(await readFile(path, "utf8"), name);
    }
    const everything = extractAll(
      await readFile(join(ROOT, "test", "fixtures", "lists", "valid", "everything.yaml"), "utf8"),
    );
    expect(everything).toContainEqual({
      datasource: "docker",
      depName: "nginx",
      currentValue: "1.27",
      currentDigest: `sha256:${"1".repeat(64)}`,
    });
    expect(everything).toContainEqual({
      datasource: "docker",
      depName: "localhost:5000/team/app",
      currentValue: "2",
    });
    expect(everything).toContainEqual({
      datasource: "helm",
      depName: "ingress-nginx",
      currentValue: "4.10.0+build.1",
      registryUrl: "https://kubernetes.github.io/ingress-nginx/",
    });
  });

  it("the list ecr-mirror init writes, and block lists, quotes and comments", () => {
    const [starter] = starterFiles({
      account: null,
      region: null,
      repo: null,
      kmsKey: null,
      firstImage: "redis:7.4",
    });
    expect(check(starter!.content, "mirrors.yaml")).toEqual(["docker docker.io/library/redis:7.4"]);
    check(
      [
        "images:",
        "  - 'quay.io/org/app:1.2.3'     # quoted",
        "  - source: docker.io/library/busybox   # block tags, platforms first",
        "    platforms:",
        "      - linux/amd64",
        "    tags:",
        '      - "1.37"',
        "      - '1.36'   # old",
        "  - source: ghcr.io/org/tool",
        '    digests: ["sha256:2222222222222222222222222222222222222222222222222222222222222222"]',
        "  - source: ghcr.io/org/other",
        '    tags: ["v2"]',
        "charts:",
        "  - source: https://charts.example.com/stable/",
        "    name: demo     # a comment",
        "    images: true",
        "    versions:",
        '      - "1.2.3"',
        "  - source: oci://registry.example.com/charts/demo",
        "    target: demo-oci",
        '    versions: ["0.1.0", "0.2.0"]',
        "",
      ].join("\n"),
      "mirrors.yaml",
    );
  });

  it("the README's mirror lists", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    let lists = 0;
    for (const [, block] of readme.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      // The README writes digests as sha256:… and elides policy rules as [ ... ]; make those concrete.
      const text = block!.replaceAll("sha256:…", `sha256:${"a".repeat(64)}`).replaceAll("[ ... ]", "[]");
      if (!/^(images|charts):/m.test(text) || /^\s*(on|jobs|steps|runs):/m.test(text)) continue;
      const parsed = parseMirrorList(text, "README.md");
      if (!parsed.list) continue;
      lists++;
      check(text, "README.md");
    }
    expect(lists).toBeGreaterThan(0);
  });

  it("a bump edits the one version in place and the list stays valid (tags, plain references, charts)", async () => {
    const text = await readFile(join(ROOT, "examples", "mirrors.yaml"), "utf8");
    const [plain, tags, http] = config.customManagers;
    const busybox = extract(tags!, text).findIndex((d) => d.currentValue === "1.36");
    let bumped = bump(text, tags!, busybox, "1.38");
    bumped = bump(
      bumped,
      plain!,
      extract(plain!, bumped).findIndex((d) => d.depName === "redis"),
      "7.5",
    );
    bumped = bump(bumped, http!, 0, "4.12.0");
    const diff = bumped.split("\n").filter((l, i) => l !== text.split("\n")[i]);
    expect(diff).toEqual([
      "  - redis:7.5                                   # docker.io/library/redis -> mirrors/library/redis",
      '    tags: ["1.37", "1.38"]',
      '    versions: ["4.12.0"]',
    ]);
    expect(check(bumped, "mirrors.yaml")).toContain("docker docker.io/library/busybox:1.38");
    // Only the tag is edited, never a name that holds the same digits.
    const named = "images:\n  - ghcr.io/org/app1:1\n  - localhost:5000/team/app:5000\n";
    expect(bump(bump(named, plain!, 0, "2"), plain!, 1, "5001")).toBe(
      "images:\n  - ghcr.io/org/app1:2\n  - localhost:5000/team/app:5001\n",
    );
  });
});
