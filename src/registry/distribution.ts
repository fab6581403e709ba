/**
 * A small client for the OCI Distribution API: tag lists, manifest HEAD/GET with OCI `Accept`
 * headers, Basic auth and the Bearer token flow Docker Hub, GHCR and Quay use (anonymous or with
 * credentials). It counts its requests, so a plan can report what it cost.
 */

import {
  type BoundedResponse,
  boundedRequest,
  discard,
  type HostPolicy,
  HttpError,
  type HttpLimits,
  MANIFEST_LIMITS,
  readBody,
  retryAfterMs,
  TOKEN_LIMITS,
} from "./http.js";
import { RetriesExhausted, withRetries } from "./retry.js";
import { RegistrySchemes, triesHttpAfter } from "./scheme.js";

export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface RegistryAuth {
  username: string;
  password: string;
}

export interface RequestCounts {
  [kind: string]: number;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The wait a 429 or 503 asked for (`Retry-After`), in milliseconds. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** Whether another attempt may help: network failures and timeouts, 408, 429 and 5xx answers. */
function transient(error: unknown): boolean {
  if (error instanceof HttpError) return error.transient;
  if (error instanceof RegistryError)
    return error.status === 408 || error.status === 429 || error.status >= 500;
  return false;
}

/** The most tags one repository's listing is read to (`listTags`): far more than real repositories publish. */
export const MAX_TAGS = 50_000;

/** Time for one registry operation and its retries: no new attempt starts after it. */
export const DISTRIBUTION_BUDGET_MS = 60_000;

export interface DistributionRetryOptions {
  /** Further attempts after the first (default 3). */
  retries?: number;
  /** Total time for one request and its retries, in milliseconds (default `DISTRIBUTION_BUDGET_MS`). */
  budgetMs?: number;
  /** First backoff ceiling (default 1000 ms). */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface DistributionClientOptions {
  /**
   * `https://host[:port]`. The scheme is crane's rule, not this text: HTTPS first, plain HTTP as the
   * fallback on loopback and private hosts (registry/scheme.ts).
   */
  baseUrl: string;
  /** What each host answered on in this run, shared with the other clients and helm (default: this client's own). */
  schemes?: RegistrySchemes;
  auth?: RegistryAuth | null;
  /** Path prepended to every repository name (an upstream endpoint such as `https://cache.example.com/hub`). */
  pathPrefix?: string;
  counts?: RequestCounts;
  fetch?: typeof fetch;
  /** Timeouts and the size limit for manifests and tag lists (default `MANIFEST_LIMITS`). */
  limits?: HttpLimits;
  /** Where a redirect to another host may go (default: the address policy, `checkHost`). */
  checkHost?: HostPolicy;
  retry?: DistributionRetryOptions;
  /** Tags asked for per page (`?n=`, default 1000). */
  tagPageSize?: number;
}

/** A registry's JSON error (`{"errors":[{"code":"TOOMANYREQUESTS","message":…}]}`, or ECR's `{"message":…}`), shortened. */
function errorDetail(body: Buffer): string {
  const text = body.toString("utf8").slice(0, 2000);
  try {
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[]; message?: string };
    const first = doc.errors?.[0];
    if (first) return `: ${[first.code, first.message].filter(Boolean).join(": ")}`;
    if (typeof doc.message === "string") return `: ${doc.message}`;
  } catch {
    // not JSON
  }
  return "";
}

/** A pull budget as Docker Hub sends it on manifest requests (`ratelimit-remaining: 76;w=21600`). */
export interface RateLimit {
  remaining: number;
  limit: number | null;
  /** The window the budget counts in, in seconds (`w=`), when said. */
  windowSeconds: number | null;
}

/** The budget from `ratelimit-remaining` and `ratelimit-limit`, or null when the registry sends none. */
export function rateLimitOf(headers: Headers): RateLimit | null {
  const read = (name: string) => {
    const m = /^\s*(\d+)(?:\s*;\s*w=(\d+))?/.exec(headers.get(name) ?? "");
    return m ? { n: Number(m[1]), w: m[2] ? Number(m[2]) : null } : null;
  };
  const remaining = read("ratelimit-remaining");
  if (!remaining) return null;
  const limit = read("ratelimit-limit");
  return { remaining: remaining.n, limit: limit?.n ?? null, windowSeconds: remaining.w ?? limit?.w ?? null };
}

/**
 * A tag listing stops, with a clear error, where a registry would page forever or without end: 1000 pages, more
 * than `maxTags` tags, or a `Link` back to a page already read.
 */
function guardTagPage(p: {
  page: number;
  count: number;
  maxTags: number;
  url: string;
  visited: Set<string>;
  /** The page before brought no new tag. */
  stale: boolean;
  what: string;
}): void {
  if (p.stale)
    throw new RegistryError(
      `${p.what}: page ${p.page} brought no new tag: its paging loops; not followed`,
      502,
    );
  // 1000 pages of 1000: a million tags, far beyond any real repository.
  if (p.page >= 1000)
    throw new RegistryError(`${p.what}: more than 1000 pages of tags; not read further`, 502);
  if (p.count > p.maxTags)
    throw new RegistryError(`${p.what}: it lists more than ${p.maxTags} tags; not read further`, 502);
  // The scheme is the host's (crane's rule, ./scheme.ts): the same page over either is the same page.
  const page = p.url.replace(/^https?:/, "");
  if (p.visited.has(page))
    throw new RegistryError(`${p.what}: its next page links back to a page already read; not followed`, 502);
  p.visited.add(page);
}

export class DistributionClient {
  /** The pull budget the registry's latest answer stated, when it states one (Docker Hub). */
  rateLimit: RateLimit | null = null;
  private readonly tokens = new Map<string, string>();
  readonly counts: RequestCounts;
  private readonly doFetch: typeof fetch;
  private readonly limits: HttpLimits;
  /** Set once the registry did not answer at all; later operations fail with it at once. */
  private unreachable: RegistryError | null = null;

