/**
 * Upstream checks: what each tag points at now, by manifest HEAD (which Docker Hub does not count as a pull), for
 * resync mode `digest`. Platform-filtered entries need what the tag holds (an index's children with their
 * platforms, or a single image's platform from its config), so those take one GET of the manifest and, for a single
 * image, one GET of its config blob; the planner asks this for such entries it copies too, in any resync mode.
 * Upstream endpoints and credentials apply.
 */
import type { ImageEntry, Upstream } from "../list/model.js";
import { mapWithConcurrency } from "../pool.js";
import {
  DistributionClient,
  type DistributionClientOptions,
  type RateLimit,
  type RequestCounts,
} from "../registry/distribution.js";
import { credentialFor, type RegistryCredential } from "../tools/credentials.js";
import { parseEndpoint } from "../tools/fetch-address.js";
import type { IndexChild, Platform, UpstreamDigest } from "./model.js";

export interface UpstreamCheck {
  digests: Map<string, UpstreamDigest>;
  /** Sources the upstream says it does not have (404; 401/403 after the token dance: missing or not readable). */
  missing: Map<string, string>;
  /** Sources that could not be asked (network, 5xx, ...), with the reason. */
  failures: Map<string, string>;
  /** The pull budget each upstream host stated in its answers (Docker Hub's `ratelimit-remaining`), by host. */
  budgets: Map<string, RateLimit>;
  counts: RequestCounts;
}

/** The upstream a client key (an endpoint URL or a host) stands for, as plans name it. */
function budgetHost(key: string): string {
  return key.includes("://") ? new URL(key).host : key;
}

/** Docker Hub's registry API lives at registry-1.docker.io, not docker.io. */
export function apiHost(host: string): string {
  return host === "docker.io" ? "registry-1.docker.io" : host;
}

/** An index's children with their platforms, in index order; null for a manifest that is not an index. */
export function indexChildren(manifest: Record<string, unknown>): IndexChild[] | null {
  if (!Array.isArray(manifest.manifests)) return null;
  return (manifest.manifests as { digest?: unknown; platform?: unknown }[])
    .filter((child) => typeof child.digest === "string")
    .map((child) => ({ digest: child.digest as string, platform: platformOf(child.platform) }));
}

/** The platform a descriptor or an image config names (OCI field names), or null when it names none. */
export function platformOf(value: unknown): Platform | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.os !== "string" || typeof v.architecture !== "string") return null;
  const text = (key: string) =>
    typeof v[key] === "string" && v[key] !== "" ? { [key]: v[key] as string } : {};
  const list = (key: string) =>
    Array.isArray(v[key]) ? { [key]: (v[key] as unknown[]).filter((x) => typeof x === "string") } : {};
  return {
    os: v.os,
    architecture: v.architecture,
    ...text("variant"),
    ...text("os.version"),
    ...list("os.features"),
    ...list("features"),
  };
}

/**
 * One Distribution client per upstream a run reads from: an entry's host, or the endpoint the list gives for it
 * (with its path prefix), with that registry's credentials. `key` is the endpoint URL or the host.
 */
export class UpstreamClients {
  readonly clients = new Map<string, DistributionClient>();

  constructor(
    private readonly upstreams: readonly Upstream[],
    private readonly credentials: readonly RegistryCredential[],
    private readonly common: Omit<DistributionClientOptions, "baseUrl" | "auth" | "pathPrefix">,
  ) {}

  clientFor(entry: Pick<ImageEntry, "reference">): { client: DistributionClient; key: string } {
    const host = entry.reference.domain;
    const endpoint = this.upstreams.find((u) => u.host === host && u.endpoint)?.endpoint;
    const key = endpoint ?? host;
    let client = this.clients.get(key);
    if (!client) {
      const { registry, pathPrefix } = endpoint
        ? parseEndpoint(endpoint)
        : { registry: apiHost(host), pathPrefix: "" };
      client = new DistributionClient({
        baseUrl: `https://${registry}`,
        ...(pathPrefix ? { pathPrefix } : {}),
        auth: credentialFor(endpoint ? registry : host, this.credentials),
        ...this.common,
      });
      this.clients.set(key, client);
    }
    return { client, key };
  }
}

export async function checkUpstreamDigests(
  entries: readonly ImageEntry[],
  upstreams: readonly Upstream[],
  credentials: readonly RegistryCredential[],
  options: { concurrency?: number; fetch?: typeof fetch } = {},
): Promise<UpstreamCheck> {
  const counts: RequestCounts = {};
  const pool = new UpstreamClients(upstreams, credentials, {
    counts,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const clientFor = (entry: ImageEntry) => pool.clientFor(entry).client;

  const digests = new Map<string, UpstreamDigest>();
  const failures = new Map<string, string>();
  const missing = new Map<string, string>();
  await mapWithConcurrency(entries, options.concurrency ?? 8, async (entry) => {
    const tag = entry.reference.tag;
    const client = clientFor(entry);
    const where = client.describe(entry.reference.path);
    try {
      if (entry.platforms.length === 0 || tag === null) {
        // A HEAD (free against Docker Hub's pull limits): the tag's digest, or that the pinned digest is there.
        const digest = await client.headManifest(entry.reference.path, tag ?? entry.reference.digest!);
        if (digest) digests.set(entry.source, { digest });
        else missing.set(entry.source, `${where} has no manifest ${tag ?? entry.reference.digest} (404)`);
        return;
      }
      const manifest = await client.getManifest(entry.reference.path, tag);
      if (!manifest?.digest) {
        missing.set(entry.source, `${where} has no manifest ${tag} (404)`);
        return;
      }
      const children = indexChildren(manifest.body);
      if (children) {
        digests.set(entry.source, { digest: manifest.digest, content: { kind: "index", children } });
        return;
      }
      // A single image: crane copies it whatever platform is asked for, so its config says which one it is.
      const config = manifest.body.config as { digest?: unknown } | undefined;
      const body =
        typeof config?.digest === "string"
          ? await client.getBlobJson(entry.reference.path, config.digest)
          : null;
      digests.set(entry.source, {
        digest: manifest.digest,
        content: { kind: "image", platform: platformOf(body) },
      });
    } catch (e) {
      const status = (e as { status?: unknown }).status;
      // Docker Hub answers 401 for a repository that does not exist (or that these credentials may not read).
      if (status === 401 || status === 403)
        missing.set(
          entry.source,
          `${where} refused it (${status}: it does not exist, or needs credentials): ${(e as Error).message}`,
        );
      else failures.set(entry.source, (e as Error).message);
    }
  });
  const budgets = new Map<string, RateLimit>();
  for (const [key, client] of pool.clients)
    if (client.rateLimit) budgets.set(budgetHost(key), client.rateLimit);
  return { digests, missing, failures, counts, budgets };
}
