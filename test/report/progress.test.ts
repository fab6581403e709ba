// The terminal's progress words (report/progress.ts): the start line, the heartbeat and when it beats, and the
// closing line given to the log or left to the caller. Pure formatting, plus the sink on vitest's fake clock.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ExecutionReport, StepReport } from "../../src/execute/execute.js";
import { heartbeatLines, startLine, terminalProgress } from "../../src/report/progress.js";

const copy: StepReport = {
  action: "copy",
  kind: "image",
  source: "docker.io/library/redis:7.0",
  repository: "mirrors/library/redis",
  tag: "7.0",
  outcome: "present",
  digest: null,
  expectedDigest: null,
  platforms: [],
  attempts: 0,
  durationMs: 0,
  error: null,
  reason: "",
  location: null,
};

const done: ExecutionReport = {
  registry: "r",
  startedAt: "",
  durationMs: 25_000,
  counts: { copied: 1, updated: 0, present: 0, failed: 0 } as ExecutionReport["counts"],
  steps: [],
  failures: [],
  deletesSkipped: 0,
  ok: true,
};

describe("the words", () => {
  it("a start line names the copy and its bytes when known", () => {
    expect(startLine(copy, 52_428_800)).toBe(
      "started copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (50.0 MiB)",
    );
    expect(startLine(copy, null)).toBe(
      "started copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0",
    );
  });

  it("a heartbeat line per copy in flight: elapsed time, bytes when known", () => {
    expect(
      heartbeatLines(
        [
          { report: copy, startedMs: 1_000, bytes: 1536 },
          { report: { ...copy, tag: "7.2" }, startedMs: 20_000, bytes: null },
        ],
        26_000,
      ),
    ).toEqual([
      "  still running: copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (25.0 s, 1.5 KiB)",
      "  still running: copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.2 (6.0 s)",
    ]);
  });
});

describe("terminalProgress", () => {
  afterEach(() => vi.useRealTimers());

  it("beats every interval while a copy runs, stops when it ends, and leaves the closing line to the caller", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    let clock = 0;
    const sink = terminalProgress({
      log: (l) => lines.push(l),
      summary: false,
      heartbeatMs: 10_000,
      now: () => clock,
    });
    sink.progress({ kind: "start", report: copy, bytes: null });
    clock = 10_000;
    vi.advanceTimersByTime(10_000);
    clock = 20_000;
    vi.advanceTimersByTime(10_000);
    sink.progress({
      kind: "step",
      counter: 1,
      total: 1,
      report: { ...copy, outcome: "copied", durationMs: 25_000 },
    });
    sink.progress({ kind: "step", counter: 1, total: 1, report: copy });
    vi.advanceTimersByTime(30_000);
    sink.progress({ kind: "done", report: done });
    expect(lines).toEqual([
      "started copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0",
      "  still running: copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (10.0 s)",
      "  still running: copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (20.0 s)",
      "[1/1] copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (25.0 s)",
      "[1/1] copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (0.0 s)",
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("without a heartbeat (not a terminal) prints no start line, and the closing line when asked to", () => {
    const lines: string[] = [];
    const sink = terminalProgress({ log: (l) => lines.push(l), summary: true, heartbeatMs: null });
    sink.progress({ kind: "start", report: copy, bytes: 10 });
    sink.progress({ kind: "done", report: done });
    expect(lines).toEqual(["Sync: 1 copied, 0 updated, 0 present, 0 failed in 25.0 s"]);
  });

  it("starts each phase with its name on a terminal, and says nothing of it otherwise", async () => {
    const lines: string[] = [];
    const on = terminalProgress({ log: (l) => lines.push(l), summary: false, heartbeatMs: 10_000 });
    expect(await on.group("Copy 2 images and charts", async () => 7)).toBe(7);
    const off = terminalProgress({ log: (l) => lines.push(l), summary: false, heartbeatMs: null });
    await off.group("Install tools", async () => 0);
    expect(lines).toEqual(["Copy 2 images and charts:"]);
  });
});
