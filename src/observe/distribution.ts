/**
 * A small client for the OCI Distribution API: tag lists, manifest HEAD/GET with OCI `Accept`
 * headers, Basic auth and the Bearer token flow Docker Hub, GHCR and Quay use (anonymous or with
 * credentials). It counts its requests, so a plan can report what it cost.
 */

import { speaksPlainHttp } from "../list/address-policy.js";

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
  ) {
    super(message);
  }
}

export interface DistributionClientOptions {
  /** `http(s)://host[:port]` */
  baseUrl: string;
  auth?: RegistryAuth | null;
  /** Path prepended to every repository name (an upstream endpoint such as `https://cache.example.com/hub`). */
  pathPrefix?: string;
  counts?: RequestCounts;
  fetch?: typeof fetch;
}

export class DistributionClient {
  private readonly tokens = new Map<string, string>();
  readonly counts: RequestCounts;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: DistributionClientOptions) {
    this.counts = options.counts ?? {};
    this.doFetch = options.fetch ?? fetch;
  }

  private count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  private url(repository: string, rest: string): string {
    const prefix = this.options.pathPrefix ? `${this.options.pathPrefix.replace(/^\/+|\/+$/g, "")}/` : "";
    return `${this.options.baseUrl.replace(/\/+$/, "")}/v2/${prefix}${repository}/${rest}`;
  }

  /** One request with the auth dance: Basic up front when configured, Bearer on a challenge. */
  private async request(
    kind: string,
    method: string,
    url: string,
    repository: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const scope = `repository:${this.options.pathPrefix ? `${this.options.pathPrefix.replace(/^\/+|\/+$/g, "")}/` : ""}${repository}:pull`;
    const send = (authorization: string | null) => {
      this.count(kind);
      return this.doFetch(url, {
        method,
        headers: { ...headers, ...(authorization ? { Authorization: authorization } : {}) },
        redirect: "follow",
      });
    };
    const cached = this.tokens.get(scope);
    const basic = this.options.auth
      ? `Basic ${Buffer.from(`${this.options.auth.username}:${this.options.auth.password}`).toString("base64")}`
      : null;
    let response = await send(cached ? `Bearer ${cached}` : basic);
    if (response.status !== 401) return response;
    const challenge = response.headers.get("www-authenticate") ?? "";
    await response.body?.cancel();
    if (/^bearer/i.test(challenge)) {
      const token = await this.fetchToken(challenge, scope);
      this.tokens.set(scope, token);
      response = await send(`Bearer ${token}`);
    }
    return response;
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
    const response = await this.doFetch(url, { headers });
    if (!response.ok) {
      await response.body?.cancel();
      throw new RegistryError(`token request to ${url.host} answered ${response.status}`, response.status);
    }
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token request to ${url.host} returned no token`, 401);
    return token;
  }

  /** The manifest digest a tag or digest resolves to, or null when the registry does not have it. */
  async headManifest(repository: string, reference: string): Promise<string | null> {
    const response = await this.request(
      "manifest-head",
      "HEAD",
      this.url(repository, `manifests/${reference}`),
      repository,
      { Accept: MANIFEST_ACCEPT },
    );
    if (response.status === 404) return null;
    if (!response.ok)
      throw new RegistryError(`HEAD ${repository}:${reference} answered ${response.status}`, response.status);
    const digest = response.headers.get("docker-content-digest");
    if (!digest)
      throw new RegistryError(
        `HEAD ${repository}:${reference} answered without Docker-Content-Digest`,
        response.status,
      );
    return digest;
  }

  /** The manifest itself (a GET: on Docker Hub it may count as a pull). */
  async getManifest(
    repository: string,
    reference: string,
  ): Promise<{ digest: string | null; mediaType: string; body: Record<string, unknown> } | null> {
    const response = await this.request(
      "manifest-get",
      "GET",
      this.url(repository, `manifests/${reference}`),
      repository,
      { Accept: MANIFEST_ACCEPT },
    );
    if (response.status === 404) return null;
    if (!response.ok) {
      await response.body?.cancel();
      throw new RegistryError(`GET ${repository}:${reference} answered ${response.status}`, response.status);
    }
    const body = (await response.json()) as Record<string, unknown>;
    return {
      digest: response.headers.get("docker-content-digest"),
      mediaType: response.headers.get("content-type") ?? String(body.mediaType ?? ""),
      body,
    };
  }

  /** All tags of a repository (following `Link` pages), or null when the repository does not exist. */
  async listTags(repository: string): Promise<string[] | null> {
    const tags: string[] = [];
    let url: string | null = `${this.url(repository, "tags/list")}?n=1000`;
    while (url) {
      const response: Response = await this.request("tags-list", "GET", url, repository);
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new RegistryError(`listing tags of ${repository} answered ${response.status}`, response.status);
      }
      const body = (await response.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = response.headers.get("link");
      const next = link?.match(/<([^>]+)>;\s*rel="next"/)?.[1];
      url = next ? new URL(next, url).toString() : null;
    }
    return tags;
  }
}

/**
 * The scheme a registry is reached with when nothing says otherwise: crane's own rule (plain HTTP
 * for loopback and RFC 1918 addresses), so in-process requests and crane talk to the same endpoint.
 */
export function schemeFor(host: string): "http" | "https" {
  return speaksPlainHttp(host) ? "http" : "https";
}
