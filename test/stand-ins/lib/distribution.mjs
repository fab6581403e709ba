// A small client for the OCI Distribution API (the registry side of crane and helm), over fetch.
// HTTP Basic auth only (what distribution's htpasswd, ECR and the test gate speak): like crane it
// pings /v2/ once and sends credentials only when the registry asks for them.
import { createHash } from "node:crypto";

export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
};

export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(", ");

export function isIndex(mediaType) {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList;
}

export function sha256Digest(bytes) {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export class RegistryError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function errorFrom(method, url, response) {
  const text = await response.text().catch(() => "");
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = JSON.parse(text);
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      detail = body.errors.map((e) => `${e.code}: ${e.message}`).join("; ");
    }
  } catch {
    // not JSON: keep the status line
  }
  return new RegistryError(`${method} ${url}: ${detail}`, response.status);
}

/** go-containerregistry pkg/v1/remote/options.go defaultRetryStatusCodes. */
const CRANE_RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504, 499, 522]);

export class RegistryClient {
  /**
   * @param {{ schemes: ("http" | "https")[], registry: string, credentials: { user: string, password: string } | null,
   *           userAgent: string, log?: (line: string) => void }} options
   */
  constructor(options) {
    // The schemes the ping tries, in order: crane's (craneSchemes), or helm's one (--plain-http or https).
    // Requests then use the scheme that answered (go-containerregistry transport/schemer.go).
    this.schemes = options.schemes;
    this.base = `${options.schemes[0]}://${options.registry}`;
    this.registry = options.registry;
    this.credentials = options.credentials;
    this.userAgent = options.userAgent;
    this.log = options.log ?? (() => {});
    this.authorization = undefined; // undefined: not pinged yet; null: anonymous
  }

  /**
   * GET /v2/ over each scheme in crane's order; the first that answers 200 or 401 wins (pingSingle). Any
   * other answer or a failed connection moves on to the fallback; when none answers, both errors
   * (multierrs: "a; b").
   */
  async pingSchemes() {
    const errors = [];
    for (const scheme of this.schemes) {
      const url = `${scheme}://${this.registry}/v2/`;
      let response;
      try {
        response = await fetch(url, { headers: { "user-agent": this.userAgent } });
      } catch (error) {
        errors.push(`GET ${url}: ${error.cause?.message ?? error.message}`);
        continue;
      }
      if (response.status === 200 || response.status === 401) {
        this.base = `${scheme}://${this.registry}`;
        return { response, url };
      }
      await response.body?.cancel();
      errors.push(`GET ${url}: unexpected status ${response.status}`);
    }
    throw new RegistryError(errors.join("; "), 0);
  }

  async ping() {
    if (this.authorization !== undefined) return;
    const { response, url } = await this.pingSchemes();
    await response.body?.cancel();
    if (response.status === 200) {
      this.authorization = null;
      return;
    }
    if (response.status !== 401)
      throw new RegistryError(`GET ${url}: unexpected status ${response.status}`, 0);
    const challenge = response.headers.get("www-authenticate") ?? "";
    if (!/^basic\b/i.test(challenge)) {
      throw new RegistryError(
        `GET ${url}: the registry asks for "${challenge}"; the stand-in speaks HTTP Basic auth only`,
        401,
      );
    }
    if (!this.credentials) throw new RegistryError(`GET ${url}: UNAUTHORIZED: authentication required`, 401);
    const { user, password } = this.credentials;
    this.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  }

  async request(method, path, { headers = {}, body, expect = [200] } = {}) {
    await this.ping();
    const url = path.startsWith("http") ? path : `${this.base}${path}`;
    const allHeaders = { "user-agent": this.userAgent, ...headers };
    if (this.authorization) allHeaders.authorization = this.authorization;
    // Like crane (go-containerregistry pkg/v1/remote/options.go: retry transport, 3 tries, 1 s then
    // 3 s; defaultRetryStatusCodes): 408, 429, 500, 502, 503, 504, 499 (nginx) and 522 (Cloudflare) answers
    // and connection failures are tried again, when the body can be resent.
    const replayable = body === undefined || typeof body === "string" || Buffer.isBuffer(body);
    let response;
    for (let attempt = 1; ; attempt++) {
      this.log(`--> ${method} ${url}`);
      try {
        response = await fetch(url, { method, headers: allHeaders, body });
      } catch (error) {
        if (replayable && attempt < 3) {
          await new Promise((r) => setTimeout(r, attempt === 1 ? 1000 : 3000));
          continue;
        }
        throw new RegistryError(`${method} ${url}: ${error.cause?.message ?? error.message}`, 0);
      }
      this.log(`<-- ${response.status} ${method} ${url}`);
      if (!replayable || attempt >= 3 || !CRANE_RETRY_STATUS.has(response.status)) break;
      await response.body?.cancel();
      await new Promise((r) => setTimeout(r, attempt === 1 ? 1000 : 3000));
    }
    if (!expect.includes(response.status)) throw await errorFrom(method, url, response);
    return response;
  }

