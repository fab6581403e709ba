// The order, concurrency, failure isolation and pruning rules of executePlan, with in-memory adapters that
// record what they were asked to do (the registry-backed behaviour is in sync-harness.test.ts).
import { describe, expect, it } from "vitest";
import { type ExecuteDeps, executePlan } from "../../src/execute/execute.js";
import type { RepositorySettings } from "../../src/list/model.js";
import { DEFAULT_REPOSITORY_SETTINGS } from "../../src/list/parse.js";
import { type Plan, type Step, type StepAction, stepFields } from "../../src/plan/model.js";
import { progressLine, textProgress } from "../../src/report/progress.js";
import { ToolError } from "../../src/tools/runner.js";
import { planStep } from "../harness/steps.js";

const SETTINGS: RepositorySettings = DEFAULT_REPOSITORY_SETTINGS;

function step(
  action: StepAction,
  repository: string,
  tag: string | null,
  source: string | null = null,
): Step {
  return planStep(action, repository, tag, source ? { source, digest: null } : {});
}

function plan(steps: Step[]): Plan {
  const summary = {
    "create-repository": 0,
    "reconcile-settings": 0,
    copy: 0,
    update: 0,
    restore: 0,
    blocked: 0,
    present: 0,
    delete: 0,
  };
  for (const s of steps) summary[s.action] += 1;
  return { registry: "r.example", resync: "missing", steps, summary, warnings: [] };
}

/** Adapters that record calls; `fail` decides per target which copies fail and how. */
function recorder(fail: (target: string, attempt: number) => Error | null = () => null) {
  const events: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const attempts = new Map<string, number>();
  const deps: ExecuteDeps = {
    async createRepository(name) {
      events.push(`create ${name}`);
      return name.endsWith("old") ? "exists" : "created";
    },
    async reconcileSettings(s) {
      events.push(`reconcile ${s.repository}`);
    },
    async copy(s) {
      const target = `${s.repository}:${s.tag}`;
      const attempt = (attempts.get(target) ?? 0) + 1;
      attempts.set(target, attempt);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      const error = fail(target, attempt);
      if (error) throw error;
      events.push(`copy ${target}`);
      return { digest: `sha256:${"a".repeat(64)}` };
    },
    async verify() {
      return `sha256:${"a".repeat(64)}`;
    },
    async restore(s) {
      const target = `${s.repository}:${s.tag}`;
      const error = fail(target, 1);
      if (error) throw error;
      events.push(`restore ${target}`);
      return { digest: s.targetDigest, status: "ACTIVATING" };
    },
    async verifyRestore(s) {
      events.push(`verify-restore ${s.repository}:${s.tag}`);
      return `sha256:${"b".repeat(64)}`;
    },
    async deleteTags(repository, tags) {
      events.push(`delete ${repository} ${tags.join(",")}`);
      return [];
    },
  };
  return { deps, events, maxInFlight: () => maxInFlight };
}

const quiet = { repositorySettings: SETTINGS, retry: { sleep: async () => {} } };

