// The Kubernetes objects of the node configurator: ServiceAccount, two ConfigMaps (scripts and
// hosts.toml templates), the DaemonSet, and the RBAC its scripts use: read its own node (labels,
// containerd version; patch it too with the startup taint) and its own DaemonSet, which tells a pod
// stopping for good (DaemonSet deleted, node labelled ecr-mirror/skip) from a rolling update, so it
// removes its node's files only then (node-scripts.ts, cleanup on TERM).
// Plain objects typed by kubernetes-models (type-only imports: nothing of it ships at run time).
import { createHash } from "node:crypto";
import type { IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import type { IClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import type { IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { INodeSelectorRequirement } from "kubernetes-models/v1/NodeSelectorRequirement";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { CONFIGURE_SCRIPT, NODE_PATHS, READY_SCRIPT } from "./node-scripts.js";

export const NAMESPACE = "kube-system";
export const NAME = "ecr-mirror-node";

/** The startup taint new nodes register with (nodeconfig.yaml) and the DaemonSet removes. */
export const STARTUP_TAINT = { key: "ecr-mirror/not-ready", value: "true", effect: "NoSchedule" } as const;

/** Nodes carrying this label (any value) get no configurator pod. */
export const SKIP_LABEL = "ecr-mirror/skip";

/**
 * Nodes the DaemonSet cannot configure: Windows; Fargate, EKS Auto Mode and hybrid nodes
 * (`eks.amazonaws.com/compute-type`, the values EKS's own node agents exclude); Bottlerocket,
 * which has no label of its own: the update operator's `bottlerocket.aws/updater-interface-version`
 * is the customary one, and `ecr-mirror/skip` covers the rest.
 */
export const NODE_EXCLUSIONS: INodeSelectorRequirement[] = [
  { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
  { key: "eks.amazonaws.com/compute-type", operator: "NotIn", values: ["auto", "fargate", "hybrid"] },
  { key: "bottlerocket.aws/updater-interface-version", operator: "DoesNotExist" },
  { key: SKIP_LABEL, operator: "DoesNotExist" },
];

/** One hosts.toml template: its containerd namespace folder and a ConfigMap key for it. */
export interface HostsTemplate {
  directory: string;
  key: string;
  content: string;
}

export interface NodeObjectsInput {
  /** `registry/repository@sha256:...` */
  image: string;
  region: string;
  templates: HostsTemplate[];
  startupTaint: boolean;
  /** The configurator's upstream name: readiness asks for its manifest through that host's hosts.toml, if any. */
  probeSource?: string | null;
}

const labels = { "app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "ecr-mirror" };
const metadata = (name: string) => ({ name, namespace: NAMESPACE, labels });

type NodeObject =
  | IServiceAccount
  | IConfigMap
  | IDaemonSet
  | IClusterRole
  | IClusterRoleBinding
  | IRole
  | IRoleBinding;

export function nodeObjects(input: NodeObjectsInput): NodeObject[] {
  const scripts: IConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata(`${NAME}-scripts`),
    data: { "configure.sh": CONFIGURE_SCRIPT, "ready.sh": READY_SCRIPT },
  };
  const hosts: IConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata(`${NAME}-hosts`),
    data: Object.fromEntries(input.templates.map((t) => [t.key, t.content])),
  };
  // A change of script or template rolls the pods, so each node rewrites its files at once.
  const configHash = createHash("sha256")
    .update(JSON.stringify([scripts.data, hosts.data]))
    .digest("hex");

  const env = [
    { name: "AWS_REGION", value: input.region },
    { name: "HOME", value: NODE_PATHS.homeDir },
    { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
    // ready.sh asks the mirror for this manifest with the node's token (node-scripts.ts).
    { name: "PROBE_IMAGE", value: input.image },
    ...(input.probeSource ? [{ name: "PROBE_SOURCE", value: input.probeSource }] : []),
  ];
  if (input.startupTaint) {
    env.push({ name: "STARTUP_TAINT", value: `${STARTUP_TAINT.key}:${STARTUP_TAINT.effect}` });
  }

  const daemonSet: IDaemonSet = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: metadata(NAME),
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/name": NAME } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" } },
      template: {
        metadata: { labels, annotations: { "ecr-mirror/config-sha256": configHash } },
        spec: {
          serviceAccountName: NAME,
          automountServiceAccountToken: true,
          hostNetwork: true,
          dnsPolicy: "Default",
          priorityClassName: "system-node-critical",
          terminationGracePeriodSeconds: 5,
          tolerations: [{ operator: "Exists" }],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: NODE_EXCLUSIONS }],
              },
            },
          },
          securityContext: {
            // Root only to write the root-owned host folder; no capability, no privilege.
            runAsUser: 0,
            runAsGroup: 0,
            runAsNonRoot: false,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "configure",
              image: input.image,
              imagePullPolicy: "IfNotPresent",
              command: ["/bin/sh", `${NODE_PATHS.scriptsDir}/configure.sh`],
              env,
              readinessProbe: {
                exec: { command: ["/bin/sh", `${NODE_PATHS.scriptsDir}/ready.sh`] },
                initialDelaySeconds: 5,
                periodSeconds: 30,
                // Up to three bounded requests (HTTP_TIMEOUT_SECONDS each) when the mirror is asked.
                timeoutSeconds: 15,
                failureThreshold: 1,
              },
              resources: {
                requests: { cpu: "10m", memory: "64Mi" },
                limits: { memory: "256Mi" },
              },
              securityContext: {
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [
                { name: "certs-d", mountPath: NODE_PATHS.certsDir },
                { name: "host-containerd", mountPath: NODE_PATHS.hostContainerdDir, readOnly: true },
                { name: "hosts-templates", mountPath: NODE_PATHS.templatesDir, readOnly: true },
                { name: "scripts", mountPath: NODE_PATHS.scriptsDir, readOnly: true },
                { name: "state", mountPath: NODE_PATHS.stateDir },
                { name: "home", mountPath: NODE_PATHS.homeDir },
                { name: "tmp", mountPath: "/tmp" },
              ],
            },
          ],
          volumes: [
            {
              name: "certs-d",
              hostPath: { path: "/etc/containerd/certs.d", type: "DirectoryOrCreate" },
            },
            { name: "host-containerd", hostPath: { path: "/etc/containerd", type: "Directory" } },
            {
              name: "hosts-templates",
              configMap: {
                name: `${NAME}-hosts`,
                defaultMode: 0o444,
                items: input.templates.map((t) => ({ key: t.key, path: `${t.directory}/hosts.toml` })),
              },
            },
            { name: "scripts", configMap: { name: `${NAME}-scripts`, defaultMode: 0o444 } },
            { name: "state", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
            { name: "home", emptyDir: { sizeLimit: "64Mi" } },
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
          ],
        },
      },
    },
  };

  const serviceAccount: IServiceAccount = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: metadata(NAME),
    automountServiceAccountToken: true,
  };
  const subjects = [{ kind: "ServiceAccount", name: NAME, namespace: NAMESPACE }];
  const objects: NodeObject[] = [
    serviceAccount,
    scripts,
    hosts,
    // Kubernetes RBAC cannot narrow this to the pod's own node (resourceNames are static).
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: NAME, labels },
      rules: [
        { apiGroups: [""], resources: ["nodes"], verbs: input.startupTaint ? ["get", "patch"] : ["get"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: NAME, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: NAME },
      subjects,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: metadata(NAME),
      rules: [{ apiGroups: ["apps"], resources: ["daemonsets"], resourceNames: [NAME], verbs: ["get"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: metadata(NAME),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: NAME },
      subjects,
    },
  ];
  objects.push(daemonSet);
  return objects;
}
