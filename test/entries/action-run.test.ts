// The action from source: `run(inputs, deps)` (src/main.ts) with a recording @actions/core facade. What a user
// sees on the runner (annotations on the list's lines, outputs, the job summary, the step's status) as values.
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/main.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { inputsOf, recordingDeps } from "./recording-core.js";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "action-run-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function workspaceWith(list: string): Promise<string> {
  const workspace = await mkdtemp(join(root, "ws-"));
  await mkdir(join(workspace, "config"));
  await writeFile(join(workspace, "config", "mirrors.yaml"), list);
  return workspace;
}

describe("run, mode validate", () => {
  it("annotates each problem on its line, sets no output and fails the step with the count", async () => {
    const workspace = await workspaceWith("images:\n  - redis:7.0\n  - Redis:7.0\n  - nginx\n");
    const { deps, recorded } = recordingDeps(workspace);
    await run(inputsOf({ "mirror-file": "config/mirrors.yaml", mode: "validate" }), deps);
    expect(
      recorded.annotations.map(({ severity, file, startLine, startColumn }) => ({
        severity,
        file,
        startLine,
        startColumn,
      })),
    ).toEqual([
      { severity: "error", file: "config/mirrors.yaml", startLine: 3, startColumn: 5 },
      { severity: "error", file: "config/mirrors.yaml", startLine: 4, startColumn: 5 },
    ]);
    expect(recorded.annotations[0]!.message).toContain('invalid image reference "Redis:7.0"');
    expect(recorded.annotations[1]!.message).toContain('"nginx" names no tag or digest');
    expect(recorded.groups).toEqual(["Validate config/mirrors.yaml"]);
    expect(recorded.outputs).toEqual({});
    expect(recorded.failed).toEqual(["config/mirrors.yaml has 2 errors; nothing was copied or committed."]);
  });

  it("sets the counts as outputs for a valid list and does not fail", async () => {
    const workspace = await workspaceWith(
      "images:\n  - redis:7.0\n  - source: nginx\n    tags: ['1', '2']\n",
    );
    const { deps, recorded } = recordingDeps(workspace);
    await run(inputsOf({ "mirror-file": "config/mirrors.yaml" }), deps);
    expect(recorded.failed).toEqual([]);
    expect(recorded.annotations).toEqual([]);
    expect(recorded.outputs).toEqual({ images: "3", charts: "0" });
    expect(recorded.log.join("\n")).toContain(
      "config/mirrors.yaml: valid. 3 image tags in 2 repositories, 0 chart versions in 0 repositories.",
    );
  });

  it("fails the step naming a refused input, before the list is read", async () => {
    const { deps, recorded } = recordingDeps(root);
    await run(inputsOf({ "mirror-file": "no-such.yaml", mode: "deploy" }), deps);
    expect(recorded.failed).toEqual([
      'input "mode" is "deploy"; expected one of validate, plan, sync, audit, merge',
    ]);
    expect(recorded.groups).toEqual([]);
  });

  it("registers the secret inputs with the runner's masker before anything runs", async () => {
    const { deps, recorded } = recordingDeps(root);
    await run(
      inputsOf({ "mirror-file": "no-such.yaml", "registry-password": "s3cret-pw", concurrency: "0" }),
      deps,
    );
    expect(recorded.secrets).toContain("s3cret-pw");
    expect(recorded.failed).toEqual(['input "concurrency" is "0"; expected a whole number from 1 to 64']);
  });
});

