/**
 * What a cluster runs, read from a pod list: the JSON of `kubectl get pods -A -o json` (a `List` of pods, or
 * the API's `PodList`, or one `Pod`). Each container, init container and ephemeral container gives one
 * `PodImage`: the image its spec names and, from the pod's status, the digest the node actually runs. Pure:
 * the text comes in, values or one located problem come out.
 */
import type { Location } from "../list/model.js";

export type ContainerKind = "container" | "initContainer" | "ephemeralContainer";

/** One container's image, as the pod spec names it. */
export interface PodImage {
  namespace: string;
  pod: string;
  container: string;
  kind: ContainerKind;
  /** The image as written in the spec (`nginx`, `quay.io/org/app:v1@sha256:…`); not yet checked. */
  image: string;
  /**
   * The digest the runtime reports for the image it runs (`status.*Statuses[].imageID`, as
   * `docker.io/library/nginx@sha256:…` or `docker-pullable://nginx@sha256:…`), or null when it reports none.
   */
  runningDigest: string | null;
}

/** A pod list that cannot be read: where (file, line, column; the JSON path for a value of the wrong shape) and why. */
export interface PodListProblem extends Location {
  message: string;
  hint: string;
}

export type PodListResult = { ok: true; images: PodImage[] } | { ok: false; problem: PodListProblem };

const HINT =
  "give the output of `kubectl get pods -A -o json` (a file, or - for stdin), unchanged: ecr-mirror reads its JSON";

const SECTIONS: readonly [string, string, ContainerKind][] = [
  ["containers", "containerStatuses", "container"],
  ["initContainers", "initContainerStatuses", "initContainer"],
  ["ephemeralContainers", "ephemeralContainerStatuses", "ephemeralContainer"],
];

/** Reads a pod list. `file` is the name shown in a problem (`-` reads as `stdin`). */
export function parsePodList(text: string, file: string): PodListResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: jsonProblem(text, file, e as Error) };
  }
  try {
    if (!isObject(json)) throw new Shape("the pod list", "is not a JSON object");
    if (json.kind === "Pod") return { ok: true, images: readPod(json, "the pod", 0) };
    if (!Array.isArray(json.items))
      throw new Shape("the pod list", 'has no "items" array (is it the output of kubectl get pods -o json?)');
    return { ok: true, images: json.items.flatMap((item, i) => readPod(item, `items[${i}]`, i)) };
  } catch (e) {
    if (!(e instanceof Shape)) throw e;
    return { ok: false, problem: { file, line: 1, column: 1, message: e.message, hint: HINT } };
  }
}

/** A value of the wrong shape, at its JSON path. */
class Shape extends Error {
  constructor(path: string, what: string) {
    super(`${path}: ${what}`);
  }
}

function readPod(item: unknown, at: string, i: number): PodImage[] {
  if (!isObject(item) || !isObject(item.metadata) || !isObject(item.spec))
    throw new Shape(at, "is not a pod (an object with metadata and spec)");
  const namespace = typeof item.metadata.namespace === "string" ? item.metadata.namespace : "default";
  const pod = typeof item.metadata.name === "string" ? item.metadata.name : `(pod ${i})`;
  const status = isObject(item.status) ? item.status : {};
  const images: PodImage[] = [];
  for (const [field, statusField, kind] of SECTIONS) {
    const containers = item.spec[field];
    if (containers === undefined || containers === null) continue;
    if (!Array.isArray(containers)) throw new Shape(`${at}.spec.${field}`, "is not an array");
    const running = runningDigests(status[statusField]);
    for (const [j, c] of containers.entries()) {
      if (!isObject(c) || typeof c.image !== "string" || typeof c.name !== "string")
        throw new Shape(`${at}.spec.${field}[${j}]`, "is not a container with a name and an image");
      const runningDigest = running.get(c.name) ?? null;
      images.push({ namespace, pod, container: c.name, kind, image: c.image, runningDigest });
    }
  }
  return images;
}

/** container name -> the digest in its status's imageID, for those that carry one. */
function runningDigests(statuses: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(statuses)) return out;
  for (const s of statuses) {
    if (!isObject(s) || typeof s.name !== "string" || typeof s.imageID !== "string") continue;
    const digest = repoDigest(s.imageID);
    if (digest) out.set(s.name, digest);
  }
  return out;
}

/**
 * The digest of an imageID: containerd reports `docker.io/library/nginx@sha256:…`, dockershim and cri-dockerd
 * `docker-pullable://nginx@sha256:…`. A bare `sha256:…` is the local image (config) id, not a registry digest.
 */
function repoDigest(imageID: string): string | null {
  return /@(sha256:[0-9a-f]{64})$/.exec(imageID)?.[1] ?? null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Where JSON.parse stopped (its `position N`), as a line and column, and its reason without the quoted text. */
function jsonProblem(text: string, file: string, e: Error): PodListProblem {
  const stated = /at position (\d+)/.exec(e.message)?.[1];
  const position = stated !== undefined ? Number(stated) : errorOffset(text);
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < position; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  // V8 quotes the input around the error ("…" is not valid JSON): that is data, so it is left out.
  const reason = e.message
    .replace(/,? "[\s\S]*" is not valid JSON$/, "")
    .replace(/ in JSON at position \d+[\s\S]*$/, "")
    .replace(/[^\x20-\x7e]/g, "?");
  return {
    file,
    line,
    column: position - lineStart + 1,
    message: `the pod list is not valid JSON: ${reason || "unreadable"}`,
    hint: HINT,
  };
}

/** Whether JSON.parse finds a fault inside `prefix` (not merely its end coming too early). */
function faultWithin(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return false;
  } catch (e) {
    const message = (e as Error).message;
    if (/^Unexpected end of JSON input/.test(message)) return false;
    const at = /at position (\d+)/.exec(message)?.[1];
    return at === undefined || Number(at) < prefix.length;
  }
}

/**
 * Where the first fault is when JSON.parse does not say (its "Unexpected token" names none): the shortest prefix
 * with a fault inside ends just after it (a prefix without one is a valid start of a document, so this is a
 * binary search).
 */
function errorOffset(text: string): number {
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (faultWithin(text.slice(0, mid + 1))) high = mid;
    else low = mid + 1;
  }
  return low;
}
