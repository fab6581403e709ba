// The command line as people type it, through the bundle (dist/cli.js): per-command help with examples, usage
// errors that name what was meant (exit 2), options a command does not take refused, errors as JSON with
// --json, and a clear message on a Node.js older than 24.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS, FLAGS, parseCommandLine } from "../../src/cli-usage.js";
import { toolBinary } from "../stand-ins/stand-ins.js";
import { baseEnv, CLI, runNode } from "./bundle.js";

const dir = mkdtempSync(join(tmpdir(), "cli-usage-"));
const cli = (args: string[], env: Record<string, string> = {}) =>
  runNode(CLI, args, { ...baseEnv(), ...env }, dir);
const firstLine = (text: string) => text.split("\n")[0];

describe("the table of commands and flags", () => {
  it("names only flags it describes, and describes only flags some command takes", () => {
    const taken = new Set(["help", "version", ...COMMANDS.flatMap((c) => c.flags)]);
    expect([...taken].filter((f) => !FLAGS[f])).toEqual([]);
    expect(Object.keys(FLAGS).filter((f) => !taken.has(f))).toEqual([]);
  });

  it("reads flags anywhere, --flag=value, and `--` before arguments that start with a dash", () => {
    expect(parseCommandLine(["--json", "plan", "--region=eu-west-1", "--", "-list.yaml"])).toEqual({
      ok: true,
      command: "plan",
      args: ["-list.yaml"],
      values: { json: true, region: "eu-west-1" },
      given: ["json", "region"],
    });
  });
});

describe("usage errors", () => {
  it.each([
    [["sycn"], 'ecr-mirror: unknown command "sycn"; did you mean "sync"?'],
    [["help", "sycn"], 'ecr-mirror: unknown command "sycn"; did you mean "sync"?'],
    [["validate", "--jsno"], "ecr-mirror validate: unknown flag --jsno; did you mean --json?"],
    [["plan", "--regoin", "eu-west-1"], "ecr-mirror plan: unknown flag --regoin; did you mean --region?"],
    [["plan", "--region"], "ecr-mirror plan: --region needs a value"],
    [["sync", "--concurrency", "--report", "r.json"], "ecr-mirror sync: --concurrency needs a value"],
    [["validate", "--json=yes"], "ecr-mirror validate: --json takes no value"],
    [["plan", "--target", "local"], "ecr-mirror plan: --target applies to sync only"],
    [["render", "--out", "x", "--concurrency", "2"], "ecr-mirror render: --concurrency applies to sync only"],
    [
      ["validate", "--region", "eu-west-1"],
      "ecr-mirror validate: --region applies to plan, sync, merge, render, init and audit only",
    ],
    [["plan", "--resync=digest", "--out", "x"], "ecr-mirror plan: --out applies to render only"],
    [["validate", "a.yaml", "b.yaml"], "ecr-mirror validate: expected one FILE, got 2: a.yaml b.yaml"],
  ])("%j: %s (exit 2, no parser text)", async (args, says) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(firstLine(r.stderr)).toBe(says);
    expect(r.stderr).not.toMatch(/To specify a positional argument|ERR_PARSE_ARGS|\n\s+at /);
    expect(r.stdout).toBe("");
  });

  it("points at the command's help after the problem", async () => {
    const r = await cli(["plan", "--target", "local"]);
    expect(r.stderr).toBe(
      'ecr-mirror plan: --target applies to sync only\n\nUsage: ecr-mirror plan [FILE] [options]\nRun "ecr-mirror help plan" for its options and examples.\n',
    );
  });

  it("with --json, a usage error is also a JSON document on stdout", async () => {
    const r = await cli(["plan", "--target", "local", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: "usage",
      problems: [
        { message: "--target applies to sync only", hint: expect.stringContaining("ecr-mirror help plan") },
      ],
    });
    const unknown = await cli(["validate", "--json", "--jsno"]);
    expect(JSON.parse(unknown.stdout).problems[0].message).toBe("unknown flag --jsno; did you mean --json?");
  });
});