  private readonly host: string;
  private readonly schemes: RegistrySchemes;

  constructor(private readonly options: DistributionClientOptions) {
    this.counts = options.counts ?? {};
    this.doFetch = options.fetch ?? fetch;
    this.limits = options.limits ?? MANIFEST_LIMITS;
    this.host = new URL(options.baseUrl).host;
    this.schemes = options.schemes ?? new RegistrySchemes(this.doFetch);
  }

  /** `host/prefix/repository`, as failures name a repository of this registry. */
  describe(repository: string): string {
    const prefix = this.options.pathPrefix ? `${this.options.pathPrefix.replace(/^\/+|\/+$/g, "")}/` : "";
    return `${this.host}/${prefix}${repository}`;
  }

  private count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  private url(repository: string, rest: string): string {
    const prefix = this.options.pathPrefix ? `${this.options.pathPrefix.replace(/^\/+|\/+$/g, "")}/` : "";
    return `https://${this.host}/v2/${prefix}${repository}/${rest}`;
  }

  /**
   * Sends a request for the registry host by crane's rule: the scheme it answered on before, else HTTPS,
   * then plain HTTP on a fallback host when HTTPS got no answer. Other hosts' URLs go as they are.
   */
  private async toRegistry(
    url: string,
    send: (url: string) => Promise<BoundedResponse>,
  ): Promise<BoundedResponse> {
    const target = new URL(url);
    if (target.host !== this.host) return send(url);
    const candidates = this.schemes.candidates(this.host);
    for (let i = 0; ; i++) {
      const scheme = candidates[i]!;
      target.protocol = `${scheme}:`;
      try {
        const answer = await send(target.toString());
        this.schemes.settle(this.host, scheme);
        return answer;
      } catch (error) {
        if (i + 1 >= candidates.length || !triesHttpAfter(error)) throw error;
      }
    }
  }

  /**
   * One operation with retries: network failures, timeouts, 408, 429 and 5xx (JSON error body or
   * not) are tried again with backoff, honouring `Retry-After` within the budget. Once the registry
   * has not answered at all (network failure or timeout after every retry), later operations on
   * this client fail at once instead of each waiting out its own timeouts.
   */
  private async retrying<T>(work: () => Promise<T>): Promise<T> {
    if (this.unreachable) throw this.unreachable;
    const r = this.options.retry ?? {};
    try {
      const { value } = await withRetries(work, {
        retries: r.retries ?? 3,
        budgetMs: r.budgetMs ?? DISTRIBUTION_BUDGET_MS,
        baseDelayMs: r.baseDelayMs ?? 1000,
        maxDelayMs: 30_000,
        ...(r.sleep ? { sleep: r.sleep } : {}),
        ...(r.random ? { random: r.random } : {}),
        retryable: transient,
        serverDelay: (e) => (e instanceof RegistryError ? e.retryAfterMs : null),
      });
      return value;
    } catch (error) {
      const cause = error instanceof RetriesExhausted ? error.cause : error;
      if (cause instanceof HttpError && cause.transient && cause.status === null) {
        this.unreachable = new RegistryError(
          `${new URL(this.options.baseUrl).host} could not be reached earlier in this run (${(error as Error).message.split("\n")[0]}); not asked again`,
          0,
        );
      }
      // One attempt: the error as it was; several: with how many and how long.
      if (error instanceof RetriesExhausted && error.attempts === 1) throw error.cause;
      throw error;
    }
  }

