// What a user applies from the render folder: plain YAML (no anchors), a kustomization.yaml that lists
// exactly the cluster objects, no nodeadm NodeConfig unless asked for one (and then the right one for the
// containerd version), and hosts.toml only for the hosts the list itself mirrors.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { isAlias, isNode, parseAllDocuments, parse as parseYaml, visit } from "yaml";
import { addChartImages } from "../../src/charts/discover.js";
import type { MirrorList } from "../../src/list/model.js";
import { DEFAULT_CONFIGURATOR_IMAGE, type RenderedFile, renderNodeConfig } from "../../src/render/index.js";
import { listSummary } from "../../src/report/list-json.js";
import { withConfiguratorImage } from "../../src/run.js";
import { validList } from "../harness/list.js";
import { CONFIGURATOR, standardList } from "./fixtures.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/nodeadm");
const REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

function render(
  list: MirrorList = standardList(),
  extra: Parameters<typeof renderNodeConfig>[1] | object = {},
) {
  const result = renderNodeConfig(list, {
    registry: null,
    region: null,
    configuratorImage: CONFIGURATOR,
    ...extra,
  });
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join("\n"));
  return result.files;
}
const paths = (files: RenderedFile[]) => files.map((f) => f.path);
const content = (files: RenderedFile[], path: string) => {
  const found = files.find((f) => f.path === path);
  if (!found) throw new Error(`no ${path} among ${paths(files).join(", ")}`);
  return found.content;
};

/** The list as a user writes it, parsed by the real parser. */
function list(text: string): MirrorList {
  return validList(`target: { registry: ${REGISTRY} }\n${text}`);
}
/** The list as a sync that renders plans it: with the configurator image ecr-mirror adds. */
const withConfigurator = (l: MirrorList) => withConfiguratorImage(l, DEFAULT_CONFIGURATOR_IMAGE).list;

// biome-ignore lint/suspicious/noExplicitAny: TOML tables read generically.
type Table = Record<string, any>;
/** What nodeadm does with a NodeConfig's containerd part: merged over its template, later values winning. */
function merge(base: Table, patch: Table): Table {
  const out: Table = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && typeof out[key] === "object"
        ? merge(out[key], value)
        : value;
  }
  return out;
}
const nodeadmOutput = (name: string) => parseToml(readFileSync(join(FIXTURES, name), "utf8")) as Table;

describe("rendered YAML", () => {
  it("has no anchors or aliases, with and without the startup taint and a NodeConfig", () => {
    for (const extra of [{}, { startupTaint: true, nodeConfig: "containerd-2" }]) {
      const files = render(standardList(), extra);
      const yamlFiles = files.filter((f) => f.path.endsWith(".yaml"));
      expect(paths(yamlFiles)).toContain("ecr-mirror-node.yaml");
      for (const file of yamlFiles) {
        expect(file.content, file.path).not.toMatch(/(^|\s)[&*]a\d+\b/m);
        for (const document of parseAllDocuments(file.content)) {
          expect(document.errors, file.path).toEqual([]);
          const found: string[] = [];
          visit(document, (_key, node) => {
            if (isAlias(node)) found.push(`alias *${node.source}`);
            else if (isNode(node) && node.anchor) found.push(`anchor &${node.anchor}`);
          });
          expect(found, file.path).toEqual([]);
        }
      }
    }
  });
});

describe("kustomization.yaml", () => {
  it("lists exactly the files that hold cluster objects, each of which is rendered", () => {
    for (const extra of [{}, { startupTaint: true, nodeConfig: "containerd-1.7" }]) {
      const files = render(standardList(), extra);
      const kustomization = parseYaml(content(files, "kustomization.yaml"));
      expect(kustomization.apiVersion).toBe("kustomize.config.k8s.io/v1beta1");
      expect(kustomization.kind).toBe("Kustomization");
      // Every rendered YAML file of Kubernetes objects, and nothing else (not nodeconfig.yaml, not the README).
      const clusterFiles = files
        .filter((f) => f.path.endsWith(".yaml") && f.path !== "kustomization.yaml")
        .filter((f) =>
          parseAllDocuments(f.content).every((d) => {
            const o = d.toJS();
            return o?.apiVersion && o?.kind && o.kind !== "NodeConfig";
          }),
        )
        .map((f) => f.path);
      expect(kustomization.resources).toEqual(clusterFiles);
      expect(kustomization.resources).toEqual(["ecr-mirror-node.yaml"]);
      for (const resource of kustomization.resources) expect(paths(files)).toContain(resource);
      expect(Object.keys(kustomization).sort()).toEqual(["apiVersion", "kind", "resources"]);
    }
  });
});

