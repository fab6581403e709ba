// `ecr-mirror render --out DIR` never deletes what ecr-mirror did not write: it refuses the workspace,
// its ancestors, places outside it, git repositories, symbolic links, foreign folders and hostile
// manifests (exit 2, every file left in place), and a rewrite replaces only the files its manifest lists.
// Runs dist/cli.js (`npm run build` first) in a real git repository under a temporary HOME.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import { checkOutputFolder, MANIFEST_FILE } from "../../src/git/output-folder.js";

const cli = join(import.meta.dirname, "..", "..", "dist", "cli.js");
const DIGEST = `sha256:${"d".repeat(64)}`;
const REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const list = (images: string[]) =>
  `target: { registry: ${REGISTRY}, region: eu-west-1 }\nimages:\n${images.map((i) => `  - ${i}\n`).join("")}`;

let home: string;
let workspace: string;
let outside: string;

async function render(out: string, env: Record<string, string> = {}) {
  const args = [cli, "render", "mirrors.yaml", "--out", out, "--configurator-digest", DIGEST];
  try {
    const r = await promisify(execFile)(process.execPath, args, {
      cwd: workspace,
      env: { PATH: process.env.PATH, HOME: home, ...env },
    });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Every entry below `dir` (links not followed) with its kind and content hash. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .sort()
    .map((path) => {
      const stat = lstatSync(join(dir, path));
      if (stat.isSymbolicLink()) return `${path} -> link`;
      if (stat.isDirectory()) return `${path}/`;
      return `${path} ${createHash("sha256")
        .update(readFileSync(join(dir, path)))
        .digest("hex")
        .slice(0, 12)}`;
    });
}

const git = (cwd: string, ...args: string[]) => promisify(execFile)("git", args, { cwd });

beforeEach(async () => {
  home = mkdtempSync(join(tmpdir(), "render-safety-home-"));
  workspace = join(home, "repo");
  outside = mkdtempSync(join(tmpdir(), "render-safety-outside-"));
  mkdirSync(workspace);
  await git(workspace, "init", "-q", "-b", "main");
  writeFileSync(join(workspace, "mirrors.yaml"), list(["redis:7.0", "quay.io/org/app:1"]));
  writeFileSync(join(workspace, "sentinel.txt"), "keep me\n");
  writeFileSync(join(home, "sentinel.txt"), "keep me too\n");
  writeFileSync(join(outside, "victim.conf"), "not yours\n");
});

/** Runs a refused render and proves nothing anywhere changed. */
async function expectRefused(out: string, message: RegExp) {
  const before = [snapshot(home), snapshot(outside)];
  const r = await render(out);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toMatch(/Nothing was deleted or written\.\n\s+hint: /);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stdout).toBe("");
  expect([snapshot(home), snapshot(outside)]).toEqual(before);
  expect(readFileSync(join(workspace, "sentinel.txt"), "utf8")).toBe("keep me\n");
  expect(lstatSync(join(workspace, ".git", "HEAD")).isFile()).toBe(true);
}

