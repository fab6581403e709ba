// One name for the project's repository everywhere a user copies it from (the README's `uses:` lines, the
// schema's $id, the reusable workflow, links): package.json's. Any other owner, or a placeholder such as
// OWNER/ecr-mirror, fails here; and CONTRIBUTING.md's list of files a fork changes is exactly where it is.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPOSITORY } from "./repository.js";

const root = join(import.meta.dirname, "..", "..");
const name = REPOSITORY.split("/")[1]!;

/** The repository's text files (tracked or new): the generated bundle, the lock file and this test's own
 * examples aside. */
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\n")
  .filter(
    (f) =>
      f &&
      !f.startsWith("dist/") &&
      f !== "package-lock.json" &&
      f !== "test/release/owner.test.ts" &&
      !/\.(tgz|png|wasm)$/.test(f),
  );

/** Every `owner/name` this project's repository is called by in `text`: links, `uses:`, `owner/name@ref` and
 * Renovate's `github>owner/name` presets. */
function repositoryNames(text: string): { name: string; line: number }[] {
  const n = name.replace(/[.-]/g, "\\$&");
  const pattern = new RegExp(
    `(?:github\\.com/|githubusercontent\\.com/|github>)([\\w.-]+/${n})(?![\\w-])|([\\w.-]+/${n})(?=@|/\\.github/)`,
    "g",
  );
  return [...text.matchAll(pattern)].map((m) => ({
    name: (m[1] ?? m[2])!,
    line: text.slice(0, m.index).split("\n").length,
  }));
}

const named = files.flatMap((file) => {
  let text: string;
  try {
    text = readFileSync(join(root, file), "utf8");
  } catch {
    return [];
  }
  return repositoryNames(text).map((r) => ({ file, ...r }));
});

describe("the repository's name", () => {
  it("is package.json's repository", () => {
    expect(REPOSITORY).toBe("ecr-mirror/ecr-mirror");
  });

  it("the check finds names in every form a file uses", () => {
    const found = repositoryNames(
      [
        "uses: OWNER/ecr-mirror@v1",
        "uses: acme/ecr-mirror/.github/workflows/mirror.yml@v1",
        "https://raw.githubusercontent.com/someone/ecr-mirror/main/schema/mirrors.schema.json",
        "https://github.com/x/ecr-mirror#readme",
        '"extends": ["github>y/ecr-mirror//renovate/mirrors"]',
        "render-dir: deploy/ecr-mirror",
        "https://github.com/x/ecr-mirror-fork",
      ].join("\n"),
    ).map((r) => r.name);
    expect(found).toEqual([
      "OWNER/ecr-mirror",
      "acme/ecr-mirror",
      "someone/ecr-mirror",
      "x/ecr-mirror",
      "y/ecr-mirror",
    ]);
  });

  it("is the only owner/name anywhere (README, workflows, schema, action, docs, package.json)", () => {
    expect(named.filter((r) => r.name !== REPOSITORY).map((r) => `${r.file}:${r.line}: ${r.name}`)).toEqual(
      [],
    );
    for (const file of [
      "README.md",
      ".github/workflows/mirror.yml",
      "schema/mirrors.schema.json",
      "package.json",
    ])
      expect(
        named.some((r) => r.file === file),
        file,
      ).toBe(true);
  });

  it("CONTRIBUTING.md lists every file a fork must change, and only those", () => {
    const contributing = readFileSync(join(root, "CONTRIBUTING.md"), "utf8");
    const section = contributing.split(/^## /m).find((s) => s.startsWith("Forks"));
    expect(section, "a '## Forks' section").toBeDefined();
    const listed = [...section!.matchAll(/^- `([^`]+)`/gm)].map((m) => m[1]!).sort();
    const where = [...new Set(named.map((r) => r.file))].filter((f) => f !== "CONTRIBUTING.md").sort();
    expect(listed).toEqual(where);
  });
});
