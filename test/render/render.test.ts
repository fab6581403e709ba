import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { hostsDirectoryName } from "../../src/render/hosts-toml.js";
import {
  configuratorRepository,
  type NodeRenderInput,
  type RenderedFile,
  renderNodeConfig,
} from "../../src/render/index.js";
import { CONFIGURATOR, ECR_REGISTRY, mirrorList, standardList, upstream } from "./fixtures.js";

const input = (extra: Partial<NodeRenderInput> = {}): NodeRenderInput => ({
  registry: null,
  region: null,
  configuratorImage: CONFIGURATOR,
  ...extra,
});

function render(list = standardList(), extra: Partial<NodeRenderInput> = {}): RenderedFile[] {
  const result = renderNodeConfig(list, input(extra));
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join("\n"));
  return result.files;
}

const file = (files: RenderedFile[], path: string) => {
  const found = files.find((f) => f.path === path);
  if (!found) throw new Error(`no ${path} among ${files.map((f) => f.path).join(", ")}`);
  return found.content;
};

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is checked field by field below.
type Json = any;

function manifests(files: RenderedFile[]): Json[] {
  return parseAllDocuments(file(files, "ecr-mirror-node.yaml")).map((d) => d.toJS());
}

const daemonSetOf = (files: RenderedFile[]) => manifests(files).find((o) => o.kind === "DaemonSet");

describe("hosts.toml", () => {
  it("sends docker.io pulls to /v2/<prefix> on the mirror, with override_path and no upstream fallback", () => {
    const toml = parseToml(file(render(), "hosts/docker.io/hosts.toml")) as Json;
    const endpoint = `https://${ECR_REGISTRY}/v2/mirrors`;
    expect(toml.server).toBe(endpoint);
    expect(Object.keys(toml.host)).toEqual([endpoint]);
    expect(toml.host[endpoint]).toEqual({
      capabilities: ["pull", "resolve"],
      override_path: true,
      header: { Authorization: "Basic @ECR_TOKEN@" },
    });
    // The server entry (tried after the hosts) is the mirror with the same settings.
    expect(toml.override_path).toBe(true);
    expect(toml.capabilities).toEqual(["pull", "resolve"]);
    expect(toml.header).toEqual({ Authorization: "Basic @ECR_TOKEN@" });
  });

  it("nests other upstreams under their host and leaves out `server` when the list allows fallback", () => {
    const files = render(
      mirrorList([
        upstream("docker.io", "mirrors"),
        upstream("quay.io", "mirrors/quay.io", { fallback: true }),
      ]),
    );
    const quay = parseToml(file(files, "hosts/quay.io/hosts.toml")) as Json;
    expect(quay.server).toBeUndefined();
    expect(Object.keys(quay.host)).toEqual([`https://${ECR_REGISTRY}/v2/mirrors/quay.io`]);
    expect(quay.host[`https://${ECR_REGISTRY}/v2/mirrors/quay.io`].override_path).toBe(true);
  });

  it("carries no secret: only the placeholder the node replaces", () => {
    for (const f of render()) expect(f.content).not.toMatch(/Basic [A-Za-z0-9+/=]{8,}/);
  });

  it("names the folder the way containerd looks it up, also for a host with a port", () => {
    expect(hostsDirectoryName("docker.io")).toBe("docker.io");
    expect(hostsDirectoryName("localhost:5000")).toBe("localhost_5000_");
    expect(hostsDirectoryName("[::1]")).toBe("[::1]");
    const files = render(mirrorList([upstream("localhost:5000", "mirrors/localhost-5000")]));
    expect(files.map((f) => f.path)).toContain("hosts/localhost_5000_/hosts.toml");
  });

  it("tries HTTPS, then plain HTTP, on a loopback or private mirror, as crane does, whatever scheme is written", () => {
    const hosts = (registry: string) => {
      const toml = parseToml(
        file(render(standardList(), { registry, region: "us-east-1" }), "hosts/docker.io/hosts.toml"),
      ) as Json;
      return { server: toml.server, hosts: Object.keys(toml.host) };
    };
    // Offline (the list's host) and online (ECR's proxyEndpoint, with its scheme): the same file.
    for (const registry of ["127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000"]) {
      expect(hosts(registry)).toEqual({
        server: "https://127.0.0.1:5000/v2/mirrors",
        hosts: ["https://127.0.0.1:5000/v2/mirrors", "http://127.0.0.1:5000/v2/mirrors"],
      });
    }
    expect(hosts("10.1.2.3:8443").hosts).toEqual([
      "https://10.1.2.3:8443/v2/mirrors",
      "http://10.1.2.3:8443/v2/mirrors",
    ]);
    // A public host, and a bare `localhost` (crane's Scheme() is https there): HTTPS only.
    expect(hosts(`http://${ECR_REGISTRY}`).hosts).toEqual([`https://${ECR_REGISTRY}/v2/mirrors`]);
    expect(hosts("localhost").hosts).toEqual(["https://localhost/v2/mirrors"]);
  });
});

