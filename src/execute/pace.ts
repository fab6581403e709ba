/**
 * Manifest PUTs shaped to ECR's PutImage quota (default 10 a second per account and region). crane does the
 * PUTs, at the end of each copy, so the copies' starts are paced by the manifests each will PUT (1, or the
 * children plus the index): a copy of n manifests starts n/rate seconds after the one before it, with no burst,
 * so the jitter of the copies' durations has ECR's own burst allowance (its token bucket) to spend. When ECR
 * throttles anyway (crane's error names the manifest PUT and TOOMANYREQUESTS or 429), the rate halves and the
 * copy is tried again; each copy that goes through raises it again, step by step, up to the quota.
 */

export interface PaceOptions {
  /** Milliseconds clock (default `performance.now`). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface PaceReport {
  /** The configured quota, manifest PUTs a second. */
  quota: number;
  /** The rate at the end of the run (lower than the quota after throttling). */
  rate: number;
  /** Copies ECR throttled (tried again at a lower rate). */
  throttled: number;
  /** Milliseconds copies waited for their turn, in all. */
  waitedMs: number;
}

export class ManifestPace {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** When the next copy may start. */
  private next = Number.NEGATIVE_INFINITY;
  private queue: Promise<void> = Promise.resolve();
  private rate: number;
  private throttles = 0;
  private waited = 0;

  constructor(
    private readonly quota: number,
    options: PaceOptions = {},
  ) {
    if (!Number.isFinite(quota) || quota <= 0)
      throw new RangeError(`PutImage rate must be positive, got ${quota}`);
    this.rate = quota;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Waits for this copy's turn (arrival order) and books its `manifests` PUTs. */
  acquire(manifests: number): Promise<void> {
    const turn = this.queue.then(() => this.book(Math.max(1, manifests)));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async book(n: number): Promise<void> {
    const now = this.now();
    const at = Math.max(now, this.next);
    this.next = at + (n * 1000) / this.rate;
    if (at > now) {
      this.waited += at - now;
      await this.sleep(at - now);
    }
  }

  /** ECR throttled a copy's PUT: half the rate (at least 1 a second). */
  throttled(): void {
    this.throttles += 1;
    this.rate = Math.max(1, this.rate / 2);
  }

  /** A copy went through: the rate climbs back towards the quota. */
  succeeded(): void {
    this.rate = Math.min(this.quota, this.rate + 0.5);
  }

  get report(): PaceReport {
    return {
      quota: this.quota,
      rate: this.rate,
      throttled: this.throttles,
      waitedMs: Math.round(this.waited),
    };
  }
}

/** Whether a copy failed because the target throttled its manifest PUT (crane's error text). */
export function putThrottled(error: unknown, registry: string): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return (
    /\bPUT\b[^\n]*\/manifests\//.test(text) &&
    text.includes(registry) &&
    /TOOMANYREQUESTS|\b429\b|Too Many Requests/i.test(text)
  );
}

/** Manifests a copy PUTs: its content's count when known, else by its platforms (1, or the kept ones plus the index). */
export function manifestsOf(
  step: { platforms: readonly string[] },
  known: number | null | undefined,
): number {
  if (known) return known;
  return step.platforms.length > 1 ? step.platforms.length + 1 : 1;
}