describe("nodeadm NodeConfig", () => {
  it("is not rendered by default: stock AL2023 nodes need no user data", () => {
    const files = render();
    expect(paths(files)).not.toContain("nodeconfig.yaml");
    expect(files.filter((f) => /^kind: NodeConfig$/m.test(f.content)).map((f) => f.path)).toEqual([]);
    expect(content(files, "README.md")).toContain("need no user-data change");
  });

  it("for containerd 1.7: the version-2 key only, which nodeadm's 1.7 template reads", () => {
    const files = render(standardList(), { nodeConfig: "containerd-1.7" });
    const text = content(files, "nodeconfig.yaml");
    const nodeConfig = parseYaml(text);
    expect(nodeConfig).toMatchObject({ apiVersion: "node.eks.aws/v1alpha1", kind: "NodeConfig" });
    expect(Object.keys(nodeConfig.spec)).toEqual(["containerd"]);
    // nodeadm (AMI v20250807 on) refuses a version-3 key on a 1.7 node: there must be none.
    expect(nodeConfig.spec.containerd.config).not.toContain("io.containerd.cri.v1");
    const patch = parseToml(nodeConfig.spec.containerd.config) as Table;
    expect(patch.version).toBe(2);
    const merged = merge(nodeadmOutput("containerdv1-config_expected-containerd-config.toml"), patch);
    expect(merged.plugins["io.containerd.grpc.v1.cri"].registry.config_path).toBe(
      "/etc/containerd/certs.d:/etc/docker/certs.d",
    );
    // The rest of nodeadm's output is untouched.
    expect(merged.plugins["io.containerd.grpc.v1.cri"].containerd.default_runtime_name).toBe("runc");
    expect(text).toMatch(/containerd 1\.7 ONLY/);
    expect(text).toMatch(/nodeadm merges NodeConfig parts in user-data order/);
  });

  it("for containerd 2.x: the version-3 key io.containerd.cri.v1.images, one folder, and what it does to other parts", () => {
    const files = render(standardList(), { nodeConfig: "containerd-2" });
    const text = content(files, "nodeconfig.yaml");
    const nodeConfig = parseYaml(text);
    const patch = parseToml(nodeConfig.spec.containerd.config) as Table;
    expect(patch).toEqual({
      version: 3,
      plugins: { "io.containerd.cri.v1.images": { registry: { config_path: "/etc/containerd/certs.d" } } },
    });
    const merged = merge(nodeadmOutput("containerdv2-config_expected-containerd-configv3.toml"), patch);
    expect(merged.plugins["io.containerd.cri.v1.images"].registry.config_path).toBe(
      "/etc/containerd/certs.d",
    );
    expect(merged.plugins["io.containerd.cri.v1.images"].pinned_images.sandbox).toBe(
      "registry.k8s.io/pause:3.10",
    );
    expect(text).toMatch(/BREAKS containerd 1\.7 nodes/);
    expect(text).toMatch(/version-2 keys .*\n.*not migrated and its settings are dropped/);
    expect(content(files, "README.md")).toContain("containerd 2.x nodes only");
  });

  it("with the startup taint only: a kubelet part and no containerd part, safe on every version", () => {
    const nodeConfig = parseYaml(content(render(standardList(), { startupTaint: true }), "nodeconfig.yaml"));
    expect(Object.keys(nodeConfig.spec)).toEqual(["kubelet"]);
    expect(nodeConfig.spec.kubelet.config.registerWithTaints).toEqual([
      { key: "ecr-mirror/not-ready", value: "true", effect: "NoSchedule" },
    ]);
  });
});

