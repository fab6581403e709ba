/**
 * Every HTTP request ecr-mirror makes in process (registry API, token endpoints, chart repository
 * indexes) goes through `boundedRequest` and `readBody`: a deadline for the connection and the
 * response headers, an idle timeout while the body streams (no byte for N seconds), an overall
 * deadline for the body and a maximum body size counted while streaming (a declared
 * Content-Length above it fails before a byte is read). Redirects are followed by hand, at most
 * five, never from HTTPS down to HTTP, with the Authorization header dropped when the host
 * changes, and only to hosts the address policy accepts. Each failure names the request, the limit
 * and how to raise it where a user can.
 */
import { checkHost, type HostCheck } from "../list/address-policy.js";

export interface HttpLimits {
  /** Connection, TLS handshake and response headers, in milliseconds. */
  headersTimeoutMs: number;
  /** Longest pause between two body chunks, in milliseconds. */
  idleTimeoutMs: number;
  /** Reading the whole body, in milliseconds. */
  bodyDeadlineMs: number;
  /** Largest body read into memory, in bytes. */
  maxBytes: number;
  /** How a user raises `maxBytes`, when they can (appended to the failure). */
  raiseHint?: string;
}

const MiB = 1024 * 1024;

/**
 * A chart repository's `index.yaml`. Large public ones weigh tens of MiB (Bitnami 14 MB before its
 * 2022 trim and about 27 MB again since; TrueCharts 50.7 MB in 2024, fluxcd/flux2#4635; Flux caps
 * it at 50 MiB). Parsing YAML costs about 37 times the text in memory (measured with the `yaml`
 * library: 30 MiB -> 1.2 GB peak RSS, 50 MiB -> 1.9 GB, 100 MiB -> 3.7 GB), so the default is
 * 32 MiB (Bitnami fits, about 1.2 GB at the cap); a bigger repository needs ECR_MIRROR_MAX_INDEX_MIB
 * and a runner with the memory for it.
 */
export const INDEX_LIMITS: HttpLimits = {
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  bodyDeadlineMs: 120_000,
  maxBytes: 32 * MiB,
  raiseHint:
    "set ECR_MIRROR_MAX_INDEX_MIB to a larger number of MiB if this repository's index is really that big (parsing needs about 40 times that in memory)",
};

/** A manifest or a tag list page: distribution itself refuses manifests above 4 MiB. */
export const MANIFEST_LIMITS: HttpLimits = {
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  bodyDeadlineMs: 60_000,
  maxBytes: 4 * MiB,
};

/** A token endpoint's answer (a few KiB on Docker Hub, GHCR and Quay). */
export const TOKEN_LIMITS: HttpLimits = {
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  bodyDeadlineMs: 30_000,
  maxBytes: 256 * 1024,
};

/** `INDEX_LIMITS` with `ECR_MIRROR_MAX_INDEX_MIB` applied. */
export function indexLimits(env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const raw = env.ECR_MIRROR_MAX_INDEX_MIB;
  const mib = raw === undefined || raw === "" ? Number.NaN : Number(raw);
  return Number.isFinite(mib) && mib > 0
    ? { ...INDEX_LIMITS, maxBytes: Math.floor(mib * MiB) }
    : INDEX_LIMITS;
}

/** What the address policy says about a host (default: src/list/address-policy.ts `checkHost`). */
export type HostPolicy = (host: string) => HostCheck;

/** A request that failed: the network, a limit, a redirect refused. `status` is set for HTTP answers. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    message: string,
    /** Another attempt may succeed (network failure, timeout, 429, 5xx). */
    readonly transient: boolean,
    readonly hint: string | null = null,
    readonly status: number | null = null,
  ) {
    super(hint ? `${message}\nhint: ${hint}` : message);
  }
}

export interface BoundedRequestOptions {
  /** `GET https://host/v2/…`, as failures name the request. */
  what: string;
  limits: HttpLimits;
  fetch?: typeof fetch;
  /** Checks a redirect target on another host (default: the address policy, `checkHost`). */
  checkHost?: HostPolicy;
  maxRedirects?: number;
}

