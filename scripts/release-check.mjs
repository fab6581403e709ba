#!/usr/bin/env node
// Is this commit ready to be released as vVERSION? Run by .github/workflows/release.yml before anything is
// tagged or published, and by hand before pushing a tag:
//
//   node scripts/release-check.mjs 1.2.3 [--notes FILE]   check; write the release notes to FILE
//   node scripts/release-check.mjs 1.2.3 --prepare        first set the version everywhere, then check
//
// It checks that VERSION is semver (X.Y.Z, or X.Y.Z-pre for a prerelease), that package.json,
// package-lock.json and the CLI's --version (src/cli-commands.ts) say that version, that every `uses:` of this action in the reusable workflow
// (.github/workflows/mirror.yml) is pinned to vVERSION (so a caller of mirror.yml@vVERSION runs the action
// of the same release), and that CHANGELOG.md has a `## [VERSION] - YYYY-MM-DD` section with text. It
// writes that section to FILE (the release notes) and, under GitHub Actions, the outputs version, tag,
// major, prerelease and notes. Each problem is printed as `file:line:column: message` with a hint; exit code 1.
// --prepare writes the version into package.json, package-lock.json, the CLI and mirror.yml, and opens the CHANGELOG
// section from the Unreleased one: review the diff, commit it, then tag that commit.
import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

const args = process.argv.slice(2);
const notesAt = args.indexOf("--notes");
const notesFile = notesAt >= 0 ? args[notesAt + 1] : undefined;
const prepare = args.includes("--prepare");
const positionals = args.filter((a, i) => !a.startsWith("--") && (notesAt < 0 || i !== notesAt + 1));
const version = positionals[0]?.replace(/^v/, "");

const problems = [];
const problem = (file, line, column, message, hint) => problems.push({ file, line, column, message, hint });

