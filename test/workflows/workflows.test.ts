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
  needs?: string | string[];
  outputs?: Record<string, string>;
  strategy?: { "fail-fast"?: boolean; "max-parallel"?: string | number; matrix?: unknown };
  services?: Record<string, { image: string }>;
  steps?: { uses?: string; if?: string; with?: Record<string, string> }[];
  permissions?: Record<string, string>;
}

/**
 * The events an `if:` admits, when it is written as an allow-list: `contains(fromJSON('[...]'), github.event_name)`,
 * optionally narrowed by the sharding input (`&& inputs.shards == '1'`), which admits no other event.
 */
function allowedEvents(condition: string | undefined): string[] | null {
  const m = /^contains\(fromJSON\('(\[[^']*\])'\), github\.event_name\)( && inputs\.shards [!=]= '1')?$/.exec(
    condition?.trim() ?? "",
  );
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

  it("shards only when asked: shards 1 (the default) is the one sync job, anything else the sharded graph", () => {
    const inputs = (
      mirror as unknown as { on: { workflow_call: { inputs: Record<string, { default?: unknown }> } } }
    ).on.workflow_call.inputs;
    expect(inputs.shards?.default).toBe("1");
    expect(mirror.jobs.sync!.if).toMatch(/&& inputs\.shards == '1'$/);
    for (const job of ["shard-plan"]) expect(mirror.jobs[job]!.if).toMatch(/&& inputs\.shards != '1'$/);
    expect(allowedEvents(mirror.jobs["shard-plan"]!.if)).toEqual(["push", "schedule", "workflow_dispatch"]);
  });

  it("runs the sharded sync as plan -> seed -> matrix of shards -> merge, and merges whatever the shards did", () => {
    const {
      "shard-plan": plan,
      "shard-seed": seed,
      "shard-sync": shards,
      "shard-merge": merge,
    } = mirror.jobs;
    // The plan job hands the matrix on as an output and the shard plans as an artifact.
    expect(plan!.outputs?.matrix).toBe(`\${{ steps.plan.outputs.matrix }}`);
    const planStep = plan!.steps!.find((s) => s.uses?.startsWith("ecr-mirror/"))!;
    expect(planStep.with).toMatchObject({ mode: "plan", shards: `\${{ inputs.shards }}` });
    expect(plan!.steps!.some((s) => s.uses?.startsWith("actions/upload-artifact@"))).toBe(true);
    // The seed runs after the plan, before the shards, alone.
    expect(seed!.needs).toBe("shard-plan");
    expect(seed!.steps!.find((s) => s.uses?.startsWith("ecr-mirror/"))!.with).toMatchObject({
      mode: "sync",
      shard: 0,
    });
    // The shards: the plan's matrix, at most max-parallel at once, one failure stops no other.
    expect(shards!.needs).toEqual(["shard-plan", "shard-seed"]);
    expect(shards!.strategy).toEqual({
      "fail-fast": false,
      "max-parallel": `\${{ inputs.max-parallel }}`,
      matrix: `\${{ fromJSON(needs.shard-plan.outputs.matrix) }}`,
    });
    expect(shards!.steps!.find((s) => s.uses?.startsWith("ecr-mirror/"))!.with).toMatchObject({
      mode: "sync",
      shard: `\${{ matrix.shard }}`,
    });
    expect(shards!.if).toContain("!cancelled()");
    // The merge: after every shard, also when one failed (not when the run was cancelled), the only writer of git.
    expect(merge!.needs).toEqual(["shard-plan", "shard-seed", "shard-sync"]);
    expect(merge!.if).toContain("!cancelled()");
    expect(merge!.if).not.toContain("success()");
    expect(merge!.steps!.find((s) => s.uses?.startsWith("ecr-mirror/"))!.with).toMatchObject({
      mode: "merge",
      "commit-back": `\${{ inputs.commit-back }}`,
    });
    const download = merge!.steps!.find((s) => s.uses?.startsWith("actions/download-artifact@"))!;
    expect(download.with).toMatchObject({ pattern: "ecr-mirror-report-shard-*", "merge-multiple": true });
    for (const job of [plan, seed, shards]) expect(job!.permissions?.contents).toBe("read");
    expect(merge!.permissions?.contents).toBe("write");
    // One set of outputs: the sync job's, or the merge's.
    const outputs = (
      mirror as unknown as { on: { workflow_call: { outputs: Record<string, { value: string }> } } }
    ).on.workflow_call.outputs;
    expect(outputs.copied!.value).toBe(`\${{ jobs.sync.outputs.copied || jobs.shard-merge.outputs.copied }}`);
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