/** A response whose headers arrived; the body is still to be read with `readBody` or dropped with `discard`. */
export interface BoundedResponse {
  response: Response;
  /** The URL that answered, after redirects. */
  url: string;
  /** Aborts the request (the body's deadline timers included). */
  abort(): void;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function causeText(error: unknown): string {
  const e = error as Error & { cause?: Error & { code?: string } };
  const cause = e.cause;
  if (cause)
    return cause.code && !cause.message.includes(cause.code)
      ? `${cause.code} ${cause.message}`
      : cause.message;
  return e.message ?? String(error);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One request of a redirect chain, its headers awaited within `headersTimeoutMs`. */
async function sendOnce(
  current: URL,
  init: { method: string; headers: Record<string, string> },
  controller: AbortController,
  options: BoundedRequestOptions,
): Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  const timer = setTimeout(() => controller.abort(), options.limits.headersTimeoutMs);
  try {
    return await doFetch(current, { ...init, redirect: "manual", signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) {
      throw new HttpError(
        `${options.what}: no answer within ${seconds(options.limits.headersTimeoutMs)} (connection and headers timeout)`,
        true,
      );
    }
    const code = String((error as { cause?: { code?: unknown } }).cause?.code ?? "");
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
      throw new HttpError(
        `cannot reach ${current.toString()}: ${causeText(error)}`,
        false,
        "the server's TLS certificate is not trusted, and certificate checks are never turned off: use the registry's real HTTPS address, or make its CA trusted on the runner (NODE_EXTRA_CA_CERTS for ecr-mirror itself, SSL_CERT_FILE for crane and helm)",
      );
    }
    throw new HttpError(`cannot reach ${current.toString()}: ${causeText(error)}`, true);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a redirect from `current` leads, or an `HttpError` when it may not be followed. */
function redirectTarget(location: string, current: URL, origin: URL, options: BoundedRequestOptions): URL {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new HttpError(
      `${options.what}: redirected to an invalid address ${JSON.stringify(location)}`,
      false,
    );
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    throw new HttpError(
      `${options.what}: redirected to ${next.protocol} (only http and https are followed)`,
      false,
    );
  }
  if (current.protocol === "https:" && next.protocol === "http:") {
    throw new HttpError(
      `${options.what}: redirected from HTTPS down to plain HTTP (${next.host}); not followed`,
      false,
    );
  }
  if (next.host !== origin.host) {
    const verdict = (options.checkHost ?? checkHost)(next.host);
    if (!verdict.ok) {
      throw new HttpError(
        `${options.what}: redirected to ${next.host}, which is refused: ${verdict.reason}`,
        false,
        verdict.hint || null,
      );
    }
  }
  return next;
}

/**
 * Sends one request and waits for its headers within `headersTimeoutMs`, following redirects by
 * hand. Throws `HttpError` on a network failure, a timeout or a refused redirect.
 */
export async function boundedRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string> },
  options: BoundedRequestOptions,
): Promise<BoundedResponse> {
  const maxRedirects = options.maxRedirects ?? 5;
  const controller = new AbortController();
  const origin = new URL(url);
  let current = origin;
  let headers: Record<string, string> = { ...(init.headers ?? {}) };
  let method = init.method ?? "GET";
  for (let hop = 0; ; hop++) {
    const response = await sendOnce(current, { method, headers }, controller, options);
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null) {
      return { response, url: current.toString(), abort: () => controller.abort() };
    }
    await response.body?.cancel().catch(() => {});
    if (hop >= maxRedirects) {
      throw new HttpError(`${options.what}: more than ${maxRedirects} redirects`, false);
    }
    const next = redirectTarget(location, current, origin, options);
    if (next.host !== current.host) {
      // Credentials are for the host they were given for, never for the one a redirect names.
      headers = Object.fromEntries(
        Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"),
      );
    }
    if (response.status === 303 && method !== "HEAD") method = "GET";
    current = next;
  }
}

/**
 * Reads the body within the limits: stops at `maxBytes` (or before, on a larger Content-Length),
 * at an idle pause of `idleTimeoutMs` and at `bodyDeadlineMs` overall.
 */
export async function readBody(
  answer: BoundedResponse,
  options: Pick<BoundedRequestOptions, "what" | "limits">,
): Promise<Buffer> {
  const { response } = answer;
  const { limits, what } = options;
  const tooBig = (size: string) => {
    answer.abort();
    return new HttpError(
      `${what}: the answer is larger than ${limits.maxBytes} bytes (${size}); not read`,
      false,
      limits.raiseHint ?? null,
    );
  };
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooBig(`Content-Length ${declared}`);
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const deadline = Date.now() + limits.bodyDeadlineMs;
  try {
    for (;;) {
      const left = deadline - Date.now();
      const wait = Math.min(limits.idleTimeoutMs, left);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, wait));
      });
      let step: { done: true; value?: undefined } | { done: false; value: Uint8Array } | "timeout";
      try {
        step = await Promise.race([reader.read(), timeout]);
      } catch (error) {
        throw new HttpError(
          `${what}: the connection failed after ${size} bytes of the answer: ${causeText(error)}`,
          true,
        );
      } finally {
        clearTimeout(timer);
      }
      if (step === "timeout") {
        answer.abort();
        reader.cancel().catch(() => {});
        throw wait < limits.idleTimeoutMs
          ? new HttpError(
              `${what}: the answer took longer than ${seconds(limits.bodyDeadlineMs)} to arrive (${size} bytes read)`,
              true,
            )
          : new HttpError(
              `${what}: no data for ${seconds(limits.idleTimeoutMs)} after ${size} bytes of the answer (idle timeout)`,
              true,
            );
      }
      if (step.done) break;
      size += step.value.byteLength;
      if (size > limits.maxBytes) {
        reader.cancel().catch(() => {});
        throw tooBig(`more than ${size} bytes arrived`);
      }
      chunks.push(step.value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}

/** Drops a body that will not be read. */
export async function discard(answer: BoundedResponse): Promise<void> {
  await answer.response.body?.cancel().catch(() => {});
}

/** The delay a `Retry-After` header asks for (seconds or an HTTP date), in milliseconds; null when absent. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
