// The release workflow as a maintainer relies on it: it publishes only what CI passed and dist/ matches, only a
// version that agrees everywhere, and it tags and moves the major tag as it says. The tag steps' own scripts run
// here against a real git remote (a bare repository), as the runner would run them (bash -eo pipefail).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { git } from "../harness/git.js";

const root = join(import.meta.dirname, "..", "..");

interface Step {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  steps: Step[];
}
const release = parse(readFileSync(join(root, ".github", "workflows", "release.yml"), "utf8")) as {
  on: {
    push?: { tags?: string[]; branches?: string[] };
    workflow_dispatch?: { inputs: Record<string, { required?: boolean; type?: string }> };
  };
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
};
const { check, release: publish } = release.jobs as { check: Job; release: Job };
const step = (job: Job, id: string): Step => {
  const found = job.steps.find((s) => s.id === id);
  if (!found) throw new Error(`no step with id ${id}`);
  return found;
};

describe("the release workflow", () => {
  it("runs on a pushed version tag and by hand with a version", () => {
    expect(release.on.push).toEqual({ tags: ["v*.*.*"] });
    expect(release.on.workflow_dispatch?.inputs.version).toMatchObject({ required: true, type: "string" });
  });

  it("holds contents: write in the release job only; the checks run with a read-only token and keep no credentials", () => {
    expect(release.permissions).toEqual({ contents: "read" });
    expect(check.permissions).toEqual({ contents: "read" });
    expect(publish.permissions).toEqual({ contents: "write" });
    const checkout = check.steps.find((s) => s.uses?.startsWith("actions/checkout@"))!;
    expect(checkout.with).toMatchObject({ ref: `\${{ github.sha }}`, "persist-credentials": false });
  });

  it("checks the version, runs the whole CI, then requires dist/ to be what the build wrote", () => {
    const runs = check.steps.map((s) => s.run?.trim() ?? s.uses ?? "");
    const version = runs.findIndex((r) => r.startsWith("node scripts/release-check.mjs"));
    const ci = runs.indexOf("bash .ci/run");
    const dist = runs.findIndex((r) => r.includes("git diff --exit-code") && r.includes("dist/"));
    expect(version).toBeGreaterThan(0);
    expect(ci).toBeGreaterThan(version);
    expect(dist).toBeGreaterThan(ci);
    // The tag pushed, or the version typed by hand, is what the check is given.
    expect(step(check, "version").env?.VERSION).toBe(
      `\${{ github.event_name == 'workflow_dispatch' && inputs.version || github.ref_name }}`,
    );
  });

  it("publishes only after the checks, the commit they checked, with the CHANGELOG section as the notes", () => {
    expect(publish.needs).toBe("check");
    expect(publish.env?.SHA).toBe(`\${{ github.sha }}`);
    expect(publish.env?.TAG).toBe(`\${{ needs.check.outputs.tag }}`);
    expect(check.outputs?.notes).toBe(`\${{ steps.version.outputs.notes }}`);
    expect(step(publish, "notes").env?.NOTES).toBe(`\${{ needs.check.outputs.notes }}`);
    const run = step(publish, "publish").run!;
    expect(run).toContain(
      'gh release create "$TAG" --verify-tag --title "$TAG" --notes-file "$RUNNER_TEMP/notes.md"',
    );
    const order = publish.steps.map((s) => s.id);
    expect(order.indexOf("tag")).toBeLessThan(order.indexOf("publish"));
    expect(order.indexOf("publish")).toBeLessThan(order.indexOf("major"));
    // A prerelease leaves the major tag where it is.
    expect(step(publish, "major").if).toBe("needs.check.outputs.prerelease == 'false'");
  });

  it("runs no project code where it holds the write token: git and gh only", () => {
    for (const s of publish.steps)
      expect(s.run ?? "", s.id).not.toMatch(/\b(node|npm|npx|bash \.ci|scripts\/)/);
  });
});

describe("the release job's tag steps, against a real remote", () => {
  let dir: string;
  let remote: string;
  let work: string;
  let older: string;
  let newer: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "release-"));
    remote = join(dir, "remote.git");
    work = join(dir, "work");
    await git(dir, "init", "-q", "--bare", "-b", "main", remote);
    await git(dir, "clone", "-q", remote, work);
    await git(work, "commit", "-q", "--allow-empty", "-m", "1.0.0");
    older = await git(work, "rev-parse", "HEAD");
    await git(work, "tag", "v1.0.0");
    await git(work, "tag", "v1");
    await git(work, "commit", "-q", "--allow-empty", "-m", "1.1.0");
    newer = await git(work, "rev-parse", "HEAD");
    await git(work, "push", "-q", "origin", "main", "v1.0.0", "v1");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The step's script as the runner runs it, with the job's variables (their values given here). */
  function runStep(id: string, env: Record<string, string>) {
    const result = spawnSync(
      "bash",
      ["--noprofile", "--norc", "-eo", "pipefail", "-c", step(publish, id).run!],
      {
        cwd: work,
        encoding: "utf8",
        env: { PATH: process.env.PATH, HOME: dir, GIT_TERMINAL_PROMPT: "0", ...env },
      },
    );
    return { code: result.status, output: result.stdout + result.stderr };
  }
  /** What the remote's tags point at (peeled: an annotated tag shows its commit). */
  async function remoteTags(): Promise<Record<string, string>> {
    const lines = (await git(work, "ls-remote", "--tags", "origin")).split("\n");
    const tags: Record<string, string> = {};
    for (const [sha, ref] of lines.map((l) => l.split("\t") as [string, string])) {
      const name = ref.replace("refs/tags/", "");
      if (name.endsWith("^{}")) tags[name.slice(0, -3)] = sha;
      else tags[name] ??= sha;
    }
    return tags;
  }

  it("by hand: tags the checked commit vX.Y.Z, then moves vX from the last release to it", async () => {
    expect(runStep("tag", { TAG: "v1.1.0", SHA: newer }).code).toBe(0);
    expect(await remoteTags()).toEqual({ "v1.0.0": older, v1: older, "v1.1.0": newer });
    expect(runStep("major", { MAJOR: "v1", SHA: newer })).toMatchObject({ code: 0 });
    expect(await remoteTags()).toEqual({ "v1.0.0": older, v1: newer, "v1.1.0": newer });
  });

  it("from a pushed (annotated) tag: leaves it as it is", async () => {
    await git(work, "tag", "-a", "-m", "v1.1.0", "v1.1.0", newer);
    await git(work, "push", "-q", "origin", "v1.1.0");
    const before = await git(work, "ls-remote", "origin", "refs/tags/v1.1.0");
    expect(runStep("tag", { TAG: "v1.1.0", SHA: newer }).code).toBe(0);
    expect(await git(work, "ls-remote", "origin", "refs/tags/v1.1.0")).toBe(before);
  });

  it("writes the notes as given: no line of the CHANGELOG is run by the shell", () => {
    const notes = `### Fixed\n\n- \`$(touch pwned)\` and \${HOME} and $1 stay text\n- 100% \\n`;
    const file = join(dir, "notes.md");
    expect(runStep("notes", { NOTES: notes, RUNNER_TEMP: dir }).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(`${notes}\n`);
    expect(existsSync(join(work, "pwned"))).toBe(false);
  });

  it("refuses a version whose tag already names another commit, and moves nothing", async () => {
    const result = runStep("tag", { TAG: "v1.0.0", SHA: newer });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("v1.0.0 already names another commit");
    expect(await remoteTags()).toEqual({ "v1.0.0": older, v1: older });
  });
});