describe("render --out refuses places ecr-mirror must not write", () => {
  it("the workspace itself (--out .)", async () => {
    await expectRefused(".", /The output folder "\." is the workspace itself/);
    await expectRefused(workspace, /is the workspace itself/);
  });

  it("an ancestor of the workspace: .., HOME (~), and /", async () => {
    await expectRefused("..", /The output folder "\.\." \(.*\) holds the workspace/);
    await expectRefused(home, /holds the workspace/);
    // Interlock: only hand "/" to the CLI once the check itself is known to refuse it.
    await expect(checkOutputFolder(workspace, "/")).rejects.toThrow(/holds the workspace/);
    await expectRefused("/", /The output folder "\/" \(\/\) holds the workspace/);
  });

  it("a folder outside the workspace (like /etc)", async () => {
    await expectRefused(outside, /is outside the workspace/);
    await expectRefused(join(outside, "new"), /is outside the workspace/);
    await expectRefused("../elsewhere", /is outside the workspace/);
  });

  it("a folder that holds .git, a folder inside a nested repository, and .git itself", async () => {
    mkdirSync(join(workspace, "vendor", "lib"), { recursive: true });
    await git(join(workspace, "vendor", "lib"), "init", "-q");
    writeFileSync(join(workspace, "vendor", "lib", "code.c"), "int main;\n");
    await expectRefused("vendor/lib", /is in a git repository of its own: vendor\/lib holds \.git/);
    await expectRefused("vendor/lib/deploy", /vendor\/lib holds \.git/);
    await expectRefused(".git", /is inside \.git/);
    await expectRefused(".git/hooks", /is inside \.git/);
    // A submodule's .git is a file.
    mkdirSync(join(workspace, "sub"));
    writeFileSync(join(workspace, "sub", ".git"), "gitdir: ../.git/modules/sub\n");
    await expectRefused("sub", /sub holds \.git/);
  });

  it("a non-empty folder ecr-mirror did not write", async () => {
    mkdirSync(join(workspace, "docs"));
    writeFileSync(join(workspace, "docs", "guide.md"), "# guide\n");
    await expectRefused(
      "docs",
      /docs is not empty and is not ecr-mirror's \(it has no \.ecr-mirror-files\): it holds "guide\.md"[\s\S]*hint: choose a new or empty folder/,
    );
  });

  it("a hostile manifest that lists paths outside the folder", async () => {
    mkdirSync(join(workspace, "deploy", "ecr-mirror"), { recursive: true });
    writeFileSync(
      join(workspace, "deploy", "ecr-mirror", MANIFEST_FILE),
      "# Written by ecr-mirror\nREADME.md\n../../sentinel.txt\n../../.git/HEAD\n",
    );
    writeFileSync(join(workspace, "deploy", "ecr-mirror", "README.md"), "x\n");
    await expectRefused(
      "deploy/ecr-mirror",
      /deploy\/ecr-mirror\/\.ecr-mirror-files line 3: "\.\.\/\.\.\/sentinel\.txt" is not a file inside deploy\/ecr-mirror/,
    );
    for (const line of ["/etc/passwd", "a/../../x", ".git/config", "a\\..\\x"]) {
      writeFileSync(join(workspace, "deploy", "ecr-mirror", MANIFEST_FILE), `${line}\n`);
      await expectRefused("deploy/ecr-mirror", /line 1: .* is not a file inside deploy\/ecr-mirror/);
    }
    writeFileSync(join(workspace, "deploy", "ecr-mirror", MANIFEST_FILE), "README.md\n".repeat(200_000));
    await expectRefused("deploy/ecr-mirror", /\.ecr-mirror-files is larger than 1048576 bytes/);
  });

  it("a symbolic link: as the folder, on its path, or inside it", async () => {
    symlinkSync(outside, join(workspace, "link"));
    await expectRefused("link", /goes through the symbolic link link/);
    await expectRefused("link/deploy", /goes through the symbolic link link/);
    // A link inside an ecr-mirror folder, at a path its manifest lists.
    mkdirSync(join(workspace, "deploy", "ecr-mirror", "hosts", "docker.io"), { recursive: true });
    writeFileSync(join(workspace, "deploy", "ecr-mirror", MANIFEST_FILE), "hosts/docker.io/hosts.toml\n");
    symlinkSync(
      join(outside, "victim.conf"),
      join(workspace, "deploy", "ecr-mirror", "hosts", "docker.io", "hosts.toml"),
    );
    await expectRefused("deploy/ecr-mirror", /hosts\/docker\.io\/hosts\.toml is a symbolic link/);
  });
});

