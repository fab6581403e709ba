// Hostile text in what people read: a list value echoed in a problem, a tool's error in a summary table.
// Problems show the value quoted with its control characters escaped (the author sees exactly what they
// wrote, on one line); a table row stays one row whatever a value holds.
import { describe, expect, it } from "vitest";
import { type ExecutionReport, STEP_OUTCOMES, type StepReport } from "../../src/execute/execute.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { Plan } from "../../src/plan/model.js";
import { planMarkdown } from "../../src/report/plan-markdown.js";
import { formatProblems } from "../../src/report/problems.js";
import { syncSummaryMarkdown } from "../../src/report/sync-summary.js";
import { imageEntry } from "../harness/steps.js";
import { workflowCommands } from "./workflow-commands.js";

const BREAKS = /\r\n|\r|\n|\u2028|\u2029/;

describe("problems echo list values escaped", () => {
  it("a quoted value, key or tag with line breaks is shown on its line, the breaks visible", () => {
    const text = [
      "upstreams:",
      '  "quay.io\\r::add-mask::k": {}',
      "images:",
      '  - "redis:7.0\\n::warning::v"',
      '  - source: "nginx\\u2028::error::s"',
      '    tags: ["1.0"]',
      "  - source: alpine",
      '    tags: ["1.0\\r\\n::stop-commands::t"]',
      "",
    ].join("\n");
    const { list, problems } = parseMirrorList(text, "mirrors.yaml");
    expect(list).toBeNull();
    const shown = formatProblems(problems);
    expect(shown).toContain('"redis:7.0\\n::warning::v"');
    expect(shown).toContain('"quay.io\\r::add-mask::k"');
    expect(shown).toContain("\\u2028");
    expect(shown).toContain('"1.0\\r\\n::stop-commands::t"');
    for (const p of problems) expect(p.message.split(BREAKS)).toHaveLength(1);
    expect(workflowCommands(shown)).toEqual([]);
  });
});

const HOSTILE = "a|b\rc\nd\u2028e\r\n| injected | row |";

describe("summary tables", () => {
  it("the plan table keeps one row per step", () => {
    const plan: Plan = {
      registry: "r",
      resync: "missing",
      steps: [
        {
          action: "update",
          kind: "image",
          source: `docker.io/x:${HOSTILE}`,
          repository: "mirrors/x",
          tag: "1",
          digest: `sha256:${"a".repeat(64)}`,
          targetDigest: null,
          platforms: [],
          reason: HOSTILE,
          location: { file: "mirrors.yaml", line: 2, column: 5 },
          entry: imageEntry(),
        },
      ],
      summary: {
        "create-repository": 0,
        "reconcile-settings": 0,
        copy: 0,
        update: 1,
        restore: 0,
        blocked: 0,
        present: 0,
        delete: 0,
      },
      warnings: [{ message: HOSTILE, hint: HOSTILE }],
    };
    const md = planMarkdown(plan);
    const rows = md.split(BREAKS).filter((l) => l.startsWith("| `mirrors/x:1` |"));
    expect(rows).toHaveLength(1);
    expect(md.split(BREAKS).filter((l) => l.includes("injected"))).toHaveLength(2);
  });

  it("the sync table keeps one row per step, a tool's multi-line error included", () => {
    const step: StepReport = {
      action: "copy",
      kind: "image",
      source: "docker.io/x:1",
      repository: "mirrors/x",
      tag: "1",
      outcome: "failed",
      digest: null,
      expectedDigest: null,
      platforms: [],
      attempts: 1,
      durationMs: 1,
      error: HOSTILE,
      reason: "missing",
      location: null,
    };
    const counts = Object.fromEntries(STEP_OUTCOMES.map((o) => [o, 0])) as ExecutionReport["counts"];
    counts.failed = 1;
    const md = syncSummaryMarkdown({
      registry: "r",
      startedAt: "",
      durationMs: 1,
      counts,
      steps: [step],
      failures: [step],
      deletesSkipped: 0,
      ok: false,
    });
    const lines = md.split(BREAKS);
    expect(lines.filter((l) => l.startsWith("| failed |"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("injected"))).toHaveLength(1);
    // Five cells: six unescaped pipes.
    expect(lines.find((l) => l.startsWith("| failed |"))!.match(/(?<!\\)\|/g)).toHaveLength(6);
  });
});
