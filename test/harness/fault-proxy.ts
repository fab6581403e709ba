// A forwarding proxy on 127.0.0.1 that injects faults into chosen requests, in front of a real
// registry or chart repository (the style of counting-proxy.ts): a request whose method and path
// match a rule gets that rule's fault, `times` times, then passes through. Faults: never answer;
// answer the headers and then stall the body; reset the connection after N body bytes; drip the
// body one byte every X ms; answer a status (500, 429, ...) with a JSON error body. With `tls`,
// the proxy listens over HTTPS with the self-signed test certificate in test/fixtures/tls/, which
// no client trusts: a client that checks certificates fails the handshake before sending anything.
// Every request is recorded (method, path, whether it carried an Authorization header, the fault).
import { readFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";

export type Fault =
  /** Accept the request and never answer. */
  | { kind: "stall" }
  /** Forward, send the upstream's headers (and `afterBytes` of the body), then send nothing more. */
  | { kind: "stall-body"; afterBytes?: number }
  /** Forward, send the headers and `afterBytes` of the body, then destroy the socket. */
  | { kind: "reset"; afterBytes: number }
  /** Forward, then send the body one byte every `intervalMs`. */
  | { kind: "drip"; intervalMs: number }
  /** Answer `status` instead of forwarding: a JSON body (an object) or raw bytes (a string or Buffer). */
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> };

export interface FaultRule {
  /** Matches the request path (query included), e.g. `/manifests\//` or `/index\.yaml$/`. */
  path: RegExp;
  /** Only this method (default: any). */
  method?: string;
  fault: Fault;
  /** How many matching requests get the fault before the rule passes them through (default: all). */
  times?: number;
}

export interface FaultedRequest {
  method: string;
  path: string;
  /** The request carried an Authorization header. */
  authorization: boolean;
  /** The fault it got (`stall`, `status 429`, ...), or null when it passed through. */
  fault: string | null;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT`, or `https://…` with `tls`. */
  url: string;
  /** Every request that reached the proxy, oldest first. */
  requests(): FaultedRequest[];
  /** TCP connections accepted (with `tls`: including those whose handshake failed). */
  connections(): number;
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

/** Distribution's answer to a throttled client. */
export const TOO_MANY_REQUESTS_BODY = {
  errors: [
    {
      code: "TOOMANYREQUESTS",
      message: "You have reached your pull rate limit.",
      detail: "https://www.docker.com/increase-rate-limit",
    },
  ],
};

/** A server error in Distribution's JSON form. */
export const SERVER_ERROR_BODY = {
  errors: [{ code: "UNKNOWN", message: "unknown error", detail: "injected" }],
};

/** ECR's JSON 1.1 error form (`__type`, `message`), as its API answers a throttled call. */
export const ECR_THROTTLING_BODY = { __type: "ThrottlingException", message: "Rate exceeded" };

const TLS_DIR = join(import.meta.dirname, "..", "fixtures", "tls");

function describe(fault: Fault): string {
  return fault.kind === "status" ? `status ${fault.status}` : fault.kind;
}

/** Starts a fault proxy forwarding to `upstreamUrl` (`http://host:port`). */
export async function startFaultProxy(
  upstreamUrl: string,
  options: { tls?: boolean; rules?: FaultRule[] } = {},
): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const log: FaultedRequest[] = [];
  let rules: { rule: FaultRule; left: number }[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  let selfUrl = "";

  const addFault = (rule: FaultRule) => rules.push({ rule, left: rule.times ?? Number.POSITIVE_INFINITY });
  for (const rule of options.rules ?? []) addFault(rule);

  const pick = (method: string, path: string): Fault | null => {
    for (const r of rules) {
      if (r.left <= 0) continue;
      if (r.rule.method && r.rule.method !== method) continue;
      if (!r.rule.path.test(path)) continue;
      r.left -= 1;
      return r.rule.fault;
    }
    return null;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const fault = pick(method, path);
    log.push({
      method,
      path,
      authorization: req.headers.authorization !== undefined,
      fault: fault && describe(fault),
    });
    if (fault?.kind === "stall") {
      req.resume();
      return; // the socket stays open until the client gives up or the proxy stops
    }
    if (fault?.kind === "status") {
      req.resume();
      const raw = typeof fault.body === "string" || Buffer.isBuffer(fault.body);
      const text = raw
        ? Buffer.from(fault.body as string)
        : Buffer.from(JSON.stringify(fault.body ?? SERVER_ERROR_BODY));
      res.writeHead(fault.status, {
        "content-type": raw ? "application/octet-stream" : "application/json; charset=utf-8",
        "content-length": text.length,
        "docker-distribution-api-version": "registry/2.0",
        ...fault.headers,
      });
      res.end(method === "HEAD" ? undefined : text);
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path, headers },
      (upstreamRes) => {
        const responseHeaders = { ...upstreamRes.headers };
        const location = responseHeaders.location;
        if (typeof location === "string" && location.startsWith(upstream.origin)) {
          responseHeaders.location = selfUrl + location.slice(upstream.origin.length);
        }
        res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders);
        if (!fault) {
          upstreamRes.pipe(res);
          return;
        }
        res.flushHeaders();
        collectBody(upstreamRes).then((body) => applyBodyFault(fault, body, res));
      },
    );
    forward.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`fault proxy: upstream ${upstream.origin} failed: ${error.message}`);
    });
    req.pipe(forward);
  };

  const applyBodyFault = (fault: Fault, body: Buffer, res: ServerResponse): void => {
    if (fault.kind === "stall-body") {
      if (fault.afterBytes) res.write(body.subarray(0, fault.afterBytes));
      return;
    }
    if (fault.kind === "reset") {
      res.write(body.subarray(0, fault.afterBytes), () => res.socket?.destroy());
      return;
    }
    if (fault.kind === "drip") {
      let at = 0;
      const timer = setInterval(() => {
        if (at >= body.length || res.destroyed) {
          clearInterval(timer);
          timers.delete(timer);
          res.end();
          return;
        }
        res.write(body.subarray(at, at + 1));
        at += 1;
      }, fault.intervalMs);
      timers.add(timer);
    }
  };

  const server = options.tls
    ? createHttpsServer(
        { key: readFileSync(join(TLS_DIR, "key.pem")), cert: readFileSync(join(TLS_DIR, "cert.pem")) },
        handle,
      )
    : createServer(handle);
  server.on("connection", (socket: Socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => {}); // a client refusing the certificate is the point
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  selfUrl = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;

  return {
    host: `127.0.0.1:${port}`,
    url: selfUrl,
    requests: () => log.map((r) => ({ ...r })),
    connections: () => accepted,
    addFault,
    clearFaults() {
      rules = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function collectBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", () => resolve(Buffer.concat(chunks)));
  });
}