  /** The failure for an answer that is not what was asked for, with the registry's own error text. */
  private async failure(answer: BoundedResponse, what: string): Promise<RegistryError> {
    const { response } = answer;
    const body = await readBody(answer, { what, limits: TOKEN_LIMITS }).catch(() => Buffer.alloc(0));
    return new RegistryError(
      `${what} answered ${response.status}${errorDetail(body)}`,
      response.status,
      retryAfterMs(response.headers.get("retry-after")),
    );
  }

  /** One request with the auth dance: Basic up front when configured, Bearer on a challenge. */
  private async request(
    kind: string,
    method: string,
    url: string,
    repository: string,
    headers: Record<string, string> = {},
  ): Promise<BoundedResponse> {
    const scope = `repository:${this.options.pathPrefix ? `${this.options.pathPrefix.replace(/^\/+|\/+$/g, "")}/` : ""}${repository}:pull`;
    const send = (authorization: string | null) => {
      this.count(kind);
      return this.toRegistry(url, (at) =>
        boundedRequest(
          at,
          { method, headers: { ...headers, ...(authorization ? { Authorization: authorization } : {}) } },
          {
            what: `${method} ${at}`,
            limits: this.limits,
            fetch: this.doFetch,
            ...(this.options.checkHost ? { checkHost: this.options.checkHost } : {}),
          },
        ),
      );
    };
    const cached = this.tokens.get(scope);
    const basic = this.options.auth
      ? `Basic ${Buffer.from(`${this.options.auth.username}:${this.options.auth.password}`).toString("base64")}`
      : null;
    let answer = await send(cached ? `Bearer ${cached}` : basic);
    this.rateLimit = rateLimitOf(answer.response.headers) ?? this.rateLimit;
    if (answer.response.status !== 401) return answer;
    const challenge = answer.response.headers.get("www-authenticate") ?? "";
    await discard(answer);
    if (/^bearer/i.test(challenge)) {
      const token = await this.fetchToken(challenge, scope);
      this.tokens.set(scope, token);
      answer = await send(`Bearer ${token}`);
      this.rateLimit = rateLimitOf(answer.response.headers) ?? this.rateLimit;
    }
    return answer;
  }

