/**
 * Where content is fetched from, as opposed to what it is called. An upstream endpoint in the mirror list
 * (`docker.io` fetched through `https://mirror.gcr.io`, or a pull-through cache at `http://10.0.0.5:5000/hub`)
 * changes only the address crane and helm talk to; names, target repositories and reports keep the list's names.
 */

import type { ImageReference, Upstream } from "../list/model.js";
import { formatReference } from "../list/reference.js";

export interface FetchAddress {
  /** What crane is given: `127.0.0.1:5000/library/redis:7.0`. */
  reference: string;
  /** `host[:port]` the request goes to; look credentials up by it. */
  registry: string;
  /** True when an upstream endpoint replaced the name's own host. */
  viaEndpoint: boolean;
}

function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  return h === "index.docker.io" || h === "registry-1.docker.io" ? "docker.io" : h;
}

/**
 * An endpoint URL's registry host and path prefix. Its scheme decides nothing: every registry is reached by
 * crane's rule (HTTPS first, plain HTTP as the fallback on loopback and private hosts; registry/scheme.ts).
 */
export function parseEndpoint(endpoint: string): { registry: string; pathPrefix: string } {
  const url = new URL(endpoint);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`upstream endpoint ${endpoint} must be an http:// or https:// URL`);
  }
  return {
    registry: url.host,
    pathPrefix: url.pathname.replace(/^\/+|\/+$/g, ""),
  };
}

function endpointFor(host: string, upstreams: readonly Upstream[]): string | null {
  const wanted = canonicalHost(host);
  return upstreams.find((u) => u.endpoint && canonicalHost(u.host) === wanted)?.endpoint ?? null;
}

/** The address an image is fetched from, honouring the list's upstream endpoints. */
export function fetchAddress(reference: ImageReference, upstreams: readonly Upstream[]): FetchAddress {
  const endpoint = endpointFor(reference.domain, upstreams);
  if (!endpoint) {
    return {
      reference: formatReference(reference),
      registry: reference.domain,
      viaEndpoint: false,
    };
  }
  const { registry, pathPrefix } = parseEndpoint(endpoint);
  const path = pathPrefix ? `${pathPrefix}/${reference.path}` : reference.path;
  return {
    reference: formatReference({ ...reference, domain: registry, path }),
    registry,
    viaEndpoint: true,
  };
}

/**
 * The address an OCI chart (`oci://host/path/name`, no version) is fetched from. Returns the `oci://`
 * reference for helm and the bare `host/path/name` for crane.
 */
export function chartFetchAddress(
  source: string,
  upstreams: readonly Upstream[],
): FetchAddress & { ociReference: string } {
  const bare = source.replace(/^oci:\/\//, "").replace(/\/+$/, "");
  const slash = bare.indexOf("/");
  const host = slash < 0 ? bare : bare.slice(0, slash);
  const path = slash < 0 ? "" : bare.slice(slash + 1);
  const endpoint = endpointFor(host, upstreams);
  if (!endpoint)
    return {
      reference: bare,
      ociReference: `oci://${bare}`,
      registry: host,
      viaEndpoint: false,
    };
  const parsed = parseEndpoint(endpoint);
  const fetched = [parsed.registry, parsed.pathPrefix, path].filter((p) => p !== "").join("/");
  return {
    reference: fetched,
    ociReference: `oci://${fetched}`,
    registry: parsed.registry,
    viaEndpoint: true,
  };
}
