// The shipped workflows as a security reviewer reads them: which events reach the job that holds the write
// role, and whether everything they run from elsewhere (actions, service images) is pinned by content.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPOSITORY } from "../release/repository.js";

const dir = join(import.meta.dirname, "..", "..", ".github", "workflows");
const workflows = readdirSync(dir)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => [f, parse(readFileSync(join(dir, f), "utf8"))] as const);

interface Job {
  if?: string;
  services?: Record<string, { image: string }>;
  steps?: { uses?: string; if?: string; with?: Record<string, string> }[];
  permissions?: Record<string, string>;
}

/** The events an `if:` admits, when it is written as an allow-list: `contains(fromJSON('[...]'), github.event_name)`. */
function allowedEvents(condition: string | undefined): string[] | null {
  const m = /^contains\(fromJSON\('(\[[^']*\])'\), github\.event_name\)$/.exec(condition?.trim() ?? "");
  return m ? (JSON.parse(m[1]!) as string[]) : null;
}

describe("the reusable workflow", () => {
  const mirror = workflows.find(([f]) => f === "mirror.yml")![1] as { jobs: Record<string, Job> };

  it("runs the sync (write role, contents: write) only for an allow-list of events, never a pull request", () => {
    const sync = mirror.jobs.sync!;
    expect(sync.permissions?.contents).toBe("write");
    const events = allowedEvents(sync.if);
    expect(events, `sync.if is not an allow-list: ${sync.if}`).not.toBeNull();
    expect(new Set(events)).toEqual(new Set(["push", "schedule", "workflow_dispatch"]));
  });

  it("runs the plan only on pull requests, with a read-only token", () => {
    const plan = mirror.jobs.plan!;
    expect(plan.if).toBe("github.event_name == 'pull_request'");
    expect(plan.permissions?.contents).toBe("read");
  });

  it("comments on a fork's pull request from workflow_run: validation only, no AWS role, no credentials kept", () => {
    const comment = mirror.jobs.comment!;
    expect(comment.if?.replace(/\s+/g, " ").trim()).toBe(
      "github.event_name == 'workflow_run' && github.event.workflow_run.event == 'pull_request' && github.event.workflow_run.head_repository.full_name != github.repository",
    );
    expect(comment.permissions).toEqual({ contents: "read", "pull-requests": "write" });
    const steps = comment.steps ?? [];
    expect(steps.some((s) => s.uses?.startsWith("aws-actions/"))).toBe(false);
    const checkout = steps.find((s) => s.uses?.startsWith("actions/checkout@"))!;
    expect(checkout.with).toMatchObject({
      ref: `\${{ github.event.workflow_run.head_sha }}`,
      "persist-credentials": false,
    });
    const action = steps.find((s) => s.uses?.startsWith(`${REPOSITORY}@`))!;
    expect(action.with?.mode).toBe("validate");
  });

  it("uploads the plan JSON and the sync report as artifacts, also when the step failed", () => {
    for (const [job, output] of [
      ["plan", "steps.plan.outputs.plan-file"],
      ["sync", "steps.sync.outputs.report-path"],
    ] as const) {
      const upload = mirror.jobs[job]!.steps!.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
      expect(upload.if).toBe(`always() && ${output} != ''`);
      expect(upload.with?.path).toBe(`\${{ ${output} }}`);
    }
  });
});

describe.each(workflows)("%s", (_file, workflow) => {
  const jobs = Object.entries((workflow as { jobs: Record<string, Job> }).jobs);

  it("pins every third-party action by full commit SHA", () => {
    for (const [, job] of jobs)
      for (const step of job.steps ?? []) {
        const uses = step.uses;
        if (!uses || uses.startsWith("./") || uses.startsWith(`${REPOSITORY}@`)) continue;
        expect(uses, uses).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      }
  });

  it("pins every service image by digest", () => {
    for (const [, job] of jobs)
      for (const [name, service] of Object.entries(job.services ?? {}))
        expect(service.image, name).toMatch(/@sha256:[0-9a-f]{64}$/);
  });
});