describe("executePlan", () => {
  it("creates every repository before the first copy, prunes last, and keeps to the concurrency bound", async () => {
    const steps = [
      step("copy", "mirrors/a", "1", "docker.io/library/a:1"),
      step("delete", "mirrors/a", "0"),
      step("create-repository", "mirrors/a", null),
      ...Array.from({ length: 9 }, (_, i) => step("copy", "mirrors/b", `${i}`, `docker.io/library/b:${i}`)),
      step("create-repository", "mirrors/b", null),
      step("present", "mirrors/b", "old", "docker.io/library/b:old"),
    ];
    const { deps, events, maxInFlight } = recorder();
    const lines: string[] = [];
    const report = await executePlan(plan(steps), deps, {
      ...quiet,
      concurrency: 3,
      progress: textProgress((l) => lines.push(l)),
    });
    const firstCopy = events.findIndex((e) => e.startsWith("copy"));
    expect(events.slice(0, firstCopy).sort()).toEqual(["create mirrors/a", "create mirrors/b"]);
    expect(events.at(-1)).toBe("delete mirrors/a 0");
    expect(maxInFlight()).toBe(3);
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ created: 2, copied: 10, present: 1, deleted: 1, failed: 0 });
    // One numbered line per step that does something: 2 creations + 10 copies + 1 deletion.
    const numbered = lines.filter((l) => /^\[\d+\/13\] /.test(l));
    expect(numbered).toHaveLength(13);
    expect(numbered).toContainEqual(
      expect.stringMatching(/^\[\d+\/13\] copy docker\.io\/library\/a:1 -> mirrors\/a:1 \(\d+\.\d s\)$/),
    );
    expect(lines.at(-1)).toMatch(
      /^Sync: 10 copied, 0 updated, 1 present, 0 failed, 2 repositories created, 1 deleted in \d+\.\d s$/,
    );
  });

  it("restores archived tags after the copies, reads each back, and a failed restore stops the pruning", async () => {
    const steps = [
      step("restore", "mirrors/a", "1", "docker.io/library/a:1"),
      step("copy", "mirrors/a", "2", "docker.io/library/a:2"),
      step("delete", "mirrors/a", "0"),
    ];
    const ok = recorder();
    const lines: string[] = [];
    const report = await executePlan(plan(steps), ok.deps, {
      ...quiet,
      progress: textProgress((l) => lines.push(l)),
    });
    expect(ok.events).toEqual([
      "copy mirrors/a:2",
      "restore mirrors/a:1",
      "verify-restore mirrors/a:1",
      "delete mirrors/a 0",
    ]);
    expect(report.counts).toMatchObject({ restored: 1, copied: 1, deleted: 1, failed: 0 });
    expect(report.steps[0]).toMatchObject({ outcome: "restored", digest: `sha256:${"b".repeat(64)}` });
    expect(lines).toContainEqual(
      expect.stringMatching(/^\[2\/3\] restore docker\.io\/library\/a:1 -> mirrors\/a:1 \(\d+\.\d s\)$/),
    );
    expect(lines.at(-1)).toMatch(
      /^Sync: 1 copied, 0 updated, 0 present, 0 failed, 1 restored, 1 deleted in /,
    );

    const denied = Object.assign(new Error("not authorized to perform: ecr:UpdateImageStorageClass"), {
      name: "AccessDeniedException",
    });
    const failing = recorder((target) => (target === "mirrors/a:1" ? denied : null));
    const failed = await executePlan(plan(steps), failing.deps, { ...quiet, progress: () => {} });
    expect(failed.counts).toMatchObject({ restored: 0, copied: 1, failed: 1, skipped: 1 });
    expect(failed.failures[0]?.error).toContain("ecr:UpdateImageStorageClass");
    expect(failing.events.some((e) => e.startsWith("delete"))).toBe(false);
  });

  it("one failing copy fails only itself, is listed with its line, and stops the pruning", async () => {
    const steps = [
      step("copy", "mirrors/a", "1", "docker.io/library/a:1"),
      step("copy", "mirrors/a", "missing", "docker.io/library/a:missing"),
      step("update", "mirrors/a", "2", "docker.io/library/a:2"),
      step("delete", "mirrors/a", "0"),
    ];
    const { deps, events } = recorder((target) =>
      target === "mirrors/a:missing"
        ? new ToolError(
            "crane",
            "copy",
            "crane copy",
            1,
            "MANIFEST_UNKNOWN: manifest unknown",
            "check the tag",
          )
        : null,
    );
    const lines: string[] = [];
    const report = await executePlan(plan(steps), deps, {
      ...quiet,
      progress: textProgress((l) => lines.push(l)),
    });
    expect(report.ok).toBe(false);
    expect(report.counts).toMatchObject({ copied: 1, updated: 1, failed: 1, skipped: 1, deleted: 0 });
    expect(report.failures.map((f) => f.tag)).toEqual(["missing"]);
    expect(report.failures[0]!.attempts).toBe(1); // a refusal is not retried
    expect(events.some((e) => e.startsWith("delete"))).toBe(false);
    expect(report.deletesSkipped).toBe(1);
    expect(lines).toContainEqual(
      expect.stringMatching(/FAILED: crane copy failed \(exit 1\): not found: MANIFEST_UNKNOWN/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}failed: mirrors\.yaml:7: copy docker\.io\/library\/a:missing -> mirrors\/a:missing/,
      ),
    );
  });

  it("retries helm's 503 with backoff and reports the attempts (helm's HTTP getter does not retry)", async () => {
    const slept: number[] = [];
    const { deps } = recorder((_target, attempt) =>
      attempt < 3
        ? new ToolError(
            "helm",
            "pull",
            "helm pull",
            1,
            "unexpected status code 503 Service Unavailable",
            null,
          )
        : null,
    );
    const lines: string[] = [];
    const report = await executePlan(plan([step("copy", "mirrors/a", "1", "docker.io/library/a:1")]), deps, {
      repositorySettings: SETTINGS,
      retries: 3,
      retry: { sleep: async (ms) => void slept.push(ms), random: () => 0.5, baseDelayMs: 100 },
      progress: textProgress((l) => lines.push(l)),
    });
    expect(report.counts.copied).toBe(1);
    expect(report.steps[0]!.attempts).toBe(3);
    expect(slept).toEqual([50, 100]);
    expect(lines.filter((l) => l.includes("retrying"))).toHaveLength(2);
    expect(lines).toContainEqual(expect.stringMatching(/\[1\/1\] copy .* after 3 attempts$/));
  });

  it("does not retry a crane failure crane already retried itself (503): one layer of retries", async () => {
    const { deps } = recorder(
      () =>
        new ToolError(
          "crane",
          "copy",
          "crane copy",
          1,
          "unexpected status code 503 Service Unavailable",
          null,
        ),
    );
    const report = await executePlan(plan([step("copy", "mirrors/a", "1", "docker.io/library/a:1")]), deps, {
      repositorySettings: SETTINGS,
      retries: 3,
      retry: { sleep: async () => {} },
      progress: () => {},
    });
    expect(report.steps[0]).toMatchObject({ outcome: "failed", attempts: 1 });
    expect(report.steps[0]!.error).toMatch(/503/);
  });

  it("retries a crane copy stopped for making no progress once, and only once", async () => {
    const stalled = () =>
      Object.assign(new ToolError("crane", "copy", "crane copy", null, "no progress for 120 s", null), {
        failure: "stalled",
      });
    const once = recorder((_t, attempt) => (attempt === 1 ? stalled() : null));
    const quietRun = {
      repositorySettings: SETTINGS,
      retries: 3,
      retry: { sleep: async () => {} },
      progress: () => {},
    };
    const ok = await executePlan(
      plan([step("copy", "mirrors/a", "1", "docker.io/library/a:1")]),
      once.deps,
      quietRun,
    );
    expect(ok.steps[0]).toMatchObject({ outcome: "copied", attempts: 2 });

    const always = recorder(() => stalled());
    const failed = await executePlan(
      plan([step("copy", "mirrors/a", "1", "docker.io/library/a:1")]),
      always.deps,
      quietRun,
    );
    expect(failed.steps[0]).toMatchObject({ outcome: "failed", attempts: 2 });
    expect(failed.steps[0]!.error).toMatch(/no progress for 120 s \(gave up after 2 attempts in \d+\.\d s\)/);
  });

  it("starts no new attempt after the step's time budget", async () => {
    let clock = 0;
    const { deps } = recorder(() => {
      clock += 40_000; // each attempt takes 40 s
      return new ToolError(
        "helm",
        "pull",
        "helm pull",
        1,
        "unexpected status code 503 Service Unavailable",
        null,
      );
    });
    const report = await executePlan(plan([step("copy", "mirrors/a", "1", "docker.io/library/a:1")]), deps, {
      repositorySettings: SETTINGS,
      retries: 10,
      budgetMs: 100_000,
      now: () => clock,
      retry: {
        sleep: async (ms) => {
          clock += ms;
        },
        random: () => 0,
        baseDelayMs: 1,
      },
      progress: () => {},
    });
    // Attempts end at 40 s, 80 s and 120 s: the third started at 80 s, inside the budget; none starts after 100 s.
    expect(report.steps[0]).toMatchObject({ outcome: "failed", attempts: 3 });
    expect(report.steps[0]!.error).toMatch(/gave up after 3 attempts in 120\.0 s/);
  });

  it("does not retry an ECR error the SDK already retried (it carries $metadata)", async () => {
    const { deps } = recorder();
    let calls = 0;
    deps.createRepository = async () => {
      calls += 1;
      throw Object.assign(new Error("Rate exceeded"), {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400, attempts: 5 },
      });
    };
    const report = await executePlan(plan([step("create-repository", "mirrors/a", null)]), deps, {
      repositorySettings: SETTINGS,
      retries: 3,
      retry: { sleep: async () => {} },
      progress: () => {},
    });
    expect(calls).toBe(1);
    expect(report.steps[0]).toMatchObject({ outcome: "failed", attempts: 1 });
  });

  it("a failed repository creation fails the copies into it without running them", async () => {
    const { deps, events } = recorder();
    deps.createRepository = async () => {
      throw Object.assign(new Error("User is not authorized to perform: ecr:CreateRepository"), {
        name: "AccessDeniedException",
        $metadata: { httpStatusCode: 400 },
      });
    };
    const report = await executePlan(
      plan([
        step("create-repository", "mirrors/a", null),
        step("copy", "mirrors/a", "1", "docker.io/library/a:1"),
      ]),
      deps,
      { ...quiet, progress: () => {} },
    );
    expect(events).toEqual([]);
    expect(report.steps.map((s) => s.outcome)).toEqual(["failed", "failed"]);
    expect(report.steps[1]!.error).toMatch(
      /repository mirrors\/a could not be created: User is not authorized/,
    );
  });

  it("blocked steps are reported, not failed", async () => {
    const blocked = {
      ...step("blocked", "mirrors/a", "1", "docker.io/library/a:1"),
      reason: "tag moved upstream; IMMUTABLE",
    };
    const lines: string[] = [];
    const report = await executePlan(plan([blocked]), recorder().deps, {
      ...quiet,
      progress: textProgress((l) => lines.push(l)),
    });
    expect(report.ok).toBe(true);
    expect(report.counts.blocked).toBe(1);
    expect(lines[0]).toBe("blocked docker.io/library/a:1 -> mirrors/a:1: tag moved upstream; IMMUTABLE");
  });

  it("formats the progress line exactly", () => {
    const line = progressLine(12, 40, {
      ...stepFields(step("copy", "mirrors/library/redis", "7.0", "docker.io/library/redis:7.0")),
      outcome: "copied",
      digest: null,
      expectedDigest: null,
      attempts: 1,
      durationMs: 3210,
      error: null,
    });
    expect(line).toBe("[12/40] copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0 (3.2 s)");
  });
});
