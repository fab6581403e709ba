// The deletion guard, as the action runs it from source (`run`, src/main.ts) against the local ECR: a plan
// that prunes more tags than target.maxDeletions fails on the list's prune line, and a sync fails before
// anything is deleted (or copied); the max-deletions input raises the limit for one run.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, type ECRClient, ListImagesCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/main.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { inputsOf, recordingDeps } from "./recording-core.js";

let backing: RunningRegistry;
let ecr: LocalEcr;
let client: ECRClient;
let root: string;
let workspace: string;
let saved: NodeJS.ProcessEnv;

// Line 3 holds `prune: true`, where the error points.
const LIST = (limit: string) => `target:
  type: ecr
  prune: true
${limit}images:
  - redis:7.0
  - alpine:3.20
`;

beforeAll(async () => {
  backing = await startRegistry();
  ecr = await startEcr({ registry: backing });
  client = ecr.client();
  await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/library/redis" }));
  const auth = { user: "AWS", password: ecr.password };
  // The list keeps 7.0; the three old tags are what prune would delete.
  for (const tag of ["7.0", "6.0", "6.2", "5.0"])
    await pushImage(`http://${ecr.registryHost}`, "mirrors/library/redis", tag, {
      seed: `redis-${tag}`,
      auth,
    });
  // The AWS SDK in this process reads its endpoint and credentials from process.env, as on a runner.
  saved = { ...process.env };
  Object.assign(process.env, ecr.env());
  root = await mkdtemp(join(tmpdir(), "deletion-guard-"));
  workspace = await mkdtemp(join(root, "ws-"));
});

afterAll(async () => {
  if (saved) process.env = saved;
  await ecr?.stop();
  await backing?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function tagsInTarget(): Promise<string[]> {
  const listed = await client.send(new ListImagesCommand({ repositoryName: "mirrors/library/redis" }));
  return (listed.imageIds ?? []).map((i) => i.imageTag ?? "").sort();
}

async function runWith(list: string, inputs: Record<string, string>) {
  await writeFile(join(workspace, "mirrors.yaml"), list);
  const { deps, recorded } = recordingDeps(workspace, { ...ecr.env(), RUNNER_TEMP: root });
  await run(inputsOf({ "mirror-file": "mirrors.yaml", "render-dir": "", ...inputs }), deps);
  return recorded;
}

describe("the deletion guard", () => {
  it("fails a plan that deletes more than target.maxDeletions, on the prune line, with a hint", async () => {
    const recorded = await runWith(LIST("  maxDeletions: 2\n"), { mode: "plan" });
    expect(recorded.outputs.delete).toBe("3");
    expect(recorded.failed).toHaveLength(1);
    expect(recorded.failed[0]).toMatch(
      /^mirrors\.yaml:4:17: the plan deletes 3 tags, more than the limit of 2 \(target\.maxDeletions\); nothing was deleted\n {2}hint: if these deletions are intended, raise target\.maxDeletions in the mirror list to 3/,
    );
    const error = recorded.annotations.find((a) => a.severity === "error")!;
    expect(error).toMatchObject({ file: "mirrors.yaml", startLine: 4, startColumn: 17 });
    expect(recorded.summary).toContain("> [!CAUTION]\n> This plan **deletes 3 tags** from the target");
    expect(recorded.summary).toContain("more than the limit of 2 (target.maxDeletions): the plan fails");
    expect(recorded.summary).toContain("### ecr-mirror plan for");
    expect(recorded.summary).toContain("❌");
  });

  it("has a default of 20, located on prune when the list sets no limit", async () => {
    const recorded = await runWith(LIST(""), { mode: "plan", "max-deletions": "1" });
    expect(recorded.failed[0]).toMatch(
      /^mirrors\.yaml:3:10: the plan deletes 3 tags, more than the limit of 1 \(input "max-deletions"\)/,
    );
    const within = await runWith(LIST(""), { mode: "plan" });
    expect(within.failed).toEqual([]);
    expect(within.summary).toContain("The limit is 20 per run (target.maxDeletions).");
  });

  it("fails a sync before anything is deleted or copied", async () => {
    ecr.resetCounts();
    const recorded = await runWith(LIST("  maxDeletions: 2\n"), { mode: "sync" });
    expect(recorded.failed[0]).toContain("the plan deletes 3 tags, more than the limit of 2");
    expect(await tagsInTarget()).toEqual(["5.0", "6.0", "6.2", "7.0"]);
    expect(ecr.calls.BatchDeleteImage ?? 0).toBe(0);
    expect(ecr.calls.CreateRepository ?? 0).toBe(0);
    expect(ecr.gateRequests().filter((r) => !["GET", "HEAD"].includes(r.method))).toEqual([]);
    expect(recorded.summary).toContain("more than the limit of 2 (target.maxDeletions): the plan fails");
  });

  it("lets the max-deletions input raise the limit for one run: the plan passes and says so", async () => {
    const recorded = await runWith(LIST("  maxDeletions: 2\n"), { mode: "plan", "max-deletions": "3" });
    expect(recorded.failed).toEqual([]);
    expect(recorded.summary).toContain('The limit is 3 per run (input "max-deletions").');
  });
});
