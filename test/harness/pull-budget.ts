// A stand-in for Docker Hub's pull budget in front of a real registry: every manifest answer carries
// `ratelimit-limit` and `ratelimit-remaining` (`100;w=21600`), a GET of a platform manifest spends one pull
// (a HEAD and an index GET spend none: "one pull for each architecture" of a multi-platform image), and once
// the budget is spent a manifest GET is answered 429 TOOMANYREQUESTS, as Docker Hub does.
import type { IncomingHttpHeaders } from "node:http";
import { type RunningProxy, startProxy } from "./counting-proxy.js";

const INDEX_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];

export interface BudgetedUpstream {
  proxy: RunningProxy;
  /** Pulls left now. */
  remaining(): number;
  /** A new window: `n` pulls left. */
  reset(n: number): void;
  /** Pulls spent since the start (or the last reset). */
  spent(): number;
  /** Manifest GETs refused because the budget was spent. */
  refused(): number;
}

export async function startBudgetedUpstream(
  upstream: { url: string },
  budget: { limit: number; remaining: number; windowSeconds?: number },
): Promise<BudgetedUpstream> {
  let remaining = budget.remaining;
  let spent = 0;
  let refused = 0;
  const w = budget.windowSeconds ?? 21_600;
  const headers = () => ({
    "ratelimit-limit": `${budget.limit};w=${w}`,
    "ratelimit-remaining": `${Math.max(0, remaining)};w=${w}`,
  });
  const proxy = await startProxy(upstream.url, (_req, { kind }) => {
    if (kind !== "manifest-get" && kind !== "manifest-head") return { authorized: true };
    if (kind === "manifest-get" && remaining <= 0) {
      refused += 1;
      return {
        authorized: true,
        answer: {
          refusal: "throttled",
          status: 429,
          headers: headers(),
          body: {
            errors: [
              { code: "TOOMANYREQUESTS", message: "You have reached your unauthenticated pull rate limit." },
            ],
          },
        },
      };
    }
    return {
      authorized: true,
      responseHeaders: (status: number, answered: IncomingHttpHeaders) => {
        const type = String(answered["content-type"] ?? "")
          .split(";")[0]!
          .trim();
        if (kind === "manifest-get" && status === 200 && !INDEX_TYPES.includes(type)) {
          remaining -= 1;
          spent += 1;
        }
        return headers();
      },
    };
  });
  return {
    proxy,
    remaining: () => remaining,
    reset(n) {
      remaining = n;
      spent = 0;
    },
    spent: () => spent,
    refused: () => refused,
  };
}
