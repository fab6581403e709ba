// Which region the ECR target is asked in: the CLI's --region overrides the list, the list's
// target.region comes next, and the action's aws-region input only fills in when the list sets none
// (action.yml, README, schema say so; the reusable workflow always passes the input). The local ECR
// refuses a request signed for another region, as a regional ECR endpoint does.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import { run } from "../../src/main.js";
import { connect } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { inputsOf, recordingDeps } from "../entries/recording-core.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

let backing: RunningRegistry;
let ecr: LocalEcr;
let restoreEnv: (() => void) | undefined;

beforeAll(async () => {
  backing = await startRegistry();
  ecr = await startEcr({ registry: backing, region: "eu-west-1" });
  restoreEnv = setEnv({ ...ecr.env(), AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined });
}, 30_000);

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await backing?.stop();
});

function listWith(region: string | null) {
  const yaml = `version: 1
target:
  type: ecr
${region ? `  region: ${region}\n` : ""}images:
  - docker.io/library/redis:7.0
`;
  const { list } = parseMirrorList(yaml, "mirrors.yaml");
  if (!list) throw new Error("invalid list");
  return list;
}

async function observedRegion(
  region: string | null,
  settings: { region: string | null; defaultRegion?: string | null },
) {
  const mask = new SecretMask(() => {});
  const { target } = await connect(listWith(region), {
    ...settings,
    registryUrl: null,
    registryAuth: null,
    upstream: {},
    mask,
  });
  await target.observe(new Set(["mirrors/library/redis"]), new Map(), []);
  return target.region;
}

describe("the target's region", () => {
  it("is the list's when the action's aws-region input names another", async () => {
    expect(await observedRegion("eu-west-1", { region: null, defaultRegion: "us-east-1" })).toBe("eu-west-1");
  });

  it("is the action's aws-region input when the list sets none", async () => {
    expect(await observedRegion(null, { region: null, defaultRegion: "eu-west-1" })).toBe("eu-west-1");
  });

  it("is the CLI's --region over the list's (a request signed for it meets the regional endpoint)", async () => {
    await expect(observedRegion("eu-west-1", { region: "us-east-1" })).rejects.toThrow(
      /scoped to a valid region/,
    );
  });
});

describe("the action's aws-region input", () => {
  it("does not override the list's target.region: the plan asks the list's region", async () => {
    const workspace = await mkdtemp(join(tmpdir(), "ecr-mirror-region-"));
    try {
      await mkdir(join(workspace, "config"));
      await writeFile(
        join(workspace, "config", "mirrors.yaml"),
        "version: 1\ntarget:\n  type: ecr\n  region: eu-west-1\nimages:\n  - docker.io/library/redis:7.0\n",
      );
      const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: workspace });
      await run(
        inputsOf({ "mirror-file": "config/mirrors.yaml", mode: "plan", "aws-region": "us-east-1" }),
        deps,
      );
      expect(recorded.failed).toEqual([]);
      expect(recorded.outputs).toMatchObject({ copy: "1" });
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
  });
});