describe("render --out into ecr-mirror's own folder", () => {
  const out = (path = "") => join(workspace, "deploy", "ecr-mirror", path);
  const manifest = () =>
    readFileSync(out(MANIFEST_FILE), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));

  it("first render writes the files and the manifest; a re-render removes what it no longer produces and keeps the user's files", async () => {
    const first = await render("deploy/ecr-mirror");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`deploy/ecr-mirror/${MANIFEST_FILE}`);
    expect(manifest()).toEqual([
      "README.md",
      "ecr-mirror-node.yaml",
      "hosts/docker.io/hosts.toml",
      "hosts/quay.io/hosts.toml",
      "kustomization.yaml",
    ]);
    expect(readFileSync(out(MANIFEST_FILE), "utf8")).toMatch(/^# Written by ecr-mirror/);

    // A user's own file beside the rendered ones, and an empty folder of theirs.
    writeFileSync(out("patch.yaml"), "spec: {}\n");
    mkdirSync(out("hosts/keep"));
    writeFileSync(join(workspace, "mirrors.yaml"), list(["redis:7.0"]));
    const second = await render("deploy/ecr-mirror");
    expect(second.code, second.stderr).toBe(0);
    expect(() => lstatSync(out("hosts/quay.io"))).toThrow(); // the file and the folder it left empty
    expect(lstatSync(out("hosts/keep")).isDirectory()).toBe(true);
    expect(readFileSync(out("patch.yaml"), "utf8")).toBe("spec: {}\n");
    expect(manifest()).toEqual([
      "README.md",
      "ecr-mirror-node.yaml",
      "hosts/docker.io/hosts.toml",
      "kustomization.yaml",
    ]);
    expect(readFileSync(join(workspace, "sentinel.txt"), "utf8")).toBe("keep me\n");

    // The same render again changes no byte.
    const before = snapshot(out());
    expect((await render("deploy/ecr-mirror")).code).toBe(0);
    expect(snapshot(out())).toEqual(before);
  });

  it("refuses to write over a user's file at a path it renders, and leaves the folder as it was", async () => {
    writeFileSync(join(workspace, "mirrors.yaml"), list(["redis:7.0"]));
    expect((await render("deploy/ecr-mirror")).code).toBe(0);
    mkdirSync(out("hosts/quay.io"));
    writeFileSync(out("hosts/quay.io/hosts.toml"), "# my own quay.io mirror\n");
    const before = snapshot(workspace);
    writeFileSync(join(workspace, "mirrors.yaml"), list(["redis:7.0", "quay.io/org/app:1"]));
    const r = await render("deploy/ecr-mirror");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /deploy\/ecr-mirror\/hosts\/quay\.io\/hosts\.toml is in the way of the rendered .* ecr-mirror did not write it[\s\S]*hint: move/,
    );
    expect(snapshot(workspace).filter((l) => !l.startsWith("mirrors.yaml"))).toEqual(
      before.filter((l) => !l.startsWith("mirrors.yaml")),
    );
  });

  it("takes over a folder an ecr-mirror before the manifest rendered, and nothing else", async () => {
    mkdirSync(out("hosts/ghcr.io"), { recursive: true });
    writeFileSync(
      out("README.md"),
      "<!-- Generated by ecr-mirror. Do not edit: re-render instead. -->\n# old\n",
    );
    writeFileSync(out("hosts/ghcr.io/hosts.toml"), "old\n");
    writeFileSync(out("ecr-mirror-node.yaml"), "old\n");
    const r = await render("deploy/ecr-mirror");
    expect(r.code, r.stderr).toBe(0);
    expect(() => lstatSync(out("hosts/ghcr.io"))).toThrow();
    expect(manifest()).toContain("hosts/docker.io/hosts.toml");

    // The same files with one of the user's among them: not an old ecr-mirror folder.
    const other = join(workspace, "other");
    mkdirSync(other);
    writeFileSync(join(other, "README.md"), "<!-- Generated by ecr-mirror. -->\n");
    writeFileSync(join(other, "secrets.env"), "A=1\n");
    await expectRefused("other", /other is not empty and is not ecr-mirror's/);
  });
});