if (!version || positionals.length > 1 || (notesAt >= 0 && !notesFile)) {
  process.stderr.write("usage: node scripts/release-check.mjs VERSION [--notes FILE] [--prepare]\n");
  process.exit(2);
}
if (!SEMVER.test(version)) {
  process.stderr.write(
    `"${version}" is not a release version\n  hint: give X.Y.Z (or X.Y.Z-rc.1 for a prerelease), with or without a leading v\n`,
  );
  process.exit(1);
}
const MIRROR_YML = ".github/workflows/mirror.yml";
// The CLI's --version (src/ may not import package.json: test/architecture.test.ts).
const CLI_FILE = "src/cli-commands.ts";
const CLI_VERSION = /^(const VERSION = ")[^"]*(";)$/m;
const PREPARE_HINT = `node scripts/release-check.mjs ${version} --prepare sets it`;

/** --prepare: the version written into every file that names it, and the CHANGELOG section opened. */
function prepareRelease() {
  const at = (file) => join(root, file);
  const json = (file, edit) => {
    const value = JSON.parse(readFileSync(at(file), "utf8"));
    edit(value);
    writeFileSync(at(file), `${JSON.stringify(value, null, 2)}\n`);
  };
  let repository = "";
  json("package.json", (p) => {
    p.version = version;
    repository = /github\.com\/([\w.-]+\/[\w.-]+?)(\.git)?$/.exec(p.repository?.url ?? "")?.[1] ?? "";
  });
  json("package-lock.json", (l) => {
    l.version = version;
    if (l.packages?.[""]) l.packages[""].version = version;
  });
  if (repository) {
    const workflow = readFileSync(at(MIRROR_YML), "utf8");
    const escaped = repository.replace(/[.]/g, "\\.");
    writeFileSync(
      at(MIRROR_YML),
      workflow.replace(new RegExp(`^(\\s*-?\\s*uses:\\s*${escaped})@\\S+`, "gim"), `$1@v${version}`),
    );
  }
  const cli = readFileSync(at(CLI_FILE), "utf8");
  writeFileSync(at(CLI_FILE), cli.replace(CLI_VERSION, `$1${version}$2`));
  const changelog = readFileSync(at("CHANGELOG.md"), "utf8");
  if (!changelog.includes(`## [${version}]`)) {
    const today = new Date().toISOString().slice(0, 10);
    const previous = /^## \[(\d[^\]]*)\]/m.exec(changelog)?.[1];
    let next = changelog.replace(/^## \[Unreleased\][ \t]*$/m, `$&\n\n## [${version}] - ${today}`);
    if (repository)
      next = next.replace(
        /^\[Unreleased\]:.*$/m,
        `[Unreleased]: https://github.com/${repository}/compare/v${version}...HEAD\n[${version}]: https://github.com/${repository}/${previous ? `compare/v${previous}...v${version}` : `releases/tag/v${version}`}`,
      );
    writeFileSync(at("CHANGELOG.md"), next);
  }
}

if (prepare) prepareRelease();

/** The line and column (1-based) of offset `index` in `text`. */
function position(text, index) {
  const before = text.slice(0, index).split("\n");
  return { line: before.length, column: before.at(-1).length + 1 };
}

function read(file) {
  try {
    return readFileSync(join(root, file), "utf8");
  } catch {
    problem(file, 1, 1, `${file} is missing`, "a release needs it: see CONTRIBUTING.md, Releasing");
    return null;
  }
}

// package.json names the version and the repository (owner/name) the workflows call the action by.
const packageText = read("package.json");
const packageJson = packageText ? JSON.parse(packageText) : {};
const repository = /github\.com\/([\w.-]+\/[\w.-]+?)(\.git)?$/.exec(packageJson.repository?.url ?? "")?.[1];
if (packageText && packageJson.version !== version) {
  const at = position(packageText, packageText.indexOf('"version"'));
  problem(
    "package.json",
    at.line,
    at.column,
    `version is ${JSON.stringify(packageJson.version)}, not "${version}"`,
    `set "version": "${version}" (${PREPARE_HINT} here and in every other file that names it)`,
  );
}
if (packageText && !repository) {
  const at = position(packageText, Math.max(0, packageText.indexOf('"repository"')));
  problem(
    "package.json",
    at.line,
    at.column,
    "repository.url names no GitHub repository",
    'set "repository": { "type": "git", "url": "git+https://github.com/<owner>/<name>.git" }',
  );
}

const lockText = read("package-lock.json");
if (lockText) {
  const lock = JSON.parse(lockText);
  if (lock.version !== version || lock.packages?.[""]?.version !== version) {
    const at = position(lockText, lockText.indexOf('"version"'));
    problem(
      "package-lock.json",
      at.line,
      at.column,
      `version is ${JSON.stringify(lock.packages?.[""]?.version ?? lock.version)}, not "${version}"`,
      `${PREPARE_HINT} (or npm version ${version} --no-git-tag-version)`,
    );
  }
}

const cli = read(CLI_FILE);
const cliVersion = cli ? CLI_VERSION.exec(cli) : null;
if (cli && cliVersion?.[0] !== `const VERSION = "${version}";`) {
  const at = cliVersion ? position(cli, cliVersion.index) : { line: 1, column: 1 };
  problem(
    CLI_FILE,
    at.line,
    at.column,
    cliVersion
      ? `the CLI's --version says ${cliVersion[0].slice(16, -1)}, not "${version}"`
      : "no const VERSION",
    `${PREPARE_HINT}`,
  );
}

// The reusable workflow calls the action by repository and ref: the ref must be this release's tag.
const workflowFile = MIRROR_YML;
const workflow = read(workflowFile);
if (workflow && repository) {
  const uses = [...workflow.matchAll(/^(\s*-?\s*uses:\s*)([\w.-]+\/[\w.-]+)@(\S+)/gm)].filter(
    (m) => m[2].toLowerCase() === repository.toLowerCase(),
  );
  if (uses.length === 0)
    problem(
      workflowFile,
      1,
      1,
      `no step uses ${repository}@...`,
      "the jobs call the action by repository and ref",
    );
  for (const m of uses) {
    if (m[3] === `v${version}`) continue;
    const at = position(workflow, m.index + m[1].length + m[2].length + 1);
    problem(
      workflowFile,
      at.line,
      at.column,
      `uses ${m[2]}@${m[3]}, not @v${version}`,
      `a caller of mirror.yml@v${version} must run the action of the same release: ${PREPARE_HINT}`,
    );
  }
}

// The release notes: the CHANGELOG section of this version (Keep a Changelog: "## [1.2.3] - 2026-12-02").
const changelog = read("CHANGELOG.md");
let notes = "";
if (changelog) {
  const escaped = version.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const heading = new RegExp(`^## \\[${escaped}\\] - \\d{4}-\\d{2}-\\d{2}[ \\t]*$`, "m").exec(changelog);
  if (!heading) {
    const loose = new RegExp(`^## \\[?${escaped}(?![\\w.-]).*$`, "m").exec(changelog);
    const at = loose ? position(changelog, loose.index) : { line: 1, column: 1 };
    problem(
      "CHANGELOG.md",
      at.line,
      at.column,
      loose ? `the heading "${loose[0]}" is not "## [${version}] - YYYY-MM-DD"` : `no section for ${version}`,
      `add "## [${version}] - ${new Date().toISOString().slice(0, 10)}" with what changed (move the Unreleased entries under it)`,
    );
  } else {
    const start = heading.index + heading[0].length;
    const next = changelog.slice(start).search(/^## |^\[[^\]]+\]:\s/m);
    notes = changelog.slice(start, next < 0 ? undefined : start + next).trim();
    if (!notes) {
      const at = position(changelog, heading.index);
      problem("CHANGELOG.md", at.line, at.column, `the section for ${version} is empty`, "say what changed");
    }
  }
}

if (problems.length > 0) {
  for (const p of problems)
    process.stderr.write(`${p.file}:${p.line}:${p.column}: ${p.message}\n  hint: ${p.hint}\n`);
  process.stderr.write(`v${version} is not ready to release: ${problems.length} problem(s).\n`);
  process.exit(1);
}

if (notesFile) writeFileSync(notesFile, `${notes}\n`);
const prerelease = version.includes("-");
const outputs = {
  version,
  tag: `v${version}`,
  major: `v${version.split(".")[0]}`,
  prerelease: String(prerelease),
};
if (process.env.GITHUB_OUTPUT) {
  // The notes span lines: GitHub's heredoc form, with a delimiter no CHANGELOG line can be.
  const delimiter = `RELEASE_NOTES_${randomBytes(16).toString("hex")}`;
  appendFileSync(
    process.env.GITHUB_OUTPUT,
    `${Object.entries(outputs)
      .map(([k, v]) => `${k}=${v}\n`)
      .join("")}notes<<${delimiter}\n${notes}\n${delimiter}\n`,
  );
}
process.stdout.write(
  `v${version} is ready to release${prerelease ? " (a prerelease: the major tag stays)" : `; ${outputs.major} will move to it`}.\n`,
);
