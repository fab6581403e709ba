/**
 * Upstream manifests read in process, each once per run: what blobs a copy will bring (layer sharing) and how
 * many manifests it will write. A GET of a manifest counts as a pull on Docker Hub, so every read goes through
 * one cache (by registry, repository and tag or digest) and is counted; an index's children are read by digest.
 */
import type { ImageEntry, Upstream } from "../list/model.js";
import { DistributionClient, type RateLimit, type RequestCounts } from "../registry/distribution.js";
import { type HttpLimits, MANIFEST_LIMITS } from "../registry/http.js";
import type { RegistrySchemes } from "../registry/scheme.js";
import { credentialFor, type RegistryCredential } from "../tools/credentials.js";
import { UpstreamClients } from "./upstream.js";

export interface UpstreamManifest {
  digest: string | null;
  mediaType: string;
  body: Record<string, unknown>;
}

export interface ManifestReaderOptions {
  upstreams: readonly Upstream[];
  credentials: readonly RegistryCredential[];
  schemes?: RegistrySchemes;
  fetch?: typeof fetch;
  /** Shared request counts (`manifest-get`, `token`, ...). */
  counts?: RequestCounts;
}

/**
 * These reads only make a sync cheaper (sharing, the budget): an upstream slow to answer is not waited for, and
 * a failure is not retried; crane then copies as it would without them.
 */
const READ_LIMITS: HttpLimits = {
  ...MANIFEST_LIMITS,
  headersTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  bodyDeadlineMs: 15_000,
};

export class UpstreamManifests {
  readonly counts: RequestCounts;
  private readonly pool: UpstreamClients;
  private readonly cache = new Map<string, Promise<UpstreamManifest | null>>();
  private readonly heads = new Map<string, Promise<{ digest: string; mediaType: string } | null>>();

  constructor(private readonly options: ManifestReaderOptions) {
    this.counts = options.counts ?? {};
    this.pool = new UpstreamClients(options.upstreams, options.credentials, {
      counts: this.counts,
      limits: READ_LIMITS,
      retry: { retries: 0 },
      ...(options.schemes ? { schemes: options.schemes } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /** Upstream GETs sent so far through this reader (each one a pull on Docker Hub). */
  get reads(): number {
    return this.counts["manifest-get"] ?? 0;
  }

  /** The manifest `reference` (a tag or a digest) names in the entry's upstream repository, read once per run. */
  read(entry: ImageEntry, reference: string): Promise<UpstreamManifest | null> {
    const { client, key } = this.pool.clientFor(entry);
    const cacheKey = `${key} ${entry.reference.path}@${reference}`;
    let found = this.cache.get(cacheKey);
    if (!found) {
      found = client.getManifest(entry.reference.path, reference);
      this.cache.set(cacheKey, found);
    }
    return found;
  }

  /** Where the entry is fetched from (an upstream endpoint, or its own host): one pull budget each. */
  upstreamOf(entry: ImageEntry): string {
    return this.pool.clientFor(entry).key;
  }

  /** A HEAD of the manifest (free on Docker Hub): digest and media type, read once per run. */
  describe(entry: ImageEntry, reference: string): Promise<{ digest: string; mediaType: string } | null> {
    const { client, key } = this.pool.clientFor(entry);
    const cacheKey = `${key} ${entry.reference.path}@${reference}`;
    let found = this.heads.get(cacheKey);
    if (!found) {
      found = client.describeManifest(entry.reference.path, reference);
      this.heads.set(cacheKey, found);
    }
    return found;
  }

  /** The pull budget the entry's upstream stated in its latest answer (null: it states none). */
  rateLimit(entry: ImageEntry): RateLimit | null {
    return this.pool.clientFor(entry).client.rateLimit;
  }

  /** Records a manifest the run read elsewhere (the plan's platform checks), so it is not read again. */
  remember(entry: ImageEntry, reference: string, manifest: UpstreamManifest): void {
    const { key } = this.pool.clientFor(entry);
    this.cache.set(`${key} ${entry.reference.path}@${reference}`, Promise.resolve(manifest));
  }
}
