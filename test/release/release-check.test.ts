// scripts/release-check.mjs as a maintainer meets it: on a copy of the files it reads, it passes the version
// they agree on, names each file, line and column that disagrees with a tag, writes the CHANGELOG section as
// the release notes, and --prepare brings every file to a new version.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { REPOSITORY } from "./repository.js";

const root = join(import.meta.dirname, "..", "..");
const FILES = [
  "scripts/release-check.mjs",
  "package.json",
  "package-lock.json",
  "CHANGELOG.md",
  ".github/workflows/mirror.yml",
  "src/cli-commands.ts",
];
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "release-check-"));
  for (const f of FILES) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(root, f), join(dir, f));
  }
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function releaseCheck(...args: string[]) {
  const output = join(dir, "github-output");
  writeFileSync(output, "");
  const r = spawnSync(process.execPath, [join(dir, "scripts", "release-check.mjs"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, GITHUB_OUTPUT: output },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outputs: readFileSync(output, "utf8") };
}
const edit = (file: string, change: (text: string) => string) =>
  writeFileSync(join(dir, file), change(readFileSync(join(dir, file), "utf8")));
const lineOf = (file: string, needle: string) =>
  readFileSync(join(dir, file), "utf8")
    .split("\n")
    .findIndex((l) => l.includes(needle)) + 1;

describe("release-check", () => {
  it("passes this repository at package.json's version, and writes its CHANGELOG section as the notes", () => {
    const notes = join(dir, "notes.md");
    const r = releaseCheck(`v${version}`, "--notes", notes);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const changelog = readFileSync(join(root, "CHANGELOG.md"), "utf8");
    const section = changelog.split(new RegExp(`^## \\[${version.replaceAll(".", "\\.")}\\] - .*$`, "m"))[1]!;
    const text = readFileSync(notes, "utf8");
    expect(text.trim().length).toBeGreaterThan(100);
    expect(section.trim().startsWith(text.trim())).toBe(true);
    expect(text).not.toMatch(/^## |^\[[^\]]+\]: /m);
    const major = `v${version.split(".")[0]}`;
    // GitHub's multi-line output form: name<<DELIMITER, the value, DELIMITER.
    const notesOutput = /notes<<(\S+)\n([\s\S]*)\n\1\n$/.exec(r.outputs);
    expect(r.outputs.slice(0, notesOutput?.index)).toBe(
      `version=${version}\ntag=v${version}\nmajor=${major}\nprerelease=false\n`,
    );
    expect(`${notesOutput?.[2]}\n`).toBe(text);
  });

  it("refuses a tag that is not this version, naming every place that says otherwise", () => {
    const r = releaseCheck("v9.8.7", "--notes", join(dir, "notes.md"));
    expect(r.code).toBe(1);
    const uses = readFileSync(join(dir, ".github/workflows/mirror.yml"), "utf8")
      .split("\n")
      .flatMap((l, i) => (l.includes(`uses: ${REPOSITORY}@`) ? [`${i + 1}:${l.indexOf("@") + 2}`] : []));
    expect(uses.length).toBeGreaterThan(0);
    const lines = r.stderr.split("\n").filter((l) => /^\S+:\d+:\d+: /.test(l));
    expect(lines).toEqual([
      `package.json:${lineOf("package.json", '"version"')}:3: version is "${version}", not "9.8.7"`,
      `package-lock.json:3:3: version is "${version}", not "9.8.7"`,
      `src/cli-commands.ts:${lineOf("src/cli-commands.ts", "const VERSION =")}:1: the CLI's --version says "${version}", not "9.8.7"`,
      ...uses.map((at) => `.github/workflows/mirror.yml:${at}: uses ${REPOSITORY}@v${version}, not @v9.8.7`),
      "CHANGELOG.md:1:1: no section for 9.8.7",
    ]);
    expect(r.stderr).toContain("hint: node scripts/release-check.mjs 9.8.7 --prepare sets it");
    expect(r.outputs).toBe("");
  });

  it("refuses a reusable workflow that would call another release of the action", () => {
    edit(".github/workflows/mirror.yml", (t) => t.replace(`${REPOSITORY}@v${version}`, `${REPOSITORY}@main`));
    const r = releaseCheck(version);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^\\.github/workflows/mirror\\.yml:\\d+:\\d+: uses ${REPOSITORY}@main, not @v${version}\\n`),
    );
    expect(r.stderr).toContain(`a caller of mirror.yml@v${version} must run the action of the same release`);
  });

  it("refuses a CHANGELOG heading without its date, and an empty section", () => {
    edit("CHANGELOG.md", (t) => t.replace(new RegExp(`^## \\[${version}\\] - .*$`, "m"), `## [${version}]`));
    let r = releaseCheck(version);
    expect(r.stderr).toContain(`the heading "## [${version}]" is not "## [${version}] - YYYY-MM-DD"`);
    edit(
      "CHANGELOG.md",
      () => `# Changelog\n\n## [${version}] - 2026-12-02\n\n## [0.1.0] - 2026-01-01\n\n- x\n`,
    );
    r = releaseCheck(version);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`CHANGELOG.md:3:1: the section for ${version} is empty`);
  });

  it("refuses what is not a version, and says what is", () => {
    const r = releaseCheck("1.0");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      '"1.0" is not a release version\n  hint: give X.Y.Z (or X.Y.Z-rc.1 for a prerelease), with or without a leading v\n',
    );
  });

  it("--prepare sets the version everywhere and opens its CHANGELOG section from the Unreleased entries", () => {
    edit("CHANGELOG.md", (t) =>
      t.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Fixed\n\n- A thing.\n"),
    );
    const r = releaseCheck("2.0.0-rc.1", "--prepare", "--notes", join(dir, "notes.md"));
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("v2.0.0-rc.1 is ready to release (a prerelease: the major tag stays).\n");
    expect(r.outputs).toContain("major=v2\nprerelease=true\n");
    expect(readFileSync(join(dir, "notes.md"), "utf8")).toBe("### Fixed\n\n- A thing.\n");
    const changelog = readFileSync(join(dir, "CHANGELOG.md"), "utf8");
    expect(changelog).toMatch(
      /^## \[Unreleased\]\n\n## \[2\.0\.0-rc\.1\] - \d{4}-\d{2}-\d{2}\n\n### Fixed\n/m,
    );
    expect(changelog).toContain(
      `[2.0.0-rc.1]: https://github.com/${REPOSITORY}/compare/v${version}...v2.0.0-rc.1`,
    );
    expect(readFileSync(join(dir, ".github/workflows/mirror.yml"), "utf8")).not.toContain(`@v${version}`);
    expect(readFileSync(join(dir, "src/cli-commands.ts"), "utf8")).toContain('const VERSION = "2.0.0-rc.1";');
  });
});

it("the CLI's --version is package.json's", async () => {
  let out = "";
  expect(await main(["--version"], { out: (s) => (out += s), err: () => {}, env: {} })).toBe(0);
  expect(out).toBe(`ecr-mirror ${version}\n`);
});