  private async fetchToken(challenge: string, scope: string): Promise<string> {
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]),
    );
    if (!params.realm)
      throw new RegistryError(`the registry asked for a token without a realm (${challenge})`, 401);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", params.scope ?? scope);
    this.count("token");
    const headers: Record<string, string> = {};
    if (this.options.auth) {
      headers.Authorization = `Basic ${Buffer.from(`${this.options.auth.username}:${this.options.auth.password}`).toString("base64")}`;
    }
    const what = `token request to ${url.host}`;
    const answer = await boundedRequest(
      url.toString(),
      { headers },
      {
        what,
        limits: TOKEN_LIMITS,
        fetch: this.doFetch,
        ...(this.options.checkHost ? { checkHost: this.options.checkHost } : {}),
      },
    );
    if (!answer.response.ok) throw await this.failure(answer, what);
    const text = (await readBody(answer, { what, limits: TOKEN_LIMITS })).toString("utf8");
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError(`${what} returned no JSON`, 502);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${what} returned no token`, 401);
    return token;
  }

  private async json(answer: BoundedResponse, what: string): Promise<Record<string, unknown>> {
    const text = (await readBody(answer, { what, limits: this.limits })).toString("utf8");
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new RegistryError(`${what} answered ${answer.response.status} with a body that is not JSON`, 502);
    }
  }

  /** The manifest digest a tag or digest resolves to, or null when the registry does not have it. */
  async headManifest(repository: string, reference: string): Promise<string | null> {
    return (await this.describeManifest(repository, reference))?.digest ?? null;
  }

  /** The digest and media type a HEAD answers (free on Docker Hub), or null when the registry does not have it. */
  describeManifest(
    repository: string,
    reference: string,
  ): Promise<{ digest: string; mediaType: string } | null> {
    return this.retrying(async () => {
      const what = `HEAD ${repository}:${reference}`;
      const answer = await this.request(
        "manifest-head",
        "HEAD",
        this.url(repository, `manifests/${reference}`),
        repository,
        { Accept: MANIFEST_ACCEPT },
      );
      const { response } = answer;
      await discard(answer);
      if (response.status === 404) return null;
      if (!response.ok)
        throw new RegistryError(
          `${what} answered ${response.status}`,
          response.status,
          retryAfterMs(response.headers.get("retry-after")),
        );
      const digest = response.headers.get("docker-content-digest");
      if (!digest) throw new RegistryError(`${what} answered without Docker-Content-Digest`, response.status);
      return { digest, mediaType: (response.headers.get("content-type") ?? "").split(";")[0]!.trim() };
    });
  }

  /** The manifest itself (a GET: on Docker Hub it may count as a pull). */
  getManifest(
    repository: string,
    reference: string,
  ): Promise<{ digest: string | null; mediaType: string; body: Record<string, unknown> } | null> {
    return this.retrying(async () => {
      const what = `GET ${repository}:${reference}`;
      const answer = await this.request(
        "manifest-get",
        "GET",
        this.url(repository, `manifests/${reference}`),
        repository,
        { Accept: MANIFEST_ACCEPT },
      );
      const { response } = answer;
      if (response.status === 404) {
        await discard(answer);
        return null;
      }
      if (!response.ok) throw await this.failure(answer, what);
      const body = await this.json(answer, what);
      return {
        digest: response.headers.get("docker-content-digest"),
        mediaType: response.headers.get("content-type") ?? String(body.mediaType ?? ""),
        body,
      };
    });
  }

  /**
   * What refers to `digest` (OCI distribution-spec 1.1 "Listing Referrers"): the referrers API
   * (`GET /v2/<name>/referrers/<digest>`), or where the registry has none (404; 400 as go-containerregistry also
   * reads it) the referrers tag schema, an OCI index under the tag `sha256-<hex>`. `manifests` are the index's
   * descriptors as the registry sent them (unchecked: the caller refuses what does not fit); `via` says which.
   */
  async listReferrers(
    repository: string,
    digest: string,
  ): Promise<{ via: "api" | "tag"; manifests: unknown[] }> {
    const fromApi = await this.retrying(async () => {
      const what = `GET ${repository} referrers of ${digest}`;
      const answer = await this.request(
        "referrers-get",
        "GET",
        this.url(repository, `referrers/${digest}`),
        repository,
        { Accept: "application/vnd.oci.image.index.v1+json" },
      );
      const { response } = answer;
      if (response.status === 404 || response.status === 400) {
        await discard(answer);
        return null;
      }
      if (!response.ok) throw await this.failure(answer, what);
      const body = await this.json(answer, what);
      return Array.isArray(body.manifests) ? body.manifests : [];
    });
    if (fromApi) return { via: "api", manifests: fromApi };
    return { via: "tag", manifests: await this.fallbackReferrers(repository, digest) };
  }

  /** The referrers tag schema's index (`sha256-<hex>`), or none when the tag does not exist. */
  private async fallbackReferrers(repository: string, digest: string): Promise<unknown[]> {
    const tag = digest.replace(":", "-");
    const found = await this.getManifest(repository, tag);
    if (!found) return [];
    // Some registries (GitLab) read `sha256-<hex>` as the digest itself and serve the image: no referrers list
    // (oras-project/oras#2148, where its children were taken for referrers).
    if (found.digest === digest) return [];
    const mediaType = String(found.body.mediaType ?? found.mediaType)
      .split(";")[0]!
      .trim();
    if (mediaType !== "application/vnd.oci.image.index.v1+json" || !Array.isArray(found.body.manifests)) {
      throw new RegistryError(
        `${this.describe(repository)}:${tag} is not an OCI image index (${mediaType || "no media type"}), so it is not a referrers list`,
        502,
      );
    }
    return found.body.manifests;
  }

  /**
   * A small JSON blob (an image config: its os, architecture and variant), or null when the registry does not have
   * it. A blob GET; Docker Hub counts manifest GETs as pulls, not blob GETs. Redirects (to a CDN) are followed.
   */
  getBlobJson(repository: string, digest: string): Promise<Record<string, unknown> | null> {
    return this.retrying(async () => {
      const what = `GET ${repository}@${digest}`;
      const answer = await this.request(
        "blob-get",
        "GET",
        this.url(repository, `blobs/${digest}`),
        repository,
      );
      if (answer.response.status === 404) {
        await discard(answer);
        return null;
      }
      if (!answer.response.ok) throw await this.failure(answer, what);
      return this.json(answer, what);
    });
  }

  /**
   * Mounts a blob `repository` lacks from `from`, in the same registry (`POST /v2/<repository>/blobs/uploads/
   * ?mount=<digest>&from=<from>`): `mounted` on 201; `refused` on 202 (the registry opened an upload session
   * instead: mounting off, the blob not in `from`, or ECR's encryption differs) or any 4xx.
   */
  mountBlob(repository: string, digest: string, from: string): Promise<"mounted" | "refused"> {
    return this.retrying(async () => {
      const what = `mount ${digest} into ${repository} from ${from}`;
      const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
      const answer = await this.request(
        "blob-mount",
        "POST",
        this.url(repository, `blobs/uploads/${query}`),
        repository,
      );
      const { response } = answer;
      if (response.status === 201) {
        await discard(answer);
        return "mounted";
      }
      if (
        response.status === 202 ||
        (response.status >= 400 && response.status < 500 && response.status !== 429)
      ) {
        await discard(answer);
        return "refused";
      }
      throw await this.failure(answer, what);
    });
  }

  /**
   * All tags of a repository, or null when the repository does not exist. Pages follow `Link`; a registry that
   * sends none but cuts the list at `n` (crane's own, go-containerregistry pkg/registry/manifest.go handleTags)
   * is asked on with `last=<last tag>` (the Distribution spec's pagination) until a page is short or repeats.
   */
  async listTags(repository: string, maxTags = MAX_TAGS): Promise<string[] | null> {
    const tags: string[] = [];
    const seen = new Set<string>();
    const visited = new Set<string>();
    const n = this.options.tagPageSize ?? 1000;
    const first = `${this.url(repository, "tags/list")}?n=${n}`;
    let url: string | null = first;
    let byLast = false;
    let stale = false;
    const what = `listing tags of ${this.describe(repository)}`;
    for (let page = 0; url; page++) {
      const pageUrl: string = url;
      guardTagPage({ page, count: tags.length, maxTags, url: pageUrl, visited, stale, what });
      const got = await this.retrying(async () => {
        const answer = await this.request("tags-list", "GET", pageUrl, repository);
        const { response } = answer;
        if (response.status === 404) {
          await discard(answer);
          return null;
        }
        if (!response.ok) throw await this.failure(answer, what);
        const body = (await this.json(answer, what)) as { tags?: unknown };
        const link = response.headers.get("link");
        return { tags: Array.isArray(body.tags) ? body.tags.map(String) : [], link, at: answer.url };
      });
      if (got === null) return null;
      const next = got.link?.match(/<([^>]+)>;\s*rel="next"/)?.[1];
      const fresh = got.tags.filter((t) => !seen.has(t));
      if (next) {
        // A linked page with nothing new (after the first) is a registry paging in a circle.
        stale = page > 0 && fresh.length === 0;
        tags.push(...fresh);
        for (const t of fresh) seen.add(t);
        url = this.nextTagsPage(next, got.at, what);
        continue;
      }
      // Asked on with `last`: a registry that ignores it answers a page already seen; nothing new, stop.
      if (byLast && fresh.length === 0) break;
      tags.push(...fresh);
      for (const t of fresh) seen.add(t);
      const pageLast = got.tags.at(-1);
      byLast = got.tags.length >= n && pageLast !== undefined;
      url = byLast ? `${first}&last=${encodeURIComponent(pageLast!)}` : null;
    }
    if (tags.length > maxTags)
      throw new RegistryError(`${what}: it lists more than ${maxTags} tags; not read further`, 502);
    return tags;
  }

  /** The `Link` page's address, on the same host (another would be a redirect the address policy never saw). */
  private nextTagsPage(next: string, at: string, what: string): string {
    const nextUrl = new URL(next, at);
    if (nextUrl.host !== new URL(at).host)
      throw new RegistryError(
        `${what}: the next page is on another host (${nextUrl.host}); not followed`,
        502,
      );
    return nextUrl.toString();
  }
}