describe("rendering", () => {
  it("is byte-identical for the same input, whatever the order of the upstreams", () => {
    const a = render();
    const b = render();
    expect(b).toEqual(a);
    const reversed = standardList();
    reversed.upstreams.reverse();
    expect(render(reversed)).toEqual(a);
  });

  it("changes when the configurator digest changes (and only then rolls the pods)", () => {
    const a = daemonSetOf(render());
    const b = daemonSetOf(
      render(standardList(), { configuratorImage: { ...CONFIGURATOR, digest: `sha256:${"cd".repeat(32)}` } }),
    );
    expect(b.spec.template.spec.containers[0].image).not.toBe(a.spec.template.spec.containers[0].image);
    expect(b.spec.template.metadata.annotations).toEqual(a.spec.template.metadata.annotations);
    const c = daemonSetOf(render(mirrorList([upstream("docker.io", "mirrors")])));
    expect(c.spec.template.metadata.annotations).not.toEqual(a.spec.template.metadata.annotations);
  });

  it("names the configurator's upstream for readiness (PROBE_SOURCE), so it asks through that host's hosts.toml", () => {
    const env = (files: RenderedFile[]) =>
      Object.fromEntries(
        daemonSetOf(files).spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
          e.name,
          e.value,
        ]),
      );
    expect(env(render()).PROBE_SOURCE).toBeUndefined();
    const named = render(standardList(), {
      configuratorImage: { ...CONFIGURATOR, source: "public.ecr.aws/aws-cli/aws-cli" },
    });
    expect(env(named).PROBE_SOURCE).toBe("public.ecr.aws/aws-cli/aws-cli");
    expect(env(named).PROBE_IMAGE).toMatch(/aws-cli@sha256:/);
  });

  it("renders every file the README promises", () => {
    expect(render().map((f) => f.path)).toEqual([
      "README.md",
      "ecr-mirror-node.yaml",
      "hosts/docker.io/hosts.toml",
      "hosts/public.ecr.aws/hosts.toml",
      "hosts/quay.io/hosts.toml",
      "kustomization.yaml",
    ]);
    const readme = file(render(), "README.md");
    for (const needle of [
      "AmazonEC2ContainerRegistryPullOnly",
      "com.amazonaws.eu-west-1.ecr.api",
      "com.amazonaws.eu-west-1.ecr.dkr",
      "S3 gateway",
      "Bottlerocket is not supported",
      "kubectl apply -k .",
      "kubectl delete -k .",
    ]) {
      expect(readme).toContain(needle);
    }
  });

  it("reports what is unknown, all at once, as values", () => {
    const result = renderNodeConfig(mirrorList([upstream("docker.io", "mirrors")], null), {
      registry: null,
      region: null,
      configuratorImage: null,
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const messages = result.problems.map((p) => p.message).join("\n");
    expect(messages).toMatch(/registry's address is unknown/);
    expect(messages).toMatch(/region .* is unknown/);
    expect(messages).toMatch(/configurator image's digest is unknown/);
    expect(result.problems.find((p) => /digest/.test(p.message))?.hint).toContain(
      configuratorRepository("mirrors"),
    );
  });

  it("rejects a malformed digest and a list with nothing to redirect", () => {
    const bad = renderNodeConfig(
      standardList(),
      input({ configuratorImage: { ...CONFIGURATOR, digest: "latest" } }),
    );
    expect(bad.ok).toBe(false);
    const empty = renderNodeConfig(
      mirrorList([upstream("docker.io", "mirrors", { redirect: false })]),
      input(),
    );
    expect(empty.ok || empty.problems[0]?.message).toMatch(/No upstream registry is redirected/);
  });

  it("takes the region from the ECR host name when the list has none", () => {
    const ds = daemonSetOf(render());
    const env = ds.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: "AWS_REGION", value: "eu-west-1" });
  });
});

