/**
 * Retries for registry and ECR work: exponential backoff with full jitter (a delay drawn uniformly from
 * zero to `min(cap, base * 2^attempt)`), only for errors worth another try: throttling (429,
 * TOOMANYREQUESTS, ECR's ThrottlingException), server errors (5xx) and network failures. Refusals that
 * another try cannot change (401, 403, 404, unknown names and manifests, immutable tags) fail at once.
 * One layer per operation: an error that already went through another layer's retries (the AWS SDK's,
 * an inner `withRetries`) is never retried again, and a time budget stops new attempts, so the total
 * time is bounded and the failure says "gave up after N attempts in S s".
 * Sleep, clock and randomness are injectable so tests are instant and exact.
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

/**
 * Whether an error already went through another retry layer, so another attempt here would stack
 * retries: AWS SDK errors (they carry `$metadata`; the SDK's own retry strategy ran) and errors an
 * inner `withRetries` gave up on.
 */
export function retriedElsewhere(error: unknown): boolean {
  if (error instanceof RetriesExhausted) return true;
  return typeof (error as AwsLikeError | null)?.$metadata === "object";
}

export interface RetryOptions {
  /** Further attempts after the first (0: try once). */
  retries: number;
  /** First backoff ceiling in milliseconds (default 1000). */
  baseDelayMs?: number;
  /** Largest backoff ceiling in milliseconds (default 30000). */
  maxDelayMs?: number;
  /**
   * Total time for all attempts, in milliseconds: no new attempt starts (and no wait begins) that
   * would end after it. Default: no budget beyond `retries`.
   */
  budgetMs?: number;
  /** Waits `ms` milliseconds (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) (default Math.random). */
  random?: () => number;
  /** Milliseconds clock for the budget (default `performance.now`). */
  now?: () => number;
  /** Which errors are worth another attempt, given the failed attempt (1-based); default `isRetryable`. */
  retryable?: (error: unknown, attempt: number) => boolean;
  /** The wait the server asked for (`Retry-After`), in milliseconds, or null to use the backoff. */
  serverDelay?: (error: unknown) => number | null;
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

/** The error of the last attempt, with how many attempts were made and how long they took. */
export class RetriesExhausted extends Error {
  override name = "RetriesExhausted";
  constructor(
    readonly attempts: number,
    override readonly cause: unknown,
    readonly elapsedMs = 0,
  ) {
    const text = cause instanceof Error ? cause.message : String(cause);
    const at = text.indexOf("\nhint: ");
    const [head, tail] = at === -1 ? [text, ""] : [text.slice(0, at), text.slice(at)];
    super(
      attempts > 1
        ? `${head} (gave up after ${attempts} attempts in ${(elapsedMs / 1000).toFixed(1)} s)${tail}`
        : text,
    );
  }
}

/**
 * Runs `work` until it succeeds, a non-retryable error occurs, `retries` further attempts failed
 * or the next attempt would start after `budgetMs`. Errors another layer already retried
 * (`retriedElsewhere`) are never retried again. Resolves with the value and the number of
 * attempts; rejects with `RetriesExhausted` (the last error as cause).
 */
export async function withRetries<T>(
  work: (attempt: number) => Promise<T>,
  opts: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const sleep = opts.sleep ?? defaultSleep;
  const now = opts.now ?? (() => performance.now());
  const retryable = opts.retryable ?? isRetryable;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await work(attempt), attempts: attempt };
    } catch (error) {
      const giveUp = () => new RetriesExhausted(attempt, error, now() - started);
      if (attempt > opts.retries || retriedElsewhere(error) || !retryable(error, attempt)) throw giveUp();
      const asked = opts.serverDelay?.(error) ?? null;
      const delay = asked ?? backoffDelay(attempt, opts);
      if (opts.budgetMs !== undefined && now() - started + delay >= opts.budgetMs) throw giveUp();
      opts.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}
