/**
 * The images a chart deploys, read from what `helm template` rendered: every container, init container
 * and ephemeral container of every workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
 * ReplicationController, Job, CronJob, and any other kind with a pod template), plus the image list a
 * chart may declare in its Chart.yaml annotations (`helm.sh/images`, `artifacthub.io/images`). Pure.
 */
import { parseAllDocuments } from "yaml";
import { formatReference, parseReference } from "../list/reference.js";

export interface DiscoveryWarning {
  message: string;
  /** Where in the rendered output: `Deployment/ns/name spec.template.spec.containers[0].image`. */
  path: string;
}

export interface DiscoveredImages {
  /** Normalised references (`docker.io/library/nginx:1.27`), first occurrence first, no duplicates. */
  images: string[];
  warnings: DiscoveryWarning[];
}

export interface ChartIdentity {
  name: string;
  version: string;
  /** Chart.yaml annotations (string values). */
  annotations?: Record<string, string>;
}

/** Chart.yaml annotations that list a chart's images (`- name: x\n  image: repo:tag`). */
export const IMAGE_ANNOTATIONS = ["helm.sh/images", "artifacthub.io/images"] as const;

/** Where the pod spec sits in each workload kind. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ["spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};
const TEMPLATE_PATH = ["spec", "template", "spec"];
const CONTAINER_LISTS = ["initContainers", "containers", "ephemeralContainers"] as const;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function at(node: unknown, path: readonly string[]): unknown {
  let n = node;
  for (const key of path) n = isObject(n) ? n[key] : undefined;
  return n;
}

function describeObject(doc: Json): string {
  const meta = isObject(doc.metadata) ? doc.metadata : {};
  const kind = typeof doc.kind === "string" ? doc.kind : "(no kind)";
  const name = typeof meta.name === "string" ? meta.name : "(no name)";
  return typeof meta.namespace === "string" ? `${kind}/${meta.namespace}/${name}` : `${kind}/${name}`;
}

export function imagesFromManifests(rendered: string, chart: ChartIdentity): DiscoveredImages {
  const found: string[] = [];
  const warnings: DiscoveryWarning[] = [];
  const label = `chart ${chart.name} ${chart.version}`;

  const take = (value: unknown, path: string) => {
    if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
      warnings.push({
        message: `${label}: ${path} is empty (templated from an empty value?); that image is not mirrored`,
        path,
      });
      return;
    }
    const text = String(value).trim();
    const parsed = parseReference(text);
    if (!parsed.ok) {
      warnings.push({
        message: `${label}: ${path} is "${text}", not an image reference (${parsed.error}); that image is not mirrored`,
        path,
      });
      return;
    }
    const ref = parsed.value;
    // The kubelet pulls `:latest` when a reference has neither tag nor digest.
    found.push(formatReference(ref.tag === null && ref.digest === null ? { ...ref, tag: "latest" } : ref));
  };

  const visit = (doc: unknown, source: string | null) => {
    if (!isObject(doc)) return;
    if (doc.kind === "List" && Array.isArray(doc.items)) {
      for (const item of doc.items) visit(item, source);
      return;
    }
    const kind = typeof doc.kind === "string" ? doc.kind : "";
    const specPath = POD_SPEC_PATHS[kind] ?? TEMPLATE_PATH;
    const spec = at(doc, specPath);
    if (!isObject(spec)) return;
    const object = describeObject(doc);
    for (const list of CONTAINER_LISTS) {
      const containers = spec[list];
      if (!Array.isArray(containers)) continue;
      containers.forEach((container, i) => {
        const path = `${object} ${[...specPath, `${list}[${i}]`, "image"].join(".")}`;
        take(isObject(container) ? container.image : undefined, source ? `${path} (${source})` : path);
      });
    }
  };

  for (const piece of splitDocuments(rendered)) {
    const source = /^#\s*Source:\s*(.+)$/m.exec(piece)?.[1]?.trim() ?? null;
    for (const doc of parseAllDocuments(piece)) {
      if (doc.errors.length > 0) {
        warnings.push({
          message: `${label}: a rendered manifest${source ? ` (${source})` : ""} is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`,
          path: source ?? "(rendered output)",
        });
        continue;
      }
      visit(doc.toJS(), source);
    }
  }

  for (const key of IMAGE_ANNOTATIONS) {
    const text = chart.annotations?.[key];
    if (text === undefined) continue;
    const listed = annotationImages(text);
    if (listed === null) {
      warnings.push({
        message: `${label}: the ${key} annotation in Chart.yaml is not a list of { name, image }`,
        path: `Chart.yaml annotations.${key}`,
      });
      continue;
    }
    listed.forEach((image, i) => {
      take(image, `Chart.yaml annotations.${key}[${i}].image`);
    });
  }
  return { images: [...new Set(found)], warnings };
}

/** Splits `helm template` output on document markers, keeping each document's `# Source:` comment with it. */
function splitDocuments(text: string): string[] {
  return text.split(/^---[ \t]*$/m).filter((piece) => piece.trim() !== "");
}

/** The `image` values of an images annotation (a YAML list of `{ name, image }`), or null when it is not one. */
function annotationImages(text: string): unknown[] | null {
  let doc: unknown;
  try {
    doc = parseAllDocuments(text)[0]?.toJS();
  } catch {
    return null;
  }
  if (!Array.isArray(doc)) return null;
  return doc.map((item) => (isObject(item) ? item.image : undefined));
}
