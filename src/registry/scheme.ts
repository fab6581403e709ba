/**
 * One scheme rule for every registry ecr-mirror talks to, crane's: HTTPS first, and plain HTTP only as
 * the fallback for the hosts go-containerregistry's `Registry.Scheme()` calls "http" (loopback,
 * `*.localhost`, `localhost:PORT`, RFC 1918; `fallsBackToHttp`). crane pings `https://HOST/v2/` and, for
 * those hosts, `http://HOST/v2/` 300 ms later or as soon as the HTTPS ping fails, and uses whichever
 * answered (pkg/v1/remote/transport/ping.go `Ping`/`pingParallel`, schemer.go). A TLS registry on a
 * private address is therefore reached over HTTPS, a plain one over HTTP, and a public host only ever
 * over HTTPS, whatever scheme a list or an input wrote.
 *
 * In-process requests (DistributionClient) follow it without an extra request: the first request to a
 * host goes over HTTPS and, when it gets no HTTP answer at all on a fallback host, is sent again over
 * HTTP. helm has no fallback of its own (`--plain-http` or HTTPS, Helm 4), so before a helm command the
 * host is asked once (`resolve`). What a host answered on is kept for the run.
 */
import { fallsBackToHttp } from "../list/address-policy.js";
import { boundedRequest, discard, HttpError, type HttpLimits } from "./http.js";

export type Scheme = "https" | "http";

/** The schemes to try for a host, in order. */
export function schemesToTry(host: string): Scheme[] {
  return fallsBackToHttp(host) ? ["https", "http"] : ["https"];
}

/**
 * Whether an HTTPS attempt's failure lets crane's rule try plain HTTP: no HTTP answer came (refused,
 * reset, a TLS handshake with a plain-HTTP server, a timeout). An untrusted certificate does not: the
 * server speaks TLS, and the failure says so with its hint.
 */
export function triesHttpAfter(error: unknown): boolean {
  return error instanceof HttpError && error.status === null && error.transient;
}

const PROBE_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 10_000,
  bodyDeadlineMs: 10_000,
  maxBytes: 64 * 1024,
};

/** What each registry host answered on in this run. */
export class RegistrySchemes {
  private readonly settled = new Map<string, Scheme>();
  private readonly probing = new Map<string, Promise<Scheme>>();

  constructor(private readonly doFetch: typeof fetch = fetch) {}

  /** The schemes to try for `host`: the one it answered on, else crane's order. */
  candidates(host: string): Scheme[] {
    const known = this.settled.get(host);
    return known ? [known] : schemesToTry(host);
  }

  settle(host: string, scheme: Scheme): void {
    this.settled.set(host, scheme);
  }

  /**
   * The scheme `host` answers on. A host without the HTTP fallback is HTTPS without asking; a fallback host
   * not reached yet gets crane's ping, `GET /v2/` over HTTPS then HTTP (any HTTP answer counts: 200, 401, ...).
   */
  resolve(host: string): Promise<Scheme> {
    const candidates = this.candidates(host);
    if (candidates.length === 1) return Promise.resolve(candidates[0]!);
    let pending = this.probing.get(host);
    if (!pending) {
      pending = this.ping(host, candidates);
      this.probing.set(host, pending);
    }
    return pending;
  }

  private async ping(host: string, candidates: Scheme[]): Promise<Scheme> {
    let last: unknown = null;
    for (const scheme of candidates) {
      const url = `${scheme}://${host}/v2/`;
      try {
        const answer = await boundedRequest(
          url,
          { method: "GET" },
          { what: `GET ${url}`, limits: PROBE_LIMITS, fetch: this.doFetch },
        );
        await discard(answer);
        this.settle(host, scheme);
        return scheme;
      } catch (error) {
        last = error;
        if (!triesHttpAfter(error)) break;
      }
    }
    this.probing.delete(host);
    throw last;
  }
}
