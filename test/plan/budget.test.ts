// The pull budget decision, pure: what fits, what sharing is given up, what waits for the next run.
import { describe, expect, it } from "vitest";
import { fitPullBudget } from "../../src/plan/budget.js";

const budget = (remaining: number) =>
  new Map([["docker.io", { remaining, limit: 100, windowSeconds: 21_600 }]]);
const copies = ["a", "b", "c", "d"].map((step, i) => ({
  step,
  upstream: "docker.io",
  pulls: i === 3 ? 2 : 1,
  sharingReads: i === 3 ? 2 : 1,
}));

describe("fitPullBudget", () => {
  it("keeps sharing when the copies and the layer reads both fit", () => {
    const d = fitPullBudget(copies, budget(10));
    expect([...d.deferred, ...d.noSharing]).toEqual([]);
    expect(d.upstreams[0]).toMatchObject({ needed: 5, sharingReads: 5, sharingGivenUp: false, deferred: 0 });
  });

  it("gives up sharing, not copies, when only the layer reads do not fit", () => {
    const d = fitPullBudget(copies, budget(6));
    expect([...d.noSharing]).toEqual(["a", "b", "c", "d"]);
    expect([...d.deferred]).toEqual([]);
    expect(d.upstreams[0]).toMatchObject({ sharingGivenUp: true, deferred: 0 });
  });

  it("copies what fits in order and leaves the rest, with the pulls it needs, for the next run", () => {
    const d = fitPullBudget(copies, budget(4));
    expect([...d.deferred]).toEqual(["d"]);
    expect(d.upstreams[0]).toMatchObject({ deferred: 1, deferredPulls: 2 });
  });

  it("leaves an upstream that states no budget alone", () => {
    const d = fitPullBudget(copies, new Map());
    expect(d.upstreams).toEqual([]);
    expect(d.deferred.size + d.noSharing.size).toBe(0);
  });
});