describe("run, mode plan, against a plain registry", () => {
  let target: RunningRegistry;
  beforeAll(async () => {
    target = await startRegistry();
    await pushImage(target.url, "mirrors/library/redis", "7.0", { seed: "redis-7.0" });
  });
  afterAll(async () => {
    await target?.stop();
  });

  it("sets the plan's counts and file as outputs, writes the summary, and changes nothing", async () => {
    const workspace = await workspaceWith("images:\n  - redis:7.0\n  - alpine:3.20\n");
    const temp = await mkdtemp(join(root, "runner-temp-"));
    const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: temp });
    await run(
      inputsOf({ "mirror-file": "config/mirrors.yaml", mode: "plan", "registry-url": target.url }),
      deps,
    );
    expect(recorded.failed).toEqual([]);
    const planFile = join(temp, "ecr-mirror-plan.json");
    expect(recorded.outputs).toMatchObject({ images: "2", "plan-file": planFile, copy: "1", present: "1" });
    const plan = JSON.parse(readFileSync(planFile, "utf8"));
    expect(
      plan.steps.map((s: { action: string; repository: string; tag: string }) => [
        s.action,
        s.repository,
        s.tag,
      ]),
    ).toEqual(
      expect.arrayContaining([
        ["copy", "mirrors/library/alpine", "3.20"],
        ["present", "mirrors/library/redis", "7.0"],
      ]),
    );
    expect(recorded.summary).toContain(`### ecr-mirror plan for \`${target.host}\``);
    expect(recorded.summary).toContain("| `mirrors/library/alpine` | `docker.io/library/alpine` | `3.20` |");
    expect(recorded.groups).toEqual(["Validate config/mirrors.yaml", "Observe the target and plan"]);
    // A plan asks; it writes nothing to the target.
    expect(
      target
        .accessLog()
        .filter((r) => r.userAgent !== "ecr-mirror-test-images" && !["GET", "HEAD"].includes(r.method)),
    ).toEqual([]);
  });

  it("with a render-dir, plans the configurator image and logs the hosts nodes redirect, not the configurator's", async () => {
    const workspace = await workspaceWith("images:\n  - redis:7.0\n");
    const temp = await mkdtemp(join(root, "runner-temp-"));
    const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: temp });
    await run(
      inputsOf({
        "mirror-file": "config/mirrors.yaml",
        mode: "plan",
        "registry-url": target.url,
        "render-dir": "deploy/ecr-mirror",
      }),
      deps,
    );
    expect(recorded.failed).toEqual([]);
    const log = recorded.log.join("\n");
    expect(log).toContain("public.ecr.aws/aws-cli/aws-cli:2.15.62 -> mirrors/public.ecr.aws/aws-cli/aws-cli");
    expect(log).toContain(
      "Nodes redirect these hosts: every pull from them on every node goes to the mirror.\n  docker.io -> mirrors: mirror only, no fallback",
    );
    expect(log).not.toMatch(/^ {2}public\.ecr\.aws -> /m);
  });

  it("fails the step with the reason and hint when the target cannot be reached, no stack trace", async () => {
    const workspace = await workspaceWith("images:\n  - redis:7.0\n");
    const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: root });
    await run(
      inputsOf({ "mirror-file": "config/mirrors.yaml", mode: "plan", "registry-url": "http://127.0.0.1:9" }),
      deps,
    );
    expect(recorded.failed).toHaveLength(1);
    expect(recorded.failed[0]).toContain("127.0.0.1:9");
    expect(recorded.failed[0]).not.toMatch(/\n\s+at /);
  });

  it("annotates a platform the upstream image lacks on its line and fails the step", async () => {
    const upstream = await startRegistry();
    try {
      await pushImage(upstream.url, "library/only", "1", { seed: "amd64-only" });
      const workspace = await workspaceWith(
        `upstreams:\n  docker.io: { endpoint: "${upstream.url}" }\nimages:\n  - source: only\n    tags: ["1"]\n    platforms: [linux/arm64]\n`,
      );
      const temp = await mkdtemp(join(root, "runner-temp-"));
      const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: temp });
      await run(
        inputsOf({ "mirror-file": "config/mirrors.yaml", mode: "plan", "registry-url": target.url }),
        deps,
      );
      expect(
        recorded.annotations.map(({ severity, file, startLine, startColumn, message }) => ({
          severity,
          file,
          startLine,
          startColumn,
          message,
        })),
      ).toEqual([
        {
          severity: "error",
          file: "config/mirrors.yaml",
          startLine: 6,
          startColumn: 17,
          message: expect.stringContaining(
            "docker.io/library/only:1 is a single-platform image (linux/amd64), not linux/arm64",
          ),
        },
      ]);
      expect(recorded.failed).toHaveLength(1);
      expect(recorded.failed[0]).toContain(
        "config/mirrors.yaml:6:17: error: docker.io/library/only:1 is a single-platform image (linux/amd64), not linux/arm64",
      );
      expect(recorded.outputs["plan-file"]).toBeUndefined();
    } finally {
      await upstream.stop();
    }
  });
});
