// The reusable workflow as a caller uses it: every action input they need is an input (or secret) here, with
// the action's own default, and reaches the action; runs-on takes a label list; the schedule resyncs by
// digest; the commit and pull request it made come out; and it calls the action of its own release.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPOSITORY, VERSION } from "../release/repository.js";

const root = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, string | number | boolean>;
}
interface Job {
  "runs-on": string;
  outputs?: Record<string, string>;
  steps: Step[];
}
const workflowText = read(".github/workflows/mirror.yml");
const workflow = parse(workflowText) as {
  on: {
    workflow_call: {
      inputs: Record<string, { type: string; default?: string | number | boolean; required?: boolean }>;
      secrets: Record<string, unknown>;
      outputs: Record<string, { value: string }>;
    };
  };
  jobs: Record<string, Job>;
};
const action = parse(read("action.yml")) as {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, unknown>;
};
const { inputs, secrets, outputs } = workflow.on.workflow_call;
const actionSteps = Object.entries(workflow.jobs).flatMap(([job, j]) =>
  j.steps.filter((s) => s.uses?.startsWith(`${REPOSITORY}@`)).map((s) => ({ job, step: s })),
);
const syncStep = workflow.jobs.sync!.steps.find((s) => s.id === "sync")!;

/** Action inputs the reusable workflow does not take, each for a reason its header comment gives. */
const NOT_EXPOSED = [
  "mode",
  "registry-url",
  "registry-username",
  "registry-password",
  "github-token",
  "report-path",
  "commit-on-pull-request",
  "pods-file",
  "audit-target",
  "shard-plan",
  "shard",
  "shard-reports",
];
/**
 * Workflow inputs whose default differs from the action's, for a reason: `shards` 1 is one sync job (the action's
 * empty, no sharding), `max-parallel` 4 bounds the matrix (the action's empty: all shards at once).
 */
const OWN_DEFAULTS: Record<string, string> = { shards: "1", "max-parallel": "4" };
/** Action inputs the workflow takes as secrets. */
const AS_SECRETS = ["docker-hub-username", "docker-hub-token", "registry-credentials"];

describe("the reusable workflow's inputs", () => {
  it("exposes every action input a caller needs; the header comment names the few it does not", () => {
    const missing = Object.keys(action.inputs).filter(
      (name) => !(name in inputs) && !AS_SECRETS.includes(name) && !NOT_EXPOSED.includes(name),
    );
    expect(missing).toEqual([]);
    for (const name of AS_SECRETS) expect(secrets, name).toHaveProperty(name);
    const header = workflowText.split("\nname:")[0]!;
    for (const name of [
      "mode",
      "registry-url",
      "github-token",
      "report-path",
      "commit-on-pull-request",
      "shard-plan",
      "shard-reports",
    ])
      expect(header, name).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it("gives each the action's own default (resync aside: empty means digest on the schedule)", () => {
    for (const [name, input] of Object.entries(inputs)) {
      if (!(name in action.inputs) || name === "resync") continue;
      expect(String(input.default ?? ""), name).toBe(
        OWN_DEFAULTS[name] ?? action.inputs[name]!.default ?? "",
      );
    }
    expect(inputs.resync!.default).toBe("");
  });

  it("passes each to the action under its own name, in every job that calls it", () => {
    for (const { job, step } of actionSteps)
      for (const [name, value] of Object.entries(step.with ?? {})) {
        // The fork's comment job always comments: that is what it is for; the sharded plan job never does (it
        // runs on push, with no pull request).
        const fixed = (job === "comment" || job === "shard-plan") && name === "comment";
        if (name in inputs && name !== "resync" && !fixed)
          expect(value, `${job}: ${name}`).toBe(`\${{ inputs.${name} }}`);
        if (AS_SECRETS.includes(name)) expect(value, `${job}: ${name}`).toBe(`\${{ secrets.${name} }}`);
        expect(Object.keys(action.inputs), `${job}: ${name} is not an action input`).toContain(name);
      }
    const passed = Object.keys(syncStep.with ?? {});
    // comment is for pull requests; shards and max-parallel go to the sharded plan job.
    const forSync = Object.keys(inputs).filter(
      (n) => n in action.inputs && !["comment", "shards", "max-parallel"].includes(n),
    );
    expect(forSync.filter((n) => !passed.includes(n))).toEqual([]);
  });

  it("resyncs by digest on the schedule unless the caller says otherwise, in the plan and the sync", () => {
    for (const { job, step } of actionSteps.filter(({ job }) => job !== "comment"))
      expect(step.with?.resync, job).toBe(
        `\${{ inputs.resync || (github.event_name == 'schedule' && 'digest' || 'missing') }}`,
      );
  });

  it("takes runs-on as a JSON label list (or one label), in every job", () => {
    expect(JSON.parse(String(inputs["runs-on"]!.default))).toEqual(["ubuntu-latest"]);
    for (const [name, job] of Object.entries(workflow.jobs))
      expect(job["runs-on"], name).toBe(
        `\${{ (startsWith(inputs.runs-on, '[') || startsWith(inputs.runs-on, '{')) && fromJSON(inputs.runs-on) || inputs.runs-on }}`,
      );
  });
});

describe("the reusable workflow's outputs", () => {
  it("give the commit and the pull request commit-back made, from the action's own outputs", () => {
    for (const name of ["commit-sha", "pull-request-url", "commit-back", "copied", "failed"]) {
      // From the one sync job, or from the sharded sync's merge job: only one of them runs.
      expect(outputs[name]?.value, name).toBe(
        `\${{ jobs.sync.outputs.${name} || jobs.shard-merge.outputs.${name} }}`,
      );
      expect(workflow.jobs.sync!.outputs?.[name], name).toBe(`\${{ steps.sync.outputs.${name} }}`);
      expect(workflow.jobs["shard-merge"]!.outputs?.[name], name).toBe(`\${{ steps.merge.outputs.${name} }}`);
      expect(action.outputs, name).toHaveProperty(name);
    }
  });
});

it("calls the action at the release package.json names (scripts/release-check.mjs holds a release to it)", () => {
  expect(actionSteps.length).toBeGreaterThanOrEqual(3);
  for (const { job, step } of actionSteps) expect(step.uses, job).toBe(`${REPOSITORY}@v${VERSION}`);
});