describe("Kubernetes objects", () => {
  const models: Record<string, new (data: Json) => { validate(): void }> = {
    DaemonSet,
    ConfigMap,
    ServiceAccount,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
  };

  it("validate against the Kubernetes API schema, with and without the startup taint", () => {
    for (const startupTaint of [false, true]) {
      const objects = manifests(render(standardList(), { startupTaint }));
      expect(objects.map((o) => o.kind)).toEqual([
        "ServiceAccount",
        "ConfigMap",
        "ConfigMap",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "DaemonSet",
      ]);
      for (const object of objects) {
        const Model = models[object.kind];
        expect(Model, object.kind).toBeDefined();
        expect(() => new Model!(object).validate()).not.toThrow();
      }
    }
  });

  it("the schema check is real: a wrong field type fails it", () => {
    const ds = daemonSetOf(render());
    ds.spec.template.spec.hostNetwork = "yes";
    expect(() => new DaemonSet(ds).validate()).toThrow();
  });

  it("the DaemonSet has the security settings DESIGN §3 lists", () => {
    const ds = daemonSetOf(render());
    expect(ds.metadata.namespace).toBe("kube-system");
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("Default");
    expect(pod.hostPID).toBeUndefined();
    expect(pod.hostIPC).toBeUndefined();
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    // The token reads the pod's own node and DaemonSet only (and patches the node with the startup taint).
    expect(pod.automountServiceAccountToken).toBe(true);
    const rbac = manifests(render());
    expect(rbac.find((o) => o.kind === "ClusterRole").rules).toEqual([
      { apiGroups: [""], resources: ["nodes"], verbs: ["get"] },
    ]);
    expect(rbac.find((o) => o.kind === "Role")).toMatchObject({
      metadata: { namespace: "kube-system" },
      rules: [
        {
          apiGroups: ["apps"],
          resources: ["daemonsets"],
          resourceNames: ["ecr-mirror-node"],
          verbs: ["get"],
        },
      ],
    });
    expect(ds.spec.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: "10%" },
    });
    const [container] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(container.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.image).toBe(`${ECR_REGISTRY}/${CONFIGURATOR.repository}@${CONFIGURATOR.digest}`);
    expect(JSON.stringify(ds)).not.toMatch(/nsenter|config\.toml"|systemctl/);
    const volumes = Object.fromEntries(pod.volumes.map((v: Json) => [v.name, v]));
    expect(volumes["certs-d"].hostPath).toEqual({
      path: "/etc/containerd/certs.d",
      type: "DirectoryOrCreate",
    });
    expect(volumes["host-containerd"].hostPath.path).toBe("/etc/containerd");
    const mounts = Object.fromEntries(container.volumeMounts.map((m: Json) => [m.name, m]));
    expect(mounts["host-containerd"].readOnly).toBe(true);
    expect(mounts.tmp.mountPath).toBe("/tmp");
    expect(volumes.tmp.emptyDir).toBeDefined();
    expect(volumes.home.emptyDir).toBeDefined();
    expect(container.readinessProbe.exec.command).toEqual(["/bin/sh", "/etc/ecr-mirror/scripts/ready.sh"]);
  });

  it("skips Windows, Fargate, Auto Mode, hybrid and Bottlerocket nodes", () => {
    const terms = daemonSetOf(render()).spec.template.spec.affinity.nodeAffinity
      .requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms).toHaveLength(1);
    expect(terms[0].matchExpressions).toEqual(
      expect.arrayContaining([
        { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
        { key: "eks.amazonaws.com/compute-type", operator: "NotIn", values: ["auto", "fargate", "hybrid"] },
        { key: "bottlerocket.aws/updater-interface-version", operator: "DoesNotExist" },
        { key: "ecr-mirror/skip", operator: "DoesNotExist" },
      ]),
    );
  });

  it("mounts each template at <namespace>/hosts.toml, also for a host with a port", () => {
    const files = render(
      mirrorList([upstream("docker.io", "mirrors"), upstream("localhost:5000", "mirrors/lh")]),
    );
    const objects = manifests(files);
    const hosts = objects.find((o) => o.metadata.name === "ecr-mirror-node-hosts");
    expect(hosts.data.localhost_5000_).toBe(file(files, "hosts/localhost_5000_/hosts.toml"));
    const volume = daemonSetOf(files).spec.template.spec.volumes.find(
      (v: Json) => v.name === "hosts-templates",
    );
    expect(volume.configMap.items).toEqual([
      { key: "docker.io", path: "docker.io/hosts.toml" },
      { key: "localhost_5000_", path: "localhost_5000_/hosts.toml" },
    ]);
  });

  it("with the startup taint: the env names it, RBAC lets it patch nodes, the NodeConfig registers it", () => {
    const files = render(standardList(), { startupTaint: true });
    const ds = daemonSetOf(files);
    expect(ds.spec.template.spec.containers[0].env).toContainEqual({
      name: "STARTUP_TAINT",
      value: "ecr-mirror/not-ready:NoSchedule",
    });
    expect(ds.spec.template.spec.automountServiceAccountToken).toBe(true);
    const role = manifests(files).find((o) => o.kind === "ClusterRole");
    expect(role.rules).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] }]);
    const nodeConfig = parseYaml(file(files, "nodeconfig.yaml"));
    expect(nodeConfig.spec.kubelet.config.registerWithTaints).toEqual([
      { key: "ecr-mirror/not-ready", value: "true", effect: "NoSchedule" },
    ]);
  });
});
