// Workflow-command injection: a pull request can put any text in the mirror list, and an upstream or a tool can
// answer anything. The runner executes every output line that starts with `::` (after white space) and every
// `##[...]`, so the bundles must let none of that text start a command: the only commands in the output are the
// product's own, issued through @actions/core, whose data is escaped. Runs dist/index.js and dist/cli.js as the
// runner would, in validate, plan and sync, and reads their output with a model of the runner's parser.
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { type WorkflowCommand, workflowCommands } from "../report/workflow-commands.js";
import { baseEnv, CLI, listFiles, runAction, runNode, toolCacheWithCrane } from "./bundle.js";

/** Every hostile text carries this marker, so a command made of it is recognisable. */
const MARK = "INJECTED";

/** What ecr-mirror itself may issue through @actions/core. Never set-output, save-state or stop-commands. */
const OWN_COMMANDS = new Set(["add-mask", "group", "endgroup", "error", "warning", "notice", "debug"]);

/** An upstream that answers every manifest with a registry error whose message is a list of commands. */
const UPSTREAM_SAYS = `manifest unknown ##[set-output name=${MARK}-U0;]x ::warning::${MARK}-U5\n::warning::${MARK}-U1\r::add-mask::${MARK}-U2\r\n::stop-commands::${MARK}-U3\n  ##[set-output name=${MARK}-U4;]x`;

let backing: RunningRegistry;
let ecr: LocalEcr;
let hostile: Server;
let hostileHost: string;
let root: string;
let workspace: string;
let toolCache: string;

/** The commands the runner would run that ecr-mirror did not issue itself. */
function foreignCommands(output: string): WorkflowCommand[] {
  return workflowCommands(output).filter(
    (c) =>
      c.form !== "v2" ||
      // The runner looks for the legacy form only when the v2 parse fails; ecr-mirror does not rely on that.
      c.line.includes("##[") ||
      !OWN_COMMANDS.has(c.name) ||
      c.properties.includes(MARK) ||
      c.data.trimStart().startsWith(MARK) ||
      (c.name === "add-mask" && c.data.includes(MARK)),
  );
}

function env(runnerTemp: string): Record<string, string> {
  return {
    ...baseEnv(),
    ...ecr.env(),
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: toolCache,
  };
}

const INVALID = () => `# ::warning::${MARK}-C1
# ##[set-output name=${MARK}-C2]x
version: 1
upstreams:
  "docker.io\\n::add-mask::${MARK}-K1":
    endpoint: http://${hostileHost}
  "quay.io\\r::warning::${MARK}-K2": {}
images:
  - "redis:7.0\\n::warning::${MARK}-V1"
  - "redis:7.0\\r::stop-commands::${MARK}-V2"
  - source: "nginx\\u2028::error::${MARK}-V3"
    tags: ["1.0\\n##[set-output name=${MARK}-V4]x", "\\u00a0::notice::${MARK}-V5"]
  - "::group::${MARK}-V6"
  - source: alpine
    tags: ["3.20"]
    "::warning::${MARK}-K3": 1
`;

const UPSTREAM = (image = "redis:7.0") => `version: 1
upstreams:
  docker.io:
    endpoint: http://${hostileHost}
images:
  - ${image}
`;

