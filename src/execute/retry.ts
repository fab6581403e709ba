/**
 * Retries for registry and ECR work: exponential backoff with full jitter (a delay drawn uniformly from
 * zero to `min(cap, base * 2^attempt)`), only for errors worth another try: throttling (429,
 * TOOMANYREQUESTS, ECR's ThrottlingException), server errors (5xx) and network failures. Refusals that
 * another try cannot change (401, 403, 404, unknown names and manifests, immutable tags) fail at once.
 * Sleep and randomness are injectable so tests are instant and exact.
 */

/** Errors that another attempt cannot fix. Checked first: a refusal quoting a 5xx text is still a refusal. */
const PERMANENT: readonly RegExp[] = [
  /\b40[134]\b/,
  /unauthori[sz]ed|authentication required|no basic auth credentials/i,
  /denied|forbidden|not authorized to perform/i,
  /NAME_UNKNOWN|MANIFEST_UNKNOWN|BLOB_UNKNOWN|NAME_INVALID|TAG_INVALID|MANIFEST_INVALID/,
  /immutable|ImageTagAlreadyExistsException|already exists and cannot be overwritten/i,
  /RepositoryNotFoundException|ImageNotFoundException|InvalidParameterException|LimitExceededException/,
  /not in the stand-in contract|no child with platform|digest mismatch|not a sha256 digest/i,
];

/** Errors worth another attempt. */
const TRANSIENT: readonly RegExp[] = [
  /\b429\b|too ?many ?requests|TOOMANYREQUESTS|rate limit|Throttl/i,
  /unexpected status code 5\d\d|\bstatus(?: code)? 5\d\d\b|\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)/i,
  /ServerException|ServiceUnavailable|InternalFailure|RequestTimeout/,
  /ECONNRESET|ETIMEDOUT|ECONNREFUSED|EPIPE|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|socket hang up|other side closed/i,
  /connection reset|connection refused|i\/o timeout|TLS handshake timeout|unexpected EOF|context deadline exceeded|fetch failed/i,
];

interface AwsLikeError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  code?: unknown;
}

/** Whether an error is worth another attempt (throttling, 5xx, network); false for refusals and unknowns. */
export function isRetryable(error: unknown): boolean {
  const e = (error ?? {}) as AwsLikeError;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === "number") {
    if (status === 429 || status >= 500) return true;
    if (e.$retryable) return true;
    if (/Throttl/i.test(e.name ?? "")) return true;
    return false;
  }
  if (typeof e.code === "string" && /^(ECONNRESET|ETIMEDOUT|ECONNREFUSED|EPIPE|EAI_AGAIN)$/.test(e.code))
    return true;
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (PERMANENT.some((p) => p.test(text))) return false;
  return TRANSIENT.some((p) => p.test(text));
}

export interface RetryOptions {
  /** Further attempts after the first (0: try once). */
  retries: number;
  /** First backoff ceiling in milliseconds (default 1000). */
  baseDelayMs?: number;
  /** Largest backoff ceiling in milliseconds (default 30000). */
  maxDelayMs?: number;
  /** Waits `ms` milliseconds (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) (default Math.random). */
  random?: () => number;
  /** Which errors are worth another attempt (default `isRetryable`). */
  retryable?: (error: unknown) => boolean;
  /** Told before each wait: the failed attempt (1-based), the delay and the error. */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The full-jitter delay before attempt `attempt + 1` (attempt is 1-based). */
export function backoffDelay(
  attempt: number,
  opts: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs" | "random">,
): number {
  const base = opts.baseDelayMs ?? 1000;
  const cap = opts.maxDelayMs ?? 30_000;
  const ceiling = Math.min(cap, base * 2 ** (attempt - 1));
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}

/** The error of the last attempt, with how many attempts were made. */
export class RetriesExhausted extends Error {
  override name = "RetriesExhausted";
  constructor(
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * Runs `work` until it succeeds, a non-retryable error occurs, or `retries` further attempts failed.
 * Resolves with the value and the number of attempts; rejects with `RetriesExhausted` (the last error as cause).
 */
export async function withRetries<T>(
  work: (attempt: number) => Promise<T>,
  opts: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const sleep = opts.sleep ?? defaultSleep;
  const retryable = opts.retryable ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await work(attempt), attempts: attempt };
    } catch (error) {
      if (attempt > opts.retries || !retryable(error)) throw new RetriesExhausted(attempt, error);
      const delay = backoffDelay(attempt, opts);
      opts.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}
