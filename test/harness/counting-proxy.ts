// A streaming HTTP reverse proxy in front of a registry that classifies and counts every request
// ("how many upstream manifest GETs did that run send?"). The ECR gate (ecr.ts) is the same proxy
// with a guard that enforces what ECR enforces.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

/** What a registry request does, from its method and path (OCI distribution API). */
export type RequestKind =
  | "ping"
  | "catalog"
  | "tags-list"
  | "manifest-head"
  | "manifest-get"
  | "manifest-put"
  | "manifest-delete"
  | "blob-head"
  | "blob-get"
  | "blob-delete"
  | "blob-upload"
  | "other";

/** Why the ECR gate refused a request (the counting proxy refuses nothing). */
export type Refusal =
  | "unauthorized"
  | "name-unknown"
  | "tag-invalid"
  | "unsupported"
  | "archived"
  | "throttled";

export interface ProxiedRequest {
  method: string;
  path: string;
  kind: RequestKind;
  /** Repository name for repository-scoped requests, e.g. `mirrors/library/redis`. */
  repository?: string;
  /** Tag or digest for manifest requests, digest for blob requests. */
  reference?: string;
  status: number;
  /** The request carried the credentials the gate expects (always true for the counting proxy). */
  authorized: boolean;
  refusal?: Refusal;
  /** Request body bytes received (what a client uploaded: blob chunks, manifests). */
  bytes: number;
  /** When the request arrived (`performance.now()` milliseconds). */
  at: number;
}

export interface ClassifiedRequest {
  kind: RequestKind;
  repository?: string;
  reference?: string;
}

const REPOSITORY_PATH =
  /^\/v2\/(.+?)\/(manifests\/([^/]+)|blobs\/uploads(?:\/.*)?|blobs\/([^/]+)|tags\/list)$/;

export function classifyRequest(method: string, url: string): ClassifiedRequest {
  const path = url.split("?")[0] ?? url;
  if (path === "/v2/" || path === "/v2") return { kind: "ping" };
  if (path === "/v2/_catalog") return { kind: "catalog" };
  const m = REPOSITORY_PATH.exec(path);
  if (!m) return { kind: "other" };
  const repository = decodeURIComponent(m[1]!);
  const [, , route, manifestRef, blobDigest] = m;
  if (route === "tags/list") return { kind: "tags-list", repository };
  if (manifestRef !== undefined) {
    const reference = decodeURIComponent(manifestRef);
    const kinds: Record<string, RequestKind> = {
      HEAD: "manifest-head",
      GET: "manifest-get",
      PUT: "manifest-put",
      DELETE: "manifest-delete",
    };
    return { kind: kinds[method] ?? "other", repository, reference };
  }
  if (blobDigest !== undefined) {
    const kinds: Record<string, RequestKind> = { HEAD: "blob-head", GET: "blob-get", DELETE: "blob-delete" };
    return { kind: kinds[method] ?? "other", repository, reference: decodeURIComponent(blobDigest) };
  }
  return { kind: "blob-upload", repository };
}

/** A refusal the guard answers instead of forwarding. */
export interface GuardAnswer {
  refusal: Refusal;
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

/**
 * What a guard decides: `authorized` is recorded either way; `answer` refuses the request instead of
 * forwarding it; `after` is told the upstream's status and headers once a forwarded request is answered.
 */
export interface GuardVerdict {
  authorized: boolean;
  answer?: GuardAnswer;
  after?: (status: number, headers: IncomingHttpHeaders) => void;
  /** Forward to this path (and query) instead of the request's own. */
  forwardPath?: string;
  /** Headers added to the forwarded answer, from its status and headers (told after `after`). */
  responseHeaders?: (status: number, headers: IncomingHttpHeaders) => Record<string, string>;
}

/** Decides, before forwarding, whether a request is refused. */
export type Guard = (
  req: IncomingMessage,
  classified: ClassifiedRequest,
) => Promise<GuardVerdict> | GuardVerdict;

export interface RunningProxy {
  /** `127.0.0.1:PORT` of the proxy. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Requests by kind, plus refusals by reason (a refused request counts under both). */
  counts(): Partial<Record<RequestKind | Refusal, number>>;
  /** Every request, oldest first, with the status it was answered with. */
  requests(): ProxiedRequest[];
  resetCounts(): void;
  stop(): Promise<void>;
}

/** Starts a proxy on a free 127.0.0.1 port forwarding to `upstreamUrl` (`http://host:port`). */
export async function startProxy(upstreamUrl: string, guard?: Guard): Promise<RunningProxy> {
  const upstream = new URL(upstreamUrl);
  let log: ProxiedRequest[] = [];
  let selfUrl = "";

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const classified = classifyRequest(method, path);
    const verdict: GuardVerdict = guard ? await guard(req, classified) : { authorized: true };
    const entry: ProxiedRequest = {
      method,
      path,
      ...classified,
      status: 0,
      authorized: verdict.authorized,
      bytes: 0,
      at: performance.now(),
    };
    log.push(entry);
    req.on("data", (chunk: Buffer) => {
      entry.bytes += chunk.length;
    });
    if (verdict.answer) {
      const { refusal, status, headers, body } = verdict.answer;
      entry.refusal = refusal;
      entry.status = status;
      req.resume();
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(text),
        "docker-distribution-api-version": "registry/2.0",
        ...headers,
      });
      res.end(method === "HEAD" ? undefined : text);
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path: verdict.forwardPath ?? path, headers },
      (upstreamRes) => {
        entry.status = upstreamRes.statusCode ?? 502;
        verdict.after?.(entry.status, upstreamRes.headers);
        const responseHeaders = {
          ...upstreamRes.headers,
          ...verdict.responseHeaders?.(entry.status, upstreamRes.headers),
        };
        const location = responseHeaders.location;
        if (typeof location === "string" && location.startsWith(upstream.origin)) {
          responseHeaders.location = selfUrl + location.slice(upstream.origin.length);
        }
        res.writeHead(entry.status, responseHeaders);
        upstreamRes.pipe(res);
      },
    );
    forward.on("error", (error) => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy: upstream ${upstream.origin} failed: ${error.message}`);
    });
    req.pipe(forward);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`proxy: ${String(error)}`);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  selfUrl = `http://127.0.0.1:${port}`;

  return {
    host: `127.0.0.1:${port}`,
    url: selfUrl,
    counts() {
      const counts: Partial<Record<RequestKind | Refusal, number>> = {};
      for (const r of log) {
        counts[r.kind] = (counts[r.kind] ?? 0) + 1;
        if (r.refusal) counts[r.refusal] = (counts[r.refusal] ?? 0) + 1;
      }
      return counts;
    },
    requests: () => log.map((r) => ({ ...r })),
    resetCounts() {
      log = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A proxy that only counts: put it between a tool and an upstream registry. */
export function startCountingProxy(upstream: { url: string }): Promise<RunningProxy> {
  return startProxy(upstream.url);
}
