// The action's `mode: audit` from source (`run(inputs, deps)` with the recording @actions/core facade): the lines to
// add as a warning on the list, prune candidates as notices on their lines, the outputs, the job summary and the
// step's status; then the lines applied and the step green.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/main.js";
import { inputsOf, recordingDeps } from "../entries/recording-core.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/audit");
let workspace: string;
let temp: string;

beforeAll(async () => {
  workspace = await mkdtemp(join(tmpdir(), "audit-action-"));
  temp = await mkdtemp(join(tmpdir(), "audit-action-temp-"));
  await mkdir(join(workspace, "config"));
  copyFileSync(join(FIXTURES, "mirrors.yaml"), join(workspace, "config", "mirrors.yaml"));
  copyFileSync(join(FIXTURES, "pods.json"), join(temp, "pods.json"));
});
afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
  await rm(temp, { recursive: true, force: true });
});

const inputs = (extra: Record<string, string> = {}) =>
  inputsOf({
    mode: "audit",
    "mirror-file": "config/mirrors.yaml",
    "pods-file": join(temp, "pods.json"),
    "audit-target": "false",
    "render-dir": "",
    ...extra,
  });

describe("run, mode audit", () => {
  it("annotates the list: the lines to add as a warning, unused entries as notices on their lines; the step fails", async () => {
    const { deps, recorded } = recordingDeps(workspace, { GITHUB_WORKSPACE: workspace, RUNNER_TEMP: temp });
    await run(inputs(), deps);
    const warning = recorded.annotations.find((a) => a.severity === "warning");
    expect(warning).toMatchObject({ file: "config/mirrors.yaml", startLine: 17 });
    expect(warning?.title).toBe("7 image repositories the cluster runs not in the list");
    expect(warning?.message).toContain(
      'Add after line 17:\n  - source: alpine\n    tags: ["3.19", "3.20"]\n  - busybox:latest',
    );
    expect(
      recorded.annotations
        .filter((a) => a.severity === "notice")
        .map((a) => [a.file, a.startLine, a.startColumn, a.message]),
    ).toEqual([
      [
        "config/mirrors.yaml",
        12,
        5,
        "docker.io/library/postgres:16.4: no pod in the cluster runs it (a prune candidate)",
      ],
      [
        "config/mirrors.yaml",
        16,
        12,
        "docker.io/library/busybox:1.37: no pod in the cluster runs it (a prune candidate)",
      ],
    ]);
    expect(recorded.outputs["missing-images"]).toBe("7");
    expect(recorded.outputs["unused-entries"]).toBe("2");
    const auditFile = recorded.outputs["audit-file"]!;
    expect(existsSync(auditFile)).toBe(true);
    expect(JSON.parse(readFileSync(auditFile, "utf8")).additions.afterLine).toBe(17);
    expect(recorded.summary).toContain("### ecr-mirror audit ❌");
    expect(recorded.summary).toContain("```yaml\n  - source: alpine\n");
    expect(recorded.summary).toContain("| `docker.io/library/postgres:16.4` | 12 |");
    expect(recorded.failed).toEqual([
      "Audit of 14 pods (20 containers) against config/mirrors.yaml: 16 images, 6 mirrored, 7 repositories not in the list, 2 list entries no pod uses.",
    ]);
  });

  it("with the lines applied the step is green and only the prune candidates remain", async () => {
    const first = recordingDeps(workspace, { GITHUB_WORKSPACE: workspace, RUNNER_TEMP: temp });
    await run(inputs(), first.deps);
    const json = JSON.parse(readFileSync(first.recorded.outputs["audit-file"]!, "utf8"));
    const path = join(workspace, "config", "amended.yaml");
    const lines = readFileSync(join(workspace, "config", "mirrors.yaml"), "utf8").split("\n");
    lines.splice(json.additions.afterLine, 0, ...json.additions.lines);
    writeFileSync(path, lines.join("\n"));
    const { deps, recorded } = recordingDeps(workspace, { GITHUB_WORKSPACE: workspace, RUNNER_TEMP: temp });
    await run(inputs({ "mirror-file": "config/amended.yaml" }), deps);
    expect(recorded.failed).toEqual([]);
    expect(recorded.outputs["missing-images"]).toBe("0");
    expect(recorded.annotations.map((a) => a.severity)).toEqual(["notice", "notice"]);
    expect(recorded.summary).toContain("### ecr-mirror audit ✅");
  });

  it("without pods-file the step fails saying what to give", async () => {
    const { deps, recorded } = recordingDeps(workspace, { GITHUB_WORKSPACE: workspace, RUNNER_TEMP: temp });
    await run(inputs({ "pods-file": "" }), deps);
    expect(recorded.failed).toEqual([
      "mode audit needs the pods-file input: the output of kubectl get pods -A -o json, written by an earlier step",
    ]);
  });
});
