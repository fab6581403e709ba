/**
 * Upstream digest checks (resync mode `digest` only): what each tag points at now, by manifest
 * HEAD (which Docker Hub does not count as a pull). Platform-filtered entries need the index's
 * platform digests, so those take one GET of the index. Upstream endpoints and credentials apply.
 */
import type { ImageEntry, Upstream } from "../list/model.js";
import { mapWithConcurrency } from "../pool.js";
import { DistributionClient, type RequestCounts } from "../registry/distribution.js";
import { credentialFor, type RegistryCredential } from "../tools/credentials.js";
import { parseEndpoint } from "../tools/fetch-address.js";
import type { UpstreamDigest } from "./model.js";

export interface UpstreamCheck {
  digests: Map<string, UpstreamDigest>;
  failures: Map<string, string>;
  counts: RequestCounts;
}

/** Docker Hub's registry API lives at registry-1.docker.io, not docker.io. */
function apiHost(host: string): string {
  return host === "docker.io" ? "registry-1.docker.io" : host;
}

/** An index's children by platform (`linux/arm64/v8` -> digest); empty for a single manifest. */
export function platformDigests(manifest: Record<string, unknown>): Record<string, string> {
  const children =
    (manifest.manifests as { digest: string; platform?: Record<string, string> }[] | undefined) ?? [];
  const out: Record<string, string> = {};
  for (const child of children) {
    if (child.platform) {
      const { os, architecture, variant } = child.platform;
      out[[os, architecture, variant].filter(Boolean).join("/")] = child.digest;
    }
  }
  return out;
}

export async function checkUpstreamDigests(
  entries: readonly ImageEntry[],
  upstreams: readonly Upstream[],
  credentials: readonly RegistryCredential[],
  options: { concurrency?: number; fetch?: typeof fetch } = {},
): Promise<UpstreamCheck> {
  const counts: RequestCounts = {};
  const clients = new Map<string, DistributionClient>();
  const clientFor = (entry: ImageEntry): DistributionClient => {
    const upstream = upstreams.find((u) => u.host === entry.reference.domain);
    let key: string;
    let make: () => DistributionClient;
    if (upstream?.endpoint) {
      const { registry, pathPrefix } = parseEndpoint(upstream.endpoint);
      key = upstream.endpoint;
      make = () =>
        new DistributionClient({
          baseUrl: `https://${registry}`,
          pathPrefix,
          auth: credentialFor(registry, credentials),
          counts,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        });
    } else {
      const host = entry.reference.domain;
      key = host;
      make = () =>
        new DistributionClient({
          baseUrl: `https://${apiHost(host)}`,
          auth: credentialFor(host, credentials),
          counts,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        });
    }
    let client = clients.get(key);
    if (!client) {
      client = make();
      clients.set(key, client);
    }
    return client;
  };

  const digests = new Map<string, UpstreamDigest>();
  const failures = new Map<string, string>();
  await mapWithConcurrency(entries, options.concurrency ?? 8, async (entry) => {
    const tag = entry.reference.tag;
    if (tag === null) return; // digest-pinned: nothing to ask
    const client = clientFor(entry);
    try {
      if (entry.platforms.length === 0) {
        const digest = await client.headManifest(entry.reference.path, tag);
        if (digest) digests.set(entry.source, { digest });
        else failures.set(entry.source, "the tag no longer exists upstream");
        return;
      }
      const manifest = await client.getManifest(entry.reference.path, tag);
      if (!manifest?.digest) {
        failures.set(entry.source, "the tag no longer exists upstream");
        return;
      }
      const platforms = platformDigests(manifest.body);
      // A single-platform upstream: crane copies the manifest itself, whatever platform was asked for.
      if (!Array.isArray(manifest.body.manifests))
        for (const p of entry.platforms) platforms[p] = manifest.digest;
      digests.set(entry.source, { digest: manifest.digest, platforms });
    } catch (e) {
      failures.set(entry.source, (e as Error).message);
    }
  });
  return { digests, failures, counts };
}
