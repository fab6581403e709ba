// Image references the way go-containerregistry's `name` package reads them (crane's parser),
// reduced to what the stand-ins need. Plain JavaScript so the stand-ins run without a build step.
import { isIP } from "node:net";

const DEFAULT_REGISTRY = "index.docker.io";

/**
 * @typedef {{ registry: string, repository: string, tag: string | null, digest: string | null }} Reference
 */

/** `host[:port]/path[:tag][@sha256:...]`; Docker Hub defaults as crane applies them. */
export function parseReference(text) {
  let rest = text;
  let digest = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(digest)) {
      throw new Error(`could not parse reference: ${text}`);
    }
  }
  let tag = null;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw new Error(`could not parse reference: ${text}`);
  }
  const { registry, repository } = parseRepository(rest);
  if (tag === null && digest === null) tag = "latest";
  return { registry, repository, tag, digest };
}

/** `host[:port]/path` or a Docker Hub short name. */
export function parseRepository(text) {
  const parts = text.split("/");
  let registry = DEFAULT_REGISTRY;
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = first;
    parts.shift();
  }
  if (registry === "docker.io") registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (
    !/^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$/.test(
      repository,
    )
  ) {
    throw new Error(`could not parse repository: ${text}`);
  }
  return { registry, repository };
}

export function formatReference(ref) {
  const base = `${ref.registry}/${ref.repository}`;
  if (ref.digest) return `${base}@${ref.digest}`;
  return `${base}:${ref.tag}`;
}

function isRfc1918(host) {
  const ip = host.split(":")[0] ?? "";
  if (isIP(ip) !== 4) return false;
  const [a, b] = ip.split(".").map(Number);
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/**
 * crane's `name.Registry.Scheme()` (go-containerregistry pkg/name/registry.go): "http" for --insecure,
 * RFC 1918 addresses, `localhost:PORT` (a bare `localhost` is https), `*.localhost`, 127.0.0.1 and ::1
 * (each with an optional port); "https" for everything else. "http" does not mean plain HTTP: the ping
 * tries https first and falls back to http (RegistryClient.ping, pkg/v1/remote/transport/ping.go).
 */
export function craneSchemes(registry, insecure) {
  return craneScheme(registry, insecure) === "http" ? ["https", "http"] : ["https"];
}

export function craneScheme(registry, insecure) {
  if (insecure) return "http";
  if (isRfc1918(registry)) return "http";
  if (registry.startsWith("localhost:")) return "http";
  if (/.*\.localhost(?::\d{1,5})?$/.test(registry)) return "http";
  if (/^127\.0\.0\.1(?::\d{1,5})?$/.test(registry)) return "http";
  if (/^(::1|\[::1\](?::\d{1,5})?)$/.test(registry)) return "http";
  return "https";
}
