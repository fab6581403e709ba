// A pod list is input like the mirror list: garbage gets a located error with a hint (never a stack trace), values
// with control characters or workflow commands reach no log line able to run one, an endless or oversized input is
// refused, and a big cluster is audited in bounded time with bounded output.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../src/main.js";
import { readPodList } from "../../src/observe/kubernetes.js";
import { inputsOf, recordingDeps } from "../entries/recording-core.js";
import { runCli } from "../harness/cli.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/audit");
const LIST = join(FIXTURES, "mirrors.yaml");
const dir = mkdtempSync(join(tmpdir(), "ecr-mirror-audit-hostile-"));

const cli = (args: string[]) => runCli(args);

function podsFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Lines as the runner splits them, each with what it trims first. */
function runnerLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/).map((l) => l.replace(/^[\s\p{Cc}\p{Cf}\p{Z}]*/u, ""));
}

function expectNoCommands(text: string): void {
  for (const line of runnerLines(text)) expect(line.startsWith("::"), line).toBe(false);
  expect(text).not.toContain("##[");
  expect(text).not.toMatch(/(?![\t\n\r])\p{Cc}/u);
}

describe("a pod list that is not one", () => {
  it("garbage JSON: FILE:LINE:COL, the reason and a hint, exit 1, no stack trace", async () => {
    const text = '{"apiVersion": "v1", "items": [\n  {"metadata": {"name": "a"}, tru}\n]}\n';
    const path = podsFile("bad.json", text);
    const r = await cli(["audit", LIST, "--pods", path, "--no-target"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    const column = text.split("\n")[1]!.indexOf("tru") + 1;
    expect(r.err).toContain(
      `${path}:2:${column}: the pod list is not valid JSON: Expected double-quoted property name`,
    );
    expect(r.err).toContain("hint: give the output of `kubectl get pods -A -o json`");
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("a stray token V8 gives no position for is still located (line 3, column 3)", async () => {
    const path = podsFile("token.json", '{"items": [\n  {"metadata": {}, "spec": {}},\n  garbage\n]}');
    const r = await cli(["audit", LIST, "--pods", path, "--no-target"]);
    expect(r.err).toContain(`${path}:3:3: the pod list is not valid JSON: Unexpected token 'g'`);
  });

  it("JSON of the wrong shape names the path of the value", async () => {
    const shape = podsFile("shape.json", '{"items": [{"metadata": {}, "spec": {"containers": "nginx"}}]}');
    expect((await cli(["audit", LIST, "--pods", shape, "--no-target"])).err).toContain(
      "items[0].spec.containers: is not an array",
    );
    const array = podsFile("array.json", "[]");
    expect((await cli(["audit", LIST, "--pods", array, "--no-target"])).err).toContain(
      "the pod list: is not a JSON object",
    );
    expect((await cli(["audit", LIST, "--pods", join(dir, "absent.json"), "--no-target"])).err).toContain(
      "cannot read the pod list: no such file",
    );
  });

  it("a pod list PowerShell wrote (UTF-16 with a byte order mark), or UTF-8 with one, reads as the same pods", async () => {
    const text = readFileSync(join(FIXTURES, "pods.json"), "utf8");
    const utf16 = podsFile("utf16.json", "");
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]));
    const bom = podsFile("bom.json", `\uFEFF${text}`);
    const plain = await cli(["audit", LIST, "--pods", join(FIXTURES, "pods.json"), "--no-target", "--json"]);
    for (const path of [utf16, bom]) {
      const r = await cli(["audit", LIST, "--pods", path, "--no-target", "--json"]);
      expect(r.err).toBe("");
      expect(r.out).toBe(plain.out);
    }
  });

  it("an endless or oversized input is refused at the bound, not read to the end", async () => {
    await expect(readPodList("/dev/zero", [], 1024 * 1024)).rejects.toThrow(
      "/dev/zero: the pod list is larger than 1 MiB",
    );
  });
});

describe("values from the pod list reach no log line as a command", () => {
  const hostile = JSON.stringify({
    kind: "List",
    items: [
      {
        metadata: { namespace: "::add-mask::ns", name: "::error::pod" },
        spec: {
          containers: [
            { name: "a", image: "::warning file=x::owned" },
            { name: "b", image: "nginx:1.27\n::error::injected" },
            { name: "c", image: "redis\u001b[31m:7" },
            { name: "d", image: "##[group]x" },
            { name: "e", image: "quay.io/evil/app:1" },
          ],
        },
      },
      {
        metadata: { namespace: "ns\u2028::stop-commands::tok", name: "p\r::debug::x" },
        spec: { containers: [{ name: "c", image: "quay.io/evil/app:2" }] },
      },
    ],
  });

  it("in the terminal text and the JSON (the data still reads back intact from the JSON)", async () => {
    const path = podsFile("hostile.json", hostile);
    const text = await cli(["audit", LIST, "--pods", path, "--no-target"]);
    expect(text.code).toBe(1);
    expect(text.out).toContain("Image references no runtime can pull:");
    expect(text.out).toContain("quay.io/evil/app:1");
    expectNoCommands(text.out);
    expectNoCommands(text.err);
    const json = await cli(["audit", LIST, "--pods", path, "--no-target", "--json"]);
    expectNoCommands(json.out);
    const doc = JSON.parse(json.out);
    expect(doc.invalid.map((i: { image: string }) => i.image)).toEqual([
      "::warning file=x::owned",
      "nginx:1.27\n::error::injected",
      "redis\u001b[31m:7",
      "##[group]x",
    ]);
  });

  it("in the action's log, annotations and job summary", async () => {
    const workspace = mkdtempSync(join(dir, "ws-"));
    writeFileSync(join(workspace, "mirrors.yaml"), readFileSync(LIST, "utf8"));
    writeFileSync(join(workspace, "pods.json"), hostile);
    const { deps, recorded } = recordingDeps(workspace, {
      GITHUB_WORKSPACE: workspace,
      RUNNER_TEMP: workspace,
    });
    await run(
      inputsOf({ mode: "audit", "pods-file": "pods.json", "audit-target": "false", "render-dir": "" }),
      deps,
    );
    expect(recorded.failed).toHaveLength(1);
    for (const line of recorded.log) expectNoCommands(line);
    for (const a of recorded.annotations) expectNoCommands(a.message);
    expect(recorded.summary).not.toContain("##[");
    for (const line of runnerLines(recorded.summary)) expect(line.startsWith("::")).toBe(false);
  });
});

describe("a big cluster", () => {
  it("160,000 containers running one image the list lacks: named once, with its pods counted", async () => {
    const sidecars = Array.from({ length: 8 }, (_, j) => ({ name: `s${j}`, image: "ghcr.io/corp/agent:1" }));
    const items = Array.from({ length: 20_000 }, (_, i) => ({
      metadata: { namespace: "fleet", name: `node-agent-${i}` },
      spec: { containers: sidecars },
    }));
    const path = podsFile("one-image.json", JSON.stringify({ kind: "List", items }));
    const r = await cli(["audit", LIST, "--pods", path, "--no-target", "--json"]);
    expect(r.err).toBe("");
    const doc = JSON.parse(r.out);
    expect(doc.containers).toBe(160_000);
    expect(doc.missing).toMatchObject([{ name: "ghcr.io/corp/agent", podCount: 20_000 }]);
    expect(doc.missing[0].pods).toHaveLength(20);
  });

  it("20,000 pods with 40,000 containers over 500 images: audited in seconds, a line per image", async () => {
    const items = [];
    for (let i = 0; i < 20_000; i++) {
      const n = i % 500;
      items.push({
        metadata: { namespace: `team-${i % 50}`, name: `app-${i}` },
        spec: {
          initContainers: [{ name: "init", image: "busybox:1.36" }],
          containers: [{ name: "app", image: n < 250 ? `nginx:1.27` : `ghcr.io/corp/svc-${n}:v${i % 3}` }],
        },
        status: {
          containerStatuses: [
            { name: "app", imageID: `ghcr.io/corp/svc@sha256:${String(n).padStart(64, "0")}` },
          ],
        },
      });
    }
    const path = podsFile("big.json", JSON.stringify({ kind: "List", items }));
    const started = performance.now();
    const r = await cli(["audit", LIST, "--pods", path, "--no-target"]);
    const seconds = (performance.now() - started) / 1000;
    expect(r.code).toBe(1);
    expect(r.out).toContain("Audit of 20000 pods (40000 containers)");
    // 250 repositories missing, three tags each: one line per reference, each naming three pods and the count.
    expect(r.out).toMatch(
      /ghcr\.io\/corp\/svc-250:v0 {2}\(team-\d+\/app-\d+, team-\d+\/app-\d+, team-\d+\/app-\d+ and \d+ more\)/,
    );
    expect(r.out.split("\n").length).toBeLessThan(2_000);
    expect(seconds).toBeLessThan(15);
  });
});
