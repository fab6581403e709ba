// Job summaries must stay under GitHub's 1 MiB step-summary limit (beyond it the upload fails),
// however large the mirror list: the tables are cut and say how many rows were left out.
import { describe, expect, it } from "vitest";
import { type ExecutionReport, STEP_OUTCOMES, type StepReport } from "../../src/execute/execute.js";
import type { EntryStep, Plan } from "../../src/plan/model.js";
import { planMarkdown } from "../../src/report/plan-markdown.js";
import { syncSummaryMarkdown } from "../../src/report/sync-summary.js";
import { imageEntry } from "../harness/steps.js";

const MiB = 1024 * 1024;
const N = 20_000;

const entry = imageEntry();

function step(i: number, action: "copy" | "blocked"): EntryStep {
  const fields = {
    kind: "image" as const,
    source: `docker.io/library/image-with-a-long-name-${i}:1.2.3-${"x".repeat(40)}`,
    repository: `mirrors/library/image-with-a-long-name-${i}`,
    tag: `1.2.3-${"x".repeat(40)}`,
    targetDigest: null,
    platforms: [],
    reason: "missing in the target",
    location: { file: "mirrors.yaml", line: i + 2, column: 5 },
    entry,
  };
  return action === "copy"
    ? { ...fields, action, digest: null }
    : { ...fields, action, digest: `sha256:${"b".repeat(64)}` };
}

describe("plan summary", () => {
  it(`stays under 1 MiB for ${N} steps, keeps the blocked one, and counts what it cut`, () => {
    const steps = Array.from({ length: N }, (_, i) => step(i, i === N - 1 ? "blocked" : "copy"));
    const plan: Plan = {
      registry: "r",
      resync: "missing",
      steps,
      summary: {
        "create-repository": 0,
        "reconcile-settings": 0,
        copy: N - 1,
        update: 0,
        restore: 0,
        blocked: 1,
        present: 0,
        delete: 0,
      },
      warnings: [],
    };
    const md = planMarkdown(plan);
    expect(Buffer.byteLength(md)).toBeLessThan(MiB);
    expect(md).toContain(`| 0 | ${N - 1} | 0 | 0 | 1 | 0 | 0 |`);
    // The blocked step is kept although it comes last, and the table of new tags is cut instead.
    expect(md).toContain(`| \`mirrors/library/image-with-a-long-name-${N - 1}:1.2.3-`);
    const shown = md.match(/^\| `mirrors\/library\/image-with-a-long-name-\d+` \|/gm)?.length ?? 0;
    expect(shown).toBeGreaterThan(100);
    expect(md).toContain(
      `> ${N - 1 - shown} steps not shown (${N - 1 - shown} copy), to stay under GitHub's size limit`,
    );
  });

  it("is not cut when it fits", () => {
    const plan: Plan = {
      registry: "r",
      resync: "missing",
      steps: [step(1, "copy")],
      summary: {
        "create-repository": 0,
        "reconcile-settings": 0,
        copy: 1,
        update: 0,
        restore: 0,
        blocked: 0,
        present: 0,
        delete: 0,
      },
      warnings: [],
    };
    expect(planMarkdown(plan)).not.toContain("not shown");
  });
});

describe("sync summary", () => {
  it(`stays under 1 MiB for ${N} failed steps`, () => {
    const steps: StepReport[] = Array.from({ length: N }, (_, i) => ({
      action: "copy",
      kind: "image",
      source: step(i, "copy").source,
      repository: step(i, "copy").repository,
      tag: step(i, "copy").tag,
      outcome: "failed",
      digest: null,
      expectedDigest: null,
      platforms: [],
      attempts: 4,
      durationMs: 1200,
      error: `crane copy failed: ${"GET https://registry-1.docker.io/v2/…: TOOMANYREQUESTS ".repeat(4)}`,
      reason: "missing in the target",
      location: { file: "mirrors.yaml", line: i + 2, column: 5 },
    }));
    const counts = Object.fromEntries(STEP_OUTCOMES.map((o) => [o, 0])) as ExecutionReport["counts"];
    counts.failed = N;
    const report: ExecutionReport = {
      registry: "r",
      startedAt: "",
      durationMs: 1,
      counts,
      steps,
      failures: steps,
      deletesSkipped: 0,
      ok: false,
    };
    const md = syncSummaryMarkdown(report, { reportPath: "/tmp/report.json" });
    expect(Buffer.byteLength(md)).toBeLessThan(MiB);
    expect(md).toMatch(/more/);
  });
});