beforeAll(async () => {
  backing = await startRegistry();
  ecr = await startEcr({ registry: backing });
  hostile = createServer((req, res) => {
    if (req.url === "/v2/" || req.url === "/v2") {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    // HEAD has no body: the challenge header (without a realm) is what a client echoes.
    res
      .writeHead(req.method === "HEAD" ? 401 : 404, {
        "content-type": "application/json",
        "www-authenticate": `Bearer service="##[set-output name=${MARK}-H1]x ::warning::${MARK}-H2"`,
      })
      .end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: UPSTREAM_SAYS }] }));
  });
  await new Promise<void>((done) => hostile.listen(0, "127.0.0.1", done));
  hostileHost = `127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  root = await mkdtemp(join(tmpdir(), "e2e-injection-"));
  workspace = join(root, "workspace");
  toolCache = join(root, "tool-cache");
  await mkdir(workspace);
  await toolCacheWithCrane(toolCache);
  await writeFile(join(workspace, "invalid.yaml"), INVALID());
  await writeFile(join(workspace, "upstream.yaml"), UPSTREAM());
  await writeFile(join(workspace, "upstream-plan.yaml"), UPSTREAM("alpine:3.20"));
});

afterAll(async () => {
  await ecr?.stop();
  await backing?.stop();
  await new Promise((done) => hostile?.close(done));
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the action bundle", () => {
  for (const mode of ["validate", "plan", "sync"]) {
    it(`${mode}: a hostile list's values and keys reach the log visibly, and start no command`, async () => {
      const temp = await mkdtemp(join(root, `temp-${mode}-`));
      const run = await runAction(
        join(temp, "step"),
        { mode, "mirror-file": "invalid.yaml" },
        env(temp),
        workspace,
      );
      expect(run.code).not.toBe(0);
      // The values are shown (quoted, escapes visible), so the test sees them pass through.
      expect(run.stdout).toContain(`"redis:7.0\\n::warning::${MARK}-V1"`);
      expect(run.stdout).toContain(`${MARK}-K1`);
      expect(foreignCommands(run.stdout)).toEqual([]);
      expect(foreignCommands(run.stderr)).toEqual([]);
    });
  }

  it("sync: an upstream's error text and crane's output reach the log, the report and the summary, and start no command", async () => {
    const temp = await mkdtemp(join(root, "temp-sync-upstream-"));
    const run = await runAction(
      join(temp, "step"),
      { mode: "sync", "mirror-file": "upstream.yaml" },
      env(temp),
      workspace,
    );
    expect(run.code, run.stdout + run.stderr).not.toBe(0);
    expect(run.outputs.failed).toBe("1");
    expect(run.stdout).toContain(`${MARK}-U1`);
    expect(foreignCommands(run.stdout)).toEqual([]);
    expect(foreignCommands(run.stderr)).toEqual([]);
    // The report and the plan file: a later step may print them.
    const report = readFileSync(run.outputs["report-path"]!, "utf8");
    expect(
      JSON.parse(report).steps.some((s: { error: string | null }) => s.error?.includes(`${MARK}-U4`)),
    ).toBe(true);
    expect(workflowCommands(report)).toEqual([]);
    for (const file of listFiles(temp))
      expect(workflowCommands(readFileSync(file, "utf8")), file).toEqual([]);
    // The summary's failed row stays one table row.
    const failedRows = run.summary.split("\n").filter((l) => l.startsWith("| failed |"));
    expect(failedRows).toHaveLength(1);
    expect(failedRows[0]).toContain("MANIFEST_UNKNOW");
  });

  it("plan, resync digest: what the upstream answers reaches the log and the plan file, and starts no command", async () => {
    const temp = await mkdtemp(join(root, "temp-plan-upstream-"));
    // alpine:3.20 is in the target already (synced from a well-behaved upstream), so the plan asks the upstream.
    const good = await startRegistry();
    try {
      await pushImage(good.url, "library/alpine", "3.20", { seed: "alpine" });
      await writeFile(join(workspace, "good.yaml"), UPSTREAM("alpine:3.20").replace(hostileHost, good.host));
      const first = await runAction(
        join(temp, "first"),
        { mode: "sync", "mirror-file": "good.yaml" },
        env(temp),
        workspace,
      );
      expect(first.code, first.stdout).toBe(0);
    } finally {
      await good.stop();
    }
    const run = await runAction(
      join(temp, "step"),
      { mode: "plan", "mirror-file": "upstream-plan.yaml", resync: "digest" },
      env(temp),
      workspace,
    );
    // The upstream was asked, and what it said is in the plan.
    expect(readFileSync(run.outputs["plan-file"]!, "utf8")).toContain(`${MARK}-H1`);
    expect(foreignCommands(run.stdout)).toEqual([]);
    expect(foreignCommands(run.stderr)).toEqual([]);
    for (const file of listFiles(temp))
      expect(workflowCommands(readFileSync(file, "utf8")), file).toEqual([]);
  });
});

describe("the CLI bundle (inside a workflow run: step, the runner parses its output too)", () => {
  const cli = async (args: string[], temp: string) =>
    runNode(CLI, args, { ...env(temp), ECR_MIRROR_DEBUG: "" }, workspace);

  it("validate and plan on a hostile list: the problems are shown, and neither stream holds a command", async () => {
    const temp = await mkdtemp(join(root, "cli-"));
    for (const command of ["validate", "plan"]) {
      for (const json of [[], ["--json"]]) {
        const run = await cli([command, "invalid.yaml", ...json], temp);
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(`"redis:7.0\\n::warning::${MARK}-V1"`);
        expect(workflowCommands(run.stdout)).toEqual([]);
        expect(workflowCommands(run.stderr)).toEqual([]);
      }
    }
  });

  it("sync --json --report on a hostile upstream: stdout is JSON that reads back whole, and no stream or file holds a command", async () => {
    const temp = await mkdtemp(join(root, "cli-sync-"));
    const reportPath = join(temp, "report.json");
    const run = await cli(["sync", "upstream.yaml", "--json", "--report", reportPath], temp);
    expect(run.code, run.stderr).toBe(1);
    const json = JSON.parse(run.stdout);
    const error: string = json.steps.find((s: { outcome: string }) => s.outcome === "failed").error;
    // The same text the tool printed (line breaks kept, ##[ kept) for any program reading the JSON.
    expect(error).toContain(`##[set-output name=${MARK}-U4;]x`);
    expect(workflowCommands(run.stdout)).toEqual([]);
    expect(workflowCommands(run.stderr)).toEqual([]);
    expect(workflowCommands(readFileSync(reportPath, "utf8"))).toEqual([]);
    expect(JSON.parse(readFileSync(reportPath, "utf8"))).toEqual(json);

    const text = await cli(["sync", "upstream.yaml"], temp);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain("FAILED");
    expect(workflowCommands(text.stdout)).toEqual([]);
    expect(workflowCommands(text.stderr)).toEqual([]);
  });
});