describe("redirected hosts", () => {
  it("mirroring the configurator image alone renders no public.ecr.aws redirect, but still mirrors it", () => {
    const planned = withConfigurator(list("images: [redis:7.0, quay.io/org/app:1]\n"));
    expect(planned.images.map((i) => i.source)).toContain(DEFAULT_CONFIGURATOR_IMAGE);
    const files = render(planned);
    expect(paths(files).filter((p) => p.startsWith("hosts/"))).toEqual([
      "hosts/docker.io/hosts.toml",
      "hosts/quay.io/hosts.toml",
    ]);
    expect(files.map((f) => f.content).join("\n")).not.toMatch(
      /public\.ecr\.aws\/hosts\.toml|"public\.ecr\.aws"/,
    );
    expect(content(files, "README.md")).not.toContain("| `public.ecr.aws` |");
  });

  it("an upstream listed only to fetch the configurator from elsewhere redirects nothing either", () => {
    const listed = list(
      "upstreams:\n  public.ecr.aws: { endpoint: https://ecr-public.example.com }\nimages: [redis:7.0]\n",
    );
    const files = render(withConfigurator(listed));
    expect(paths(files).filter((p) => p.startsWith("hosts/"))).toEqual(["hosts/docker.io/hosts.toml"]);
    expect(listSummary(listed)).not.toContain("public.ecr.aws");
  });

  it("redirects public.ecr.aws when a chart uses the configurator image by its own name", () => {
    const planned = withConfigurator(list("images: [redis:7.0]\n"));
    const chart = {
      kind: "http",
      source: "https://charts.example.com",
      name: "tools",
      repository: "charts/tools",
      version: "1.0.0",
      tag: "1.0.0",
      location: { file: "mirrors.yaml", line: 3, column: 5 },
      images: { values: {} },
    } as const;
    const { list: withCharts } = addChartImages(planned, [{ chart, images: [DEFAULT_CONFIGURATOR_IMAGE] }]);
    expect(paths(render(planned))).not.toContain("hosts/public.ecr.aws/hosts.toml");
    expect(paths(render(withCharts))).toContain("hosts/public.ecr.aws/hosts.toml");
  });

  it("redirects public.ecr.aws when the list names an image there itself, the configurator's included", () => {
    for (const image of ["public.ecr.aws/karpenter/controller:1.0.0", DEFAULT_CONFIGURATOR_IMAGE]) {
      const files = render(withConfigurator(list(`images: [redis:7.0, "${image}"]\n`)));
      expect(paths(files)).toContain("hosts/public.ecr.aws/hosts.toml");
    }
  });

  it("validate names each redirected host and says every pull goes to the mirror only (or with fallback)", () => {
    const text = listSummary(
      list("upstreams:\n  quay.io: { fallback: true }\nimages: [redis:7.0, quay.io/org/app:1]\n"),
    );
    expect(text).toContain(
      "Nodes redirect these hosts: every pull from them on every node goes to the mirror.",
    );
    expect(text).toContain("  docker.io -> mirrors: mirror only, no fallback");
    expect(text).toContain(
      "  quay.io -> mirrors/quay.io: mirror first, falling back to quay.io when the mirror fails",
    );
    expect(text).not.toContain("public.ecr.aws");
  });
});

describe("the render README", () => {
  it("documents an uninstall whose node command removes only ecr-mirror's files", () => {
    const readme = content(render(), "README.md");
    expect(readme).toContain("## Uninstall");
    expect(readme).toContain("kubectl delete -k .");
    expect(readme).toMatch(
      /kubectl debug node\/NODE_NAME --profile=sysadmin --attach --image=\S+aws-cli@sha256:/,
    );
  });

  it("its node command, as a shell passes it to kubectl, removes only ecr-mirror's files and temporary files", () => {
    const files = render();
    const readme = content(files, "README.md");
    const command = /^ {3}(kubectl debug node\/NODE\S* .*)$/m.exec(readme)?.[1];
    expect(command).toBeDefined();
    // A stand-in kubectl records the argv bash gives it; the script after `--` then runs on a fake node root.
    const work = mkdtempSync(join(tmpdir(), "ecr-mirror-uninstall-"));
    const argvFile = join(work, "argv");
    mkdirSync(join(work, "bin"));
    writeFileSync(join(work, "bin/kubectl"), `#!/bin/sh\nprintf '%s\\0' "$@" > ${argvFile}\n`, {
      mode: 0o755,
    });
    execFileSync("bash", ["-c", command!], { env: { PATH: `${join(work, "bin")}:${process.env.PATH}` } });
    const argv = readFileSync(argvFile, "utf8").split("\0").slice(0, -1);
    const script = argv.slice(argv.indexOf("--") + 1);
    expect(script).toHaveLength(3);
    expect(script[1]).toBe("-c");

    const certs = join(work, "root/etc/containerd/certs.d");
    const place = (path: string, text: string) => {
      mkdirSync(join(certs, path, ".."), { recursive: true });
      writeFileSync(join(certs, path), text);
    };
    const written = (path: string) => content(files, path).replace("@ECR_TOKEN@", "QVdTOnNlY3JldA==");
    place("docker.io/hosts.toml", written("hosts/docker.io/hosts.toml"));
    place("docker.io/.hosts.toml.Xa1b2", "half a token");
    place("public.ecr.aws/hosts.toml", written("hosts/public.ecr.aws/hosts.toml"));
    place("public.ecr.aws/ca.crt", "a user's certificate");
    place("quay.io/hosts.toml", 'server = "https://quay.example.com"\n'); // the user's own
    place("registry.k8s.io/hosts.toml", 'server = "https://k8s.example.com"\n'); // not redirected here
    execFileSync("sh", ["-c", script[2]!.replaceAll("/host/etc/", `${join(work, "root/etc")}/`)]);

    const left = readdirSync(certs, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(certs.length + 1))
      .sort();
    expect(left).toEqual(["public.ecr.aws/ca.crt", "quay.io/hosts.toml", "registry.k8s.io/hosts.toml"]);
  });
});
