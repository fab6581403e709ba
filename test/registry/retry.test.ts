import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  isRetryable,
  RetriesExhausted,
  retriedElsewhere,
  withRetries,
} from "../../src/registry/retry.js";
import { ToolError } from "../../src/tools/runner.js";

const craneError = (output: string) => new ToolError("crane", "copy", "crane copy a -> b", 1, output, null);

describe("which failures are worth another attempt", () => {
  it.each([
    [
      "GET https://index.docker.io/v2/library/redis/manifests/7.0: TOOMANYREQUESTS: You have reached your pull rate limit",
      true,
    ],
    ["GET https://quay.io/v2/x/manifests/1: unexpected status code 503 Service Unavailable", true],
    ["PUT http://127.0.0.1:5000/v2/x/manifests/1: 502 Bad Gateway", true],
    ['Get "https://ghcr.io/v2/": read tcp 10.0.0.1:5555->1.2.3.4:443: read: connection reset by peer', true],
    ["GET https://ghcr.io/v2/: net/http: TLS handshake timeout", true],
    ["dial tcp 1.2.3.4:443: i/o timeout", true],
    ["GET https://ghcr.io/v2/x/manifests/9: MANIFEST_UNKNOWN: manifest unknown", false],
    [
      "HEAD http://127.0.0.1:1/v2/mirrors/x/manifests/1: NAME_UNKNOWN: repository name not known to registry",
      false,
    ],
    [
      "PUT .../manifests/7.0: TAG_INVALID: The image tag '7.0' already exists and cannot be overwritten because the tag is immutable",
      false,
    ],
    ["GET https://registry/v2/: UNAUTHORIZED: authentication required", false],
    ["unexpected status code 401 Unauthorized", false],
    ["DENIED: requested access to the resource is denied (status 403)", false],
    ["digest mismatch: r/x:1 holds sha256:a, the source is sha256:b", false],
    ["something nobody has seen before", false],
  ])("%s -> %s", (output, retryable) => {
    expect(isRetryable(craneError(output))).toBe(retryable);
  });

  it("reads the AWS SDK's status and error names", () => {
    const sdk = (name: string, httpStatusCode: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode } });
    expect(isRetryable(sdk("ThrottlingException", 400))).toBe(true);
    expect(isRetryable(sdk("ServerException", 500))).toBe(true);
    expect(isRetryable(sdk("RepositoryNotFoundException", 400))).toBe(false);
    expect(isRetryable(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }))).toBe(true);
  });
});

describe("exponential backoff with full jitter", () => {
  it("draws each delay between zero and base * 2^(attempt-1), capped", () => {
    const opts = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, { ...opts, random: () => 0.999 })).toBe(99);
    expect(backoffDelay(3, { ...opts, random: () => 0.5 })).toBe(200);
    expect(backoffDelay(10, { ...opts, random: () => 0.5 })).toBe(500); // capped at 1000
    expect(backoffDelay(2, { ...opts, random: () => 0 })).toBe(0);
  });

  it("retries a throttled call and reports the attempts, sleeping the drawn delays", async () => {
    const slept: number[] = [];
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls += 1;
        if (calls < 3) throw craneError("unexpected status code 429 Too Many Requests");
        return "ok";
      },
      { retries: 5, baseDelayMs: 1000, random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
    );
    expect(result).toEqual({ value: "ok", attempts: 3 });
    expect(slept).toEqual([500, 1000]);
  });

  it("gives up after the allowed retries with the last error and the attempt count", async () => {
    let calls = 0;
    const failing = withRetries(
      async () => {
        calls += 1;
        throw craneError("unexpected status code 500 Internal Server Error");
      },
      { retries: 2, sleep: async () => {} },
    );
    await expect(failing).rejects.toBeInstanceOf(RetriesExhausted);
    await expect(failing).rejects.toMatchObject({ attempts: 3, message: /500/ });
    expect(calls).toBe(3);
  });

  it("does not retry a refusal", async () => {
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls += 1;
          throw craneError("MANIFEST_UNKNOWN: manifest unknown");
        },
        { retries: 5, sleep: async () => {} },
      ),
    ).rejects.toMatchObject({ attempts: 1 });
    expect(calls).toBe(1);
  });
});

describe("one layer, a time budget, the server's Retry-After", () => {
  it("never retries an error another layer already retried: AWS SDK errors and an inner withRetries", async () => {
    let calls = 0;
    const sdkThrottle = Object.assign(new Error("Rate exceeded"), {
      name: "ThrottlingException",
      $metadata: { httpStatusCode: 400, attempts: 5 },
    });
    await expect(
      withRetries(
        async () => {
          calls += 1;
          throw sdkThrottle;
        },
        { retries: 3, sleep: async () => {} },
      ),
    ).rejects.toMatchObject({ attempts: 1 });
    expect(calls).toBe(1);
    expect(retriedElsewhere(sdkThrottle)).toBe(true);
    expect(retriedElsewhere(new RetriesExhausted(4, new Error("x")))).toBe(true);
    expect(retriedElsewhere(craneError("503"))).toBe(false);
  });

  it("starts no attempt after the budget and says how many were made in how long", async () => {
    let clock = 0;
    const failing = withRetries(
      async () => {
        clock += 10_000;
        throw craneError("unexpected status code 503 Service Unavailable");
      },
      {
        retries: 100,
        budgetMs: 35_000,
        baseDelayMs: 1000,
        random: () => 0.999,
        now: () => clock,
        sleep: async (ms) => {
          clock += ms;
        },
      },
    );
    // Attempts end at 10 s, 21 s and 33 s; the wait before a fourth (up to 4 s) would end past 35 s.
    await expect(failing).rejects.toMatchObject({
      attempts: 3,
      message:
        "crane copy a -> b failed (exit 1): unexpected status code 503 Service Unavailable (gave up after 3 attempts in 33.0 s)",
    });
  });

  it("waits what the server asked for instead of the backoff, and gives up when that is past the budget", async () => {
    const slept: number[] = [];
    const asked = (ms: number) => Object.assign(new Error("429"), { wait: ms });
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls += 1;
        if (calls === 1) throw asked(7000);
        return "ok";
      },
      {
        retries: 3,
        budgetMs: 60_000,
        retryable: () => true,
        serverDelay: (e) => (e as { wait?: number }).wait ?? null,
        sleep: async (ms) => void slept.push(ms),
      },
    );
    expect(result).toEqual({ value: "ok", attempts: 2 });
    expect(slept).toEqual([7000]);

    const tooLong = withRetries(
      async () => {
        throw asked(3_600_000);
      },
      {
        retries: 3,
        budgetMs: 60_000,
        retryable: () => true,
        serverDelay: (e) => (e as { wait?: number }).wait ?? null,
        sleep: async (ms) => void slept.push(ms),
      },
    );
    await expect(tooLong).rejects.toMatchObject({ attempts: 1 });
    expect(slept).toEqual([7000]);
  });

  it("keeps the hint last when it says how often it tried", () => {
    const error = new RetriesExhausted(2, craneError("stalled"), 4000);
    expect(error.message).toMatch(
      /^crane copy a -> b failed \(exit 1\): stalled \(gave up after 2 attempts in 4\.0 s\)$/,
    );
    const hinted = new RetriesExhausted(2, new Error("boom\nhint: do this"), 1000);
    expect(hinted.message).toBe("boom (gave up after 2 attempts in 1.0 s)\nhint: do this");
  });
});
