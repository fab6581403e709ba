/** Rules for `upstreams:`, and where an image lands: the upstream of its host and the repository under its prefix. */
import { isMap, isScalar, type Node, type Pair, type YAMLMap } from "yaml";
import { checkHost, checkUrl } from "../address-policy.js";
import type { ImageReference, Location, Target, Upstream } from "../model.js";
import { defaultUpstreamPrefix, repositoryNameProblem } from "../naming.js";
import type { Problems } from "../problems.js";
import { hideUserinfo, shown as q } from "../quote.js";
import { isValidDomain } from "../reference.js";
import { mirrorListDefaults as defaults } from "../schema.js";
import { bool, get, str } from "../yaml-nodes.js";

/** A repository path as distribution's grammar writes it: components of [a-z0-9] joined by `.`, `_`, `__` or `-`. */
const REPOSITORY_PATH = /^(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export function readUpstreams(
  node: Node | undefined,
  target: Target,
  problems: Problems,
): Map<string, Upstream> {
  const result = new Map<string, Upstream>();
  if (!isMap(node)) return result;
  for (const pair of (node as YAMLMap).items) readUpstream(pair, target, problems, result);
  return result;
}

function readUpstream(pair: Pair, target: Target, problems: Problems, result: Map<string, Upstream>): void {
  const keyLoc = problems.locate(pair.key);
  if (!isScalar(pair.key) || typeof pair.key.value !== "string") return; // reported by the structure check
  const host = upstreamHost(pair.key.value, keyLoc, problems);
  if (host === null) return;
  if (result.has(host)) {
    problems.error(
      keyLoc,
      `upstream ${host} is listed twice (index.docker.io is docker.io)`,
      "merge the two entries",
    );
    return;
  }
  result.set(host, {
    host,
    prefix: readUpstreamPrefix(pair, host, target, problems),
    endpoint: readEndpoint(get(pair.value, "endpoint"), host, problems),
    redirect: bool(get(pair.value, "redirect")) ?? defaults["upstreams.<host>.redirect"],
    fallback: bool(get(pair.value, "fallback")) ?? defaults["upstreams.<host>.fallback"],
    location: keyLoc,
  });
}

/** The upstream's key as a registry host the address policy allows (`index.docker.io` is `docker.io`), or null. */
function upstreamHost(key: string, keyLoc: Location, problems: Problems): string | null {
  if (/^[a-z]+:\/\//i.test(key)) {
    problems.error(
      keyLoc,
      `upstream ${q(key)} is a URL; upstreams are keyed by registry host`,
      `write ${q(
        hideUserinfo(key)
          .replace(/^[a-z]+:\/\//i, "")
          .replace(/\/.*$/, ""),
      )}`,
    );
    return null;
  }
  const hostRefused = checkHost(key);
  if (!hostRefused.ok) {
    problems.error(keyLoc, `upstream: ${hostRefused.reason}`, hostRefused.hint);
    return null;
  }
  if (!isValidDomain(key)) {
    problems.error(
      keyLoc,
      `upstream ${q(key)} is not a registry host`,
      "expected host[:port] as image names carry it, e.g. quay.io or registry.k8s.io",
    );
    return null;
  }
  return key === "index.docker.io" ? "docker.io" : key;
}

/** The prefix the upstream lands under (reported, and kept, when it is no valid repository name). */
function readUpstreamPrefix(pair: Pair, host: string, target: Target, problems: Problems): string {
  const prefixNode = get(pair.value, "prefix");
  const prefix = str(prefixNode) ?? defaultUpstreamPrefix(host, target.imagePrefix);
  const prefixProblem = repositoryNameProblem(prefix, target.type);
  if (prefixProblem) {
    problems.error(
      problems.locate(prefixNode ?? pair.key),
      `upstream ${host} cannot land under ${q(prefix)}: ${prefixProblem}`,
      `give it a prefix of its own: upstreams: { "${host}": { prefix: "${target.imagePrefix}/${host
        .replace(/[^a-z0-9.]+/gi, "-")
        .replace(/^-|-$/g, "")
        .toLowerCase()}" } }`,
    );
  }
  return prefix;
}

/** The upstream's endpoint without trailing slashes, or null (absent, or reported). */
function readEndpoint(endpointNode: Node | undefined, host: string, problems: Problems): string | null {
  const endpoint = str(endpointNode)?.replace(/\/+$/, "") ?? null;
  if (endpoint === null) return null;
  const problem = endpointProblem(endpoint);
  if (!problem) return endpoint;
  problems.error(problems.locate(endpointNode), `upstream ${host} endpoint: ${problem.reason}`, problem.hint);
  return null;
}

/** An upstream endpoint: an http(s) URL crane can reach without --insecure, whose path is a repository prefix. */
function endpointProblem(endpoint: string): { reason: string; hint: string } | null {
  const checked = checkUrl(endpoint, ["https", "http"]);
  if (!checked.ok) return checked;
  if (!REPOSITORY_PATH.test(checked.path))
    return {
      reason: `the path of ${q(endpoint)} is not a repository prefix`,
      hint: "an endpoint is https://host[:port] with an optional path of lower-case repository components (no query, no .., no %-escapes)",
    };
  return null;
}

/** The upstream of `host`, added to `upstreams` with the defaults when the list has none for it. */
function upstreamFor(host: string, target: Target, upstreams: Map<string, Upstream>): Upstream {
  let upstream = upstreams.get(host);
  if (!upstream) {
    upstream = {
      host,
      prefix: defaultUpstreamPrefix(host, target.imagePrefix),
      endpoint: null,
      redirect: defaults["upstreams.<host>.redirect"],
      fallback: defaults["upstreams.<host>.fallback"],
      location: null,
    };
    upstreams.set(host, upstream);
  }
  return upstream;
}

/** Where an image lands: its upstream (added to `upstreams` when new), the repository, and why it cannot, if so. */
export function targetRepositoryOf(
  ref: ImageReference,
  target: Target,
  upstreams: Map<string, Upstream>,
): { upstream: Upstream; repository: string; problem: string | null } {
  const upstream = upstreamFor(ref.domain, target, upstreams);
  const repository = `${upstream.prefix}/${ref.path}`;
  return { upstream, repository, problem: repositoryNameProblem(repository, target.type) };
}