  /** @returns {Promise<{ bytes: Buffer, mediaType: string, digest: string }>} */
  async getManifest(repository, reference) {
    const { response, bytes } = await this.readWhole("GET", `/v2/${repository}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && reference !== digest) {
      throw new RegistryError(`manifest ${repository}@${reference} has digest ${digest}`, 0);
    }
    let mediaType = response.headers.get("content-type")?.split(";")[0] ?? "";
    const parsed = JSON.parse(bytes.toString("utf8"));
    if (parsed.mediaType) mediaType = parsed.mediaType;
    return { bytes, mediaType, digest, json: parsed };
  }

  /** @returns {Promise<string>} the Docker-Content-Digest of a HEAD, like `crane digest`. */
  async headManifest(repository, reference) {
    const response = await this.request("HEAD", `/v2/${repository}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    const digest = response.headers.get("docker-content-digest");
    if (digest) return digest;
    return (await this.getManifest(repository, reference)).digest;
  }

  async putManifest(repository, reference, bytes, mediaType) {
    const response = await this.request("PUT", `/v2/${repository}/manifests/${reference}`, {
      headers: { "content-type": mediaType },
      body: bytes,
      expect: [200, 201],
    });
    await response.body?.cancel();
    return response.headers.get("docker-content-digest") ?? sha256Digest(bytes);
  }

  async blobExists(repository, digest) {
    const response = await this.request("HEAD", `/v2/${repository}/blobs/${digest}`, { expect: [200, 404] });
    await response.body?.cancel();
    return response.status === 200;
  }

  /**
   * GET and read the whole body; a connection that breaks mid-body is tried again, as crane's retry
   * predicate does for ECONNRESET and unexpected EOF (3 tries, 1 s then 3 s).
   */
  async readWhole(method, path, options) {
    for (let attempt = 1; ; attempt++) {
      const response = await this.request(method, path, options);
      try {
        return { response, bytes: Buffer.from(await response.arrayBuffer()) };
      } catch (error) {
        if (attempt >= 3)
          throw new RegistryError(
            `${method} ${this.base}${path}: unexpected EOF (${error.cause?.message ?? error.message})`,
            0,
          );
        await new Promise((r) => setTimeout(r, attempt === 1 ? 1000 : 3000));
      }
    }
  }

  async getBlob(repository, digest) {
    const { bytes } = await this.readWhole("GET", `/v2/${repository}/blobs/${digest}`);
    if (sha256Digest(bytes) !== digest)
      throw new RegistryError(`blob ${digest} in ${repository}: wrong digest`, 0);
    return bytes;
  }

  /** Monolithic upload (POST then PUT ?digest=); a cross-repository mount when `mountFrom` is given. */
  async putBlob(repository, digest, bytes, mountFrom) {
    const query = mountFrom
      ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}`
      : "";
    const started = await this.request("POST", `/v2/${repository}/blobs/uploads/${query}`, {
      expect: [201, 202],
    });
    await started.body?.cancel();
    if (started.status === 201) return;
    const location = started.headers.get("location");
    if (!location) throw new RegistryError(`POST /v2/${repository}/blobs/uploads/: no Location header`, 0);
    const target = new URL(location, this.base);
    target.searchParams.set("digest", digest);
    const done = await this.request("PUT", target.toString(), {
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
      expect: [201],
    });
    await done.body?.cancel();
  }

  async listTags(repository) {
    const tags = [];
    let next = `/v2/${repository}/tags/list`;
    while (next) {
      const response = await this.request("GET", next);
      const body = await response.json();
      tags.push(...(body.tags ?? []));
      const link = response.headers.get("link");
      const match = link ? /<([^>]+)>;\s*rel="?next"?/.exec(link) : null;
      next = match ? new URL(match[1], this.base).toString() : null;
    }
    return tags;
  }
}

/**
 * A platform as go-containerregistry's `v1.ParsePlatform` reads `os/arch[/variant][:osversion]` (pkg/v1/platform.go):
 * split at `:` for the OS version, then at `/`; missing parts stay empty (`linux` alone is a platform), a fourth
 * part fails with "too many slashes in platform spec". No comma is special: `linux/amd64,linux/arm64` reads as
 * os `linux`, architecture `amd64,linux`, variant `arm64`, which no image has.
 */
export function parsePlatform(text) {
  const parts = text.trim().split(":");
  const osVersion = parts.length === 2 ? parts[1] : "";
  const [os = "", architecture = "", variant = "", ...rest] = parts[0].split("/");
  if (rest.length > 0) throw new Error(`too many slashes in platform spec: ${text}`);
  return { os, architecture, variant, osVersion, osFeatures: [], features: [] };
}

/** What crane takes an index child without a platform for: `defaultPlatform` (pkg/v1/remote/options.go). */
export const DEFAULT_PLATFORM = { os: "linux", architecture: "amd64" };

/** A descriptor's `platform` (JSON field names) with every field present, empty where the JSON has none. */
function platformFields(p) {
  return {
    os: p.os ?? "",
    architecture: p.architecture ?? "",
    variant: p.variant ?? "",
    osVersion: p.osVersion ?? p["os.version"] ?? "",
    osFeatures: p.osFeatures ?? p["os.features"] ?? [],
    features: p.features ?? [],
  };
}

const subset = (have, want) => want.every((w) => have.includes(w));

/**
 * `matchesPlatform(given, required)` of pkg/v1/remote/index.go, what `crane copy|digest|manifest --platform` uses on
 * an index: os and architecture identical; variant and os.version compared only when `required` names them (so
 * `linux/arm64` matches a `linux/arm64/v8` child, `linux/arm64/v8` does not match a child without variant); the
 * required features and os.features a subset of the child's.
 */
export function platformMatches(given, required) {
  const g = platformFields(given);
  const r = platformFields(required);
  if (g.os !== r.os || g.architecture !== r.architecture) return false;
  if (r.osVersion && g.osVersion !== r.osVersion) return false;
  if (r.variant && g.variant !== r.variant) return false;
  return subset(g.osFeatures, r.osFeatures) && subset(g.features, r.features);
}

/**
 * `v1.Platform.Satisfies(spec)` (pkg/v1/platform.go), what `crane index filter` uses: every field the spec leaves
 * empty is not compared (`linux` keeps every linux child), the others must be equal; features a subset.
 */
export function platformSatisfies(given, spec) {
  const g = platformFields(given);
  const s = platformFields(spec);
  const same = (want, have) => want === "" || want === have;
  return (
    same(s.os, g.os) &&
    same(s.architecture, g.architecture) &&
    same(s.variant, g.variant) &&
    same(s.osVersion, g.osVersion) &&
    subset(g.osFeatures, s.osFeatures) &&
    subset(g.features, s.features)
  );
}

/** Go's `%+v` of a v1.Platform, as crane's "no child with platform" error prints it. */
function goPlatform(p) {
  const f = platformFields(p);
  const list = (l) => `[${l.join(" ")}]`;
  return `{Architecture:${f.architecture} OS:${f.os} OSVersion:${f.osVersion} OSFeatures:${list(f.osFeatures)} Variant:${f.variant} Features:${list(f.features)}}`;
}

/**
 * `childByPlatform` (pkg/v1/remote/index.go): the FIRST child, in index order, that matches; a child without a
 * platform counts as linux/amd64. None: crane's error, `no child with platform {…} in index REF`.
 */
export function childForPlatform(index, platform, where) {
  const child = (index.manifests ?? []).find((m) =>
    platformMatches(m.platform ?? DEFAULT_PLATFORM, platform),
  );
  if (!child) throw new Error(`no child with platform ${goPlatform(platform)} in index ${where}`);
  return child;
}

/** Runs `work` over `items` with at most `jobs` at a time. */
export async function eachLimited(items, jobs, work) {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  });
  await Promise.all(workers);
}
