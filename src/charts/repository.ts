/**
 * Where chart versions are published: an HTTP chart repository's `index.yaml` and an OCI registry's tag
 * list. `parseChartIndex` is pure; `createChartVersionLister` is the adapter the plan phase uses (one
 * `index.yaml` GET per repository per run, one tag listing per OCI chart).
 */
import { parse as parseYaml } from "yaml";
import type { Upstream } from "../list/model.js";
import { DistributionClient, type RequestCounts } from "../registry/distribution.js";
import {
  boundedRequest,
  discard,
  type HostPolicy,
  HttpError,
  type HttpLimits,
  indexLimits,
  readBody,
} from "../registry/http.js";
import { RetriesExhausted, withRetries } from "../registry/retry.js";
import type { RegistrySchemes } from "../registry/scheme.js";
import { credentialFor, type RegistryCredential } from "../tools/credentials.js";
import { chartFetchAddress } from "../tools/fetch-address.js";
import type { ChartVersionLister } from "./resolve.js";

export interface IndexedChartVersion {
  version: string;
  /** Package URLs, absolute (relative ones resolved against the repository URL, as helm does). */
  urls: string[];
  /** The package's SHA-256 (hex) when the index gives it. */
  digest: string | null;
}

/** name -> versions, as the repository lists them. */
export type ChartIndex = Map<string, IndexedChartVersion[]>;

/** helm's `ResolveReferenceURL`: a relative package URL is resolved against the repository URL with a trailing `/`. */
export function resolvePackageUrl(repositoryUrl: string, url: string): string {
  const base = new URL(repositoryUrl);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  return new URL(url, base).toString();
}

/** Reads an `index.yaml` (YAML or JSON). Throws on text that is not a chart repository index. */
export function parseChartIndex(text: string, repositoryUrl: string): ChartIndex {
  let doc: unknown;
  try {
    // Chart indexes use no aliases; a bounded count stops an alias bomb ("billion laughs").
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new Error(`index.yaml is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const entries = (doc as { entries?: unknown } | null)?.entries;
  if (typeof entries !== "object" || entries === null || Array.isArray(entries)) {
    throw new Error("index.yaml has no entries: this is not a chart repository index");
  }
  const index: ChartIndex = new Map();
  for (const [name, list] of Object.entries(entries as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue;
    const versions: IndexedChartVersion[] = [];
    for (const item of list as Record<string, unknown>[]) {
      if (item?.version === undefined || item.version === null) continue;
      const urls = Array.isArray(item.urls)
        ? item.urls.filter((u): u is string => typeof u === "string")
        : [];
      versions.push({
        version: String(item.version),
        urls: urls.map((u) => resolvePackageUrl(repositoryUrl, u)),
        digest: typeof item.digest === "string" ? item.digest : null,
      });
    }
    index.set(name, versions);
  }
  return index;
}

export interface ChartVersionListerOptions {
  upstreams: readonly Upstream[];
  credentials: readonly RegistryCredential[];
  fetch?: typeof fetch;
  /** Requests made, by kind (`index`, `tags-list`, `token`). */
  counts?: RequestCounts;
  /** Timeouts and size limit for `index.yaml` (default `indexLimits()`: 32 MiB, ECR_MIRROR_MAX_INDEX_MIB). */
  limits?: HttpLimits;
  /** Where a redirect to another host may go (the address policy). */
  checkHost?: HostPolicy;
  /** Waits between retries (tests). */
  sleep?: (ms: number) => Promise<void>;
  /** What each registry answered on in this run (crane's scheme rule, registry/scheme.ts). */
  schemes?: RegistrySchemes;
}

/** Lists published chart versions over HTTP; every repository's index is fetched once per lister. */
export function createChartVersionLister(
  options: ChartVersionListerOptions,
): ChartVersionLister & { index(repositoryUrl: string): Promise<ChartIndex> } {
  const doFetch = options.fetch ?? fetch;
  const counts = options.counts ?? {};
  const indexes = new Map<string, Promise<ChartIndex>>();

  const index = (repositoryUrl: string): Promise<ChartIndex> => {
    let cached = indexes.get(repositoryUrl);
    if (!cached) {
      cached = (async () => {
        const url = resolvePackageUrl(repositoryUrl, "index.yaml");
        counts.index = (counts.index ?? 0) + 1;
        const what = `GET ${url}`;
        const limits = options.limits ?? indexLimits();
        const request = () =>
          boundedRequest(
            url,
            {},
            { what, limits, fetch: doFetch, ...(options.checkHost ? { checkHost: options.checkHost } : {}) },
          );
        const { value: body } = await withRetries(
          async () => {
            const answer = await request();
            if (!answer.response.ok) {
              await discard(answer);
              const status = answer.response.status;
              throw new HttpError(
                `${what} answered ${status}`,
                status === 429 || status >= 500,
                null,
                status,
              );
            }
            return readBody(answer, { what, limits });
          },
          {
            retries: 2,
            budgetMs: 120_000,
            ...(options.sleep ? { sleep: options.sleep } : {}),
            retryable: (e) => e instanceof HttpError && e.transient,
          },
        ).catch((e: unknown) => {
          throw e instanceof RetriesExhausted && e.attempts === 1 ? e.cause : e;
        });
        return parseChartIndex(body.toString("utf8"), repositoryUrl);
      })();
      indexes.set(repositoryUrl, cached);
    }
    return cached;
  };

  return {
    index,
    async repositoryVersions(repositoryUrl, name) {
      const versions = (await index(repositoryUrl)).get(name);
      return versions ? versions.map((v) => v.version) : null;
    },
    async registryTags(source) {
      const address = chartFetchAddress(source, options.upstreams);
      const slash = address.reference.indexOf("/");
      const registry = address.reference.slice(0, slash);
      const repository = address.reference.slice(slash + 1);
      const credential = credentialFor(registry, options.credentials);
      const client = new DistributionClient({
        baseUrl: `https://${registry}`,
        ...(options.schemes ? { schemes: options.schemes } : {}),
        auth: credential ? { username: credential.username, password: credential.password } : null,
        counts,
        fetch: doFetch,
        ...(options.checkHost ? { checkHost: options.checkHost } : {}),
        ...(options.sleep ? { retry: { sleep: options.sleep } } : {}),
      });
      return client.listTags(repository);
    },
  };
}