describe("help", () => {
  it("the global help lists every command with its summary, and where each one's help is", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of COMMANDS)
      expect(r.stdout).toMatch(new RegExp(`^ {2}${c.name} +${c.summary.slice(0, 20)}`, "m"));
    expect(r.stdout).toContain('Run "ecr-mirror help <command>" (or "ecr-mirror <command> --help")');
    expect(r.stdout).not.toContain("--configurator-digest");
  });

  it("`plan --help` and `help plan` show plan's usage, its options only, and examples", async () => {
    const a = await cli(["plan", "--help"]);
    const b = await cli(["help", "plan"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(firstLine(a.stdout)).toBe("Usage: ecr-mirror plan [FILE] [options]");
    expect(a.stdout).toMatch(/^ {2}--resync MODE +missing \(default\)/m);
    expect(a.stdout).toMatch(/^ {2}--helm PATH\|URL /m);
    expect(a.stdout).not.toMatch(/--target|--concurrency|--out /);
    expect(a.stdout).toMatch(/Examples:\n {2}ecr-mirror plan\n {6}\S/);
  });

  it("every command has its own help with at least one example", async () => {
    for (const c of COMMANDS) {
      const r = await cli([c.name, "--help"]);
      expect(r.code).toBe(0);
      expect(firstLine(r.stdout)).toBe(`Usage: ecr-mirror ${c.name} ${c.args}`);
      expect(r.stdout).toMatch(new RegExp(`Examples:\\n {2}.*ecr-mirror ${c.name}`));
      for (const flag of c.flags) expect(r.stdout).toMatch(new RegExp(`--${flag}\\b`));
    }
  });
});

describe("--json errors", () => {
  it("validate --json on a bad list prints the problems as JSON on stdout, located, and exits 1", async () => {
    writeFileSync(join(dir, "bad.yaml"), "images:\n  - Redis:7.0\n");
    const r = await cli(["validate", "bad.yaml", "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, error: "list" });
    expect(doc.problems).toEqual([
      expect.objectContaining({
        file: "bad.yaml",
        line: 2,
        column: 5,
        severity: "error",
        message: expect.stringMatching(/^invalid image reference "Redis:7\.0"/),
        hint: expect.any(String),
      }),
    ]);
    expect(r.stderr).toMatch(/^bad\.yaml:2:5: error: invalid image reference/m);
  });

  it("plan --json that cannot reach its target prints the failure as JSON", async () => {
    writeFileSync(join(dir, "ok.yaml"), "images:\n  - redis:7.0\n");
    const r = await cli(["plan", "ok.yaml", "--json", "--registry-url", "http://127.0.0.1:1"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, error: "run", problems: [{ message: expect.any(String) }] });
    expect(r.stderr).toContain(doc.problems[0].message.split("\n")[0]);
  });
});

describe("the Node.js version", () => {
  it("on Node.js older than 24 says so in one line and a hint, and exits 1", async () => {
    // Node 20 as the bin sees it: process.versions says 20.11.1 before dist/cli.js is evaluated.
    const old =
      'data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:"20.11.1"}})';
    const r = await runNode("--import", [old, CLI, "validate"], baseEnv(), dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ecr-mirror needs Node.js 24 or later; this is Node.js 20.11.1 (${process.execPath}).\n` +
        "  hint: install Node.js 24 (https://nodejs.org, or nvm install 24) and run ecr-mirror with it\n",
    );
    expect(r.stdout).toBe("");
  });
});

describe("tools --crane / ECR_MIRROR_CRANE", () => {
  it("checks the crane given (by flag or by variable) and prints its path, downloading nothing", async () => {
    const crane = toolBinary("crane");
    const env = { XDG_CACHE_HOME: join(dir, "cache"), ECR_MIRROR_CRANE_VERSION: "" };
    const byFlag = await cli(["tools", "crane", "--crane", crane], env);
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(byFlag.stdout).toBe(`${crane}\n`);
    expect(byFlag.stderr).toBe(
      `crane 0.22.1: using ${crane} (version checked; a binary given as it is has no SHA-256 to check)\n`,
    );
    const byEnv = await cli(["tools", "crane"], { ...env, ECR_MIRROR_CRANE: crane });
    expect(byEnv.stdout).toBe(`${crane}\n`);
  });

  it("names the flag when the crane given is not there", async () => {
    const r = await cli(["tools", "crane", "--crane", "./no-crane-here"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ecr-mirror: --crane ./no-crane-here: not an executable file\n  hint: give the path of a crane binary, of its release archive, or a URL\n`,
    );
  });
});
