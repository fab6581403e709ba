// Commit-back against real git: a bare repository served over smart HTTP by a local stand-in for
// github.com (which also answers the pull request API), and a shallow clone as the workspace, the
// way actions/checkout prepares it.
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CommitBackError,
  type CommitBackOptions,
  commitBack,
  commitBackOutputs,
} from "../../src/git/commit-back.js";
import type { EventFacts } from "../../src/git/event.js";
import { authorizationHeader, BOT_EMAIL, BOT_NAME, extraHeaderKey } from "../../src/git/git.js";
import { formatManifest, MANIFEST_FILE, type OutputFile } from "../../src/git/output-folder.js";
import { git } from "../harness/git.js";
import { type LocalGitHub, startLocalGitHub } from "./local-github.js";

const TOKEN = "ghs_commitBackTestToken0123456789ABCDEFabcd";
const CHECKOUT_TOKEN = "ghs_checkoutPersistedToken9876543210ZYXWvut";
const OUT = "deploy/ecr-mirror";
const PUSH: EventFacts = { name: "push", refName: "main", refType: "branch", headRef: "", isFork: false };

let root: string;
let github: LocalGitHub;
let repoCount = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ecr-mirror-git-"));
  github = await startLocalGitHub(join(root, "remote"), [TOKEN, CHECKOUT_TOKEN]);
});

afterAll(async () => {
  await github?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Fixture {
  name: string;
  bare: string;
  workspace: string;
  url: string;
}

/**
 * A remote `acme/app-N` with one commit on main, and a shallow clone of it (like actions/checkout). `hosts`:
 * the output folder as an earlier ecr-mirror run left it (hosts.toml and old.yaml, listed in its manifest);
 * `folder`: files of the output folder as given (relative to it).
 */
async function fixture(setup: { hosts?: string; folder?: Record<string, string> } = {}): Promise<Fixture> {
  const name = `app-${++repoCount}`;
  const bare = join(root, "remote", "acme", `${name}.git`);
  const seed = join(root, `${name}-seed`);
  await mkdir(bare, { recursive: true });
  await git(bare, "init", "--quiet", "--bare", "--initial-branch=main");
  await git(root, "init", "--quiet", "--initial-branch=main", seed);
  await writeFile(join(seed, "README.md"), "# app\n");
  await writeFile(join(seed, "mirrors.yaml"), "images: []\n");
  if (setup.hosts) {
    await mkdir(join(seed, OUT), { recursive: true });
    await writeFile(join(seed, OUT, "hosts.toml"), setup.hosts);
    await writeFile(join(seed, OUT, "old.yaml"), "kind: Old\n");
    await writeFile(join(seed, OUT, MANIFEST_FILE), formatManifest(["hosts.toml", "old.yaml"]));
  }
  for (const [path, content] of Object.entries(setup.folder ?? {})) {
    await mkdir(join(seed, OUT, path, ".."), { recursive: true });
    await writeFile(join(seed, OUT, path), content);
  }
  await git(seed, "add", "-A");
  await git(seed, "commit", "--quiet", "-m", "initial");
  await git(seed, "push", "--quiet", bare, "main");
  const url = `${github.serverUrl}/acme/${name}`;
  const workspace = join(root, `${name}-workspace`);
  await git(root, "clone", "--quiet", "--depth", "1", "--branch", "main", url, workspace);
  return { name, bare, workspace, url };
}

const RENDERED: OutputFile[] = [
  { path: "hosts.d/docker.io/hosts.toml", content: 'server = "https://registry-1.docker.io"\n' },
  { path: "daemonset.yaml", content: "kind: DaemonSet\n" },
  { path: "bin/configure-node.sh", content: "#!/bin/sh\necho configure\n", mode: 0o755 },
];

interface Run {
  logs: string[];
  masked: string[];
}

function options(f: Fixture, overrides: Partial<CommitBackOptions> = {}, run?: Run): CommitBackOptions {
  return {
    repoDir: f.workspace,
    files: RENDERED,
    outDir: OUT,
    mode: "push",
    event: PUSH,
    allowOnPullRequest: false,
    token: TOKEN,
    serverUrl: github.serverUrl,
    apiUrl: github.apiUrl,
    repository: `acme/${f.name}`,
    mask: (secret) => run?.masked.push(secret),
    log: (line) => run?.logs.push(line),
    ...overrides,
  };
}

const pushesTo = (f: Fixture) =>
  github.requests.filter((r) => r.method === "POST" && r.path === `/acme/${f.name}/git-receive-pack`);

async function expectNoCredentialLeft(f: Fixture, run?: Run) {
  const config = await readFile(join(f.workspace, ".git", "config"), "utf8");
  const { encoded } = authorizationHeader(TOKEN);
  expect(config).not.toContain(TOKEN);
  expect(config).not.toContain(encoded);
  expect(config).not.toContain(f.url.replace("http://", "x-access-token:"));
  if (run) {
    const printed = run.logs.join("\n");
    expect(printed).not.toContain(TOKEN);
    expect(printed).not.toContain(encoded);
  }
}

describe("commit-back in push mode", () => {
  it("commits the rendered files once as github-actions[bot], pushes them, and commits nothing when unchanged", async () => {
    const f = await fixture();
    const run: Run = { logs: [], masked: [] };
    const result = await commitBack(options(f, {}, run));

    const remoteMain = await git(f.bare, "rev-parse", "main");
    expect(result).toMatchObject({
      outcome: "committed",
      commitSha: remoteMain,
      branch: "main",
      attempts: 1,
    });
    expect(commitBackOutputs(result)).toEqual({
      outcome: "committed",
      "commit-sha": remoteMain,
      "pull-request-url": "",
    });
    expect(await git(f.bare, "log", "--format=%an <%ae>|%cn <%ce>|%s", "-1", "main")).toBe(
      `${BOT_NAME} <${BOT_EMAIL}>|${BOT_NAME} <${BOT_EMAIL}>|ecr-mirror: update the rendered node configuration in ${OUT}`,
    );
    expect(await git(f.bare, "rev-list", "--count", "main")).toBe("2");
    expect(await git(f.bare, "ls-tree", "-r", "--format=%(objectmode) %(path)", "main", "--", OUT)).toBe(
      [
        `100644 ${OUT}/${MANIFEST_FILE}`,
        `100755 ${OUT}/bin/configure-node.sh`,
        `100644 ${OUT}/daemonset.yaml`,
        `100644 ${OUT}/hosts.d/docker.io/hosts.toml`,
      ].join("\n"),
    );
    expect(await git(f.bare, "show", `main:${OUT}/daemonset.yaml`)).toBe("kind: DaemonSet");
    // The manifest names what ecr-mirror owns, so a later run in a fresh checkout knows what it may replace.
    expect(
      (await git(f.bare, "show", `main:${OUT}/${MANIFEST_FILE}`))
        .split("\n")
        .filter((l) => !l.startsWith("#")),
    ).toEqual(["bin/configure-node.sh", "daemonset.yaml", "hosts.d/docker.io/hosts.toml"]);
    // The workspace follows the pushed commit and is clean.
    expect(await git(f.workspace, "rev-parse", "HEAD")).toBe(remoteMain);
    expect(await git(f.workspace, "status", "--porcelain")).toBe("");
    // One push, carrying exactly our header; the token was masked (and its base64 form).
    expect(pushesTo(f).map((r) => r.authorizations)).toEqual([[authorizationHeader(TOKEN).header.slice(15)]]);
    expect(run.masked).toEqual(expect.arrayContaining([TOKEN, authorizationHeader(TOKEN).encoded]));
    await expectNoCredentialLeft(f, run);

    const again = await commitBack(options(f, {}, run));
    expect(again).toMatchObject({ outcome: "none", reason: `${OUT} is unchanged` });
    expect(again.commitSha).toBeUndefined();
    expect(await git(f.bare, "rev-parse", "main")).toBe(remoteMain);
    expect(pushesTo(f)).toHaveLength(1);
  });

  it("replaces its own files: a file the last render wrote and this one does not is removed in the commit", async () => {
    const f = await fixture({ hosts: "old\n" });
    await writeFile(join(f.workspace, "unrelated.txt"), "a user's change, not ours\n");
    const result = await commitBack(options(f, { files: [RENDERED[1]!] }));
    expect(result.outcome).toBe("committed");
    expect(await git(f.bare, "ls-tree", "-r", "--name-only", "main")).toBe(
      ["README.md", `${OUT}/${MANIFEST_FILE}`, `${OUT}/daemonset.yaml`, "mirrors.yaml"].join("\n"),
    );
    await expect(stat(join(f.workspace, OUT, "old.yaml"))).rejects.toThrow();
    // Changes outside the output folder are neither committed nor lost.
    expect(await git(f.workspace, "status", "--porcelain")).toBe("?? unrelated.txt");
  });

  it("survives a push race: the loser applies its files on the new tip and wins on retry", async () => {
    const f = await fixture({ hosts: "old\n" });
    // Someone else pushes while the sync runs; they even touch the output folder.
    const other = join(root, `${f.name}-other`);
    await git(root, "clone", "--quiet", f.bare, other);
    await writeFile(join(other, "mirrors.yaml"), "images: [redis]\n");
    await writeFile(join(other, OUT, "hosts.toml"), "theirs\n");
    await git(other, "commit", "--quiet", "-am", "add redis");
    await git(other, "push", "--quiet", "origin", "main");
    const theirs = await git(other, "rev-parse", "HEAD");

    const run: Run = { logs: [], masked: [] };
    const result = await commitBack(options(f, {}, run));
    expect(result).toMatchObject({ outcome: "committed", attempts: 2 });
    expect(pushesTo(f)).toHaveLength(2);
    // Both commits are in the remote history, ours on top of theirs.
    expect(await git(f.bare, "log", "--format=%s", "main")).toBe(
      [`ecr-mirror: update the rendered node configuration in ${OUT}`, "add redis", "initial"].join("\n"),
    );
    expect(await git(f.bare, "rev-parse", "main~1")).toBe(theirs);
    expect(await git(f.bare, "show", "main:mirrors.yaml")).toBe("images: [redis]");
    // The output folder holds exactly what was rendered (regenerated content wins).
    expect(await git(f.bare, "ls-tree", "-r", "--name-only", "main", "--", OUT)).toBe(
      [MANIFEST_FILE, ...RENDERED.map((file) => file.path)]
        .map((path) => `${OUT}/${path}`)
        .sort()
        .join("\n"),
    );
    expect(await git(f.workspace, "rev-parse", "HEAD")).toBe(result.commitSha);
    await expectNoCredentialLeft(f, run);
  });

  it("gives up after the bounded number of attempts when the branch keeps moving", async () => {
    const f = await fixture();
    const other = join(root, `${f.name}-other`);
    await git(root, "clone", "--quiet", f.bare, other);
    await git(other, "commit", "--quiet", "--allow-empty", "-m", "move");
    await git(other, "push", "--quiet", "origin", "main");
    await expect(commitBack(options(f, { maxAttempts: 1 }))).rejects.toThrow(
      /rejected 1 times.*kept moving/s,
    );
    expect(await git(f.bare, "log", "-1", "--format=%s", "main")).toBe("move");
  });

  it("says none when the moved branch already holds the same files", async () => {
    const f = await fixture();
    const other = join(root, `${f.name}-other`);
    await git(root, "clone", "--quiet", f.bare, other);
    for (const file of RENDERED) {
      await mkdir(join(other, OUT, file.path, ".."), { recursive: true });
      await writeFile(join(other, OUT, file.path), file.content);
      if (file.mode) await chmod(join(other, OUT, file.path), file.mode);
    }
    await writeFile(join(other, OUT, MANIFEST_FILE), formatManifest(RENDERED.map((file) => file.path)));
    await git(other, "add", "-A");
    await git(other, "commit", "--quiet", "-m", "another run committed first");
    await git(other, "push", "--quiet", "origin", "main");
    const result = await commitBack(options(f));
    expect(result).toMatchObject({ outcome: "none", attempts: 1, reason: "main already holds these files" });
    expect(await git(f.bare, "log", "-1", "--format=%s", "main")).toBe("another run committed first");
  });

  it("uses its token over a header persisted by actions/checkout, and leaves checkout's config as it was", async () => {
    const f = await fixture();
    const key = extraHeaderKey(github.serverUrl);
    const persisted = authorizationHeader("ghs_staleTokenFromAnotherJob").header;
    await git(f.workspace, "config", "--local", key, persisted);
    const before = await readFile(join(f.workspace, ".git", "config"), "utf8");

    expect((await commitBack(options(f))).outcome).toBe("committed");
    expect(pushesTo(f).map((r) => r.authorizations)).toEqual([[authorizationHeader(TOKEN).header.slice(15)]]);
    expect(await readFile(join(f.workspace, ".git", "config"), "utf8")).toBe(before);
  });

  it("pushes with checkout's persisted credentials when no token is given", async () => {
    const f = await fixture();
    await git(
      f.workspace,
      "config",
      "--local",
      extraHeaderKey(github.serverUrl),
      authorizationHeader(CHECKOUT_TOKEN).header,
    );
    expect((await commitBack(options(f, { token: "" }))).outcome).toBe("committed");
    expect(pushesTo(f).map((r) => r.authorizations)).toEqual([
      [authorizationHeader(CHECKOUT_TOKEN).header.slice(15)],
    ]);
  });

  it("fails with a hint, without prompting, when there are no credentials at all", async () => {
    const f = await fixture();
    await expect(commitBack(options(f, { token: "" }))).rejects.toThrow(/hint: no usable credentials/);
  });
});

describe("commit-back on protected branches and in pull-request mode", () => {
  async function protect(f: Fixture) {
    const hook = join(f.bare, "hooks", "pre-receive");
    await writeFile(
      hook,
      [
        "#!/bin/sh",
        "while read old new ref; do",
        '  if [ "$ref" = refs/heads/main ]; then',
        '    echo "error: GH006: Protected branch update failed for $ref." >&2',
        '    echo "error: Changes must be made through a pull request." >&2',
        "    exit 1",
        "  fi",
        "done",
        "",
      ].join("\n"),
    );
    await chmod(hook, 0o755);
  }

  it("auto mode falls back to a pull request, then updates it, then says none when it already holds the files", async () => {
    const f = await fixture();
    await protect(f);
    const mainBefore = await git(f.bare, "rev-parse", "main");
    const run: Run = { logs: [], masked: [] };

    const opened = await commitBack(options(f, { mode: "auto" }, run));
    const prTip = await git(f.bare, "rev-parse", "refs/heads/ecr-mirror/node-config");
    expect(opened).toMatchObject({
      outcome: "pull-request-opened",
      commitSha: prTip,
      branch: "ecr-mirror/node-config",
      pullRequestNumber: 1,
      pullRequestUrl: `${github.serverUrl}/acme/${f.name}/pull/1`,
      reason: "main is protected against direct pushes",
    });
    expect(commitBackOutputs(opened)).toEqual({
      outcome: "pull-request-opened",
      "commit-sha": prTip,
      "pull-request-url": `${github.serverUrl}/acme/${f.name}/pull/1`,
    });
    expect(await git(f.bare, "rev-parse", "main")).toBe(mainBefore);
    expect(await git(f.bare, "rev-parse", `${prTip}~1`)).toBe(mainBefore);
    const posts = github.requests.filter(
      (r) => r.kind === "api" && r.path === `/api/v3/repos/acme/${f.name}/pulls` && r.method === "POST",
    );
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({
      authorizations: [`Bearer ${TOKEN}`],
      body: { head: "ecr-mirror/node-config", base: "main" },
    });
    // The workspace was not moved: nothing landed on main.
    expect(await git(f.workspace, "rev-parse", "HEAD")).toBe(mainBefore);

    const changed = RENDERED.map((file) =>
      file.path === "daemonset.yaml" ? { ...file, content: "kind: DaemonSet # v2\n" } : file,
    );
    const updated = await commitBack(options(f, { mode: "auto", files: changed }, run));
    const newTip = await git(f.bare, "rev-parse", "refs/heads/ecr-mirror/node-config");
    expect(updated).toMatchObject({
      outcome: "pull-request-updated",
      commitSha: newTip,
      pullRequestNumber: 1,
    });
    expect(newTip).not.toBe(prTip);
    expect(await git(f.bare, "show", `${newTip}:${OUT}/daemonset.yaml`)).toBe("kind: DaemonSet # v2");
    expect(github.pulls.filter((p) => p.repository === `acme/${f.name}`)).toHaveLength(1);

    const same = await commitBack(options(f, { mode: "auto", files: changed }, run));
    expect(same).toMatchObject({ outcome: "none", commitSha: newTip, pullRequestNumber: 1 });
    expect(same.reason).toMatch(/#1 already holds these files/);
    await expectNoCredentialLeft(f, run);
  });

  it("push mode refuses a protected branch with a hint to use pull-request mode", async () => {
    const f = await fixture();
    await protect(f);
    const error = await commitBack(options(f, { mode: "push" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommitBackError);
    expect((error as CommitBackError).message).toMatch(
      /protected[\s\S]*GH006[\s\S]*hint: use mode pull-request/,
    );
    expect((error as CommitBackError).hint).toMatch(/pull-request/);
    expect((error as CommitBackError).message).not.toContain(TOKEN);
    expect((error as CommitBackError).message).not.toContain(authorizationHeader(TOKEN).encoded);
  });

  it("pull-request mode never pushes to the branch, and reports a repository that forbids Actions to open pull requests", async () => {
    const f = await fixture();
    github.forbidPullRequestCreation = true;
    try {
      await expect(commitBack(options(f, { mode: "pull-request" }))).rejects.toThrow(
        /not permitted to create[\s\S]*Allow GitHub Actions to create and approve pull requests/,
      );
    } finally {
      github.forbidPullRequestCreation = false;
    }
    const result = await commitBack(options(f, { mode: "pull-request" }));
    expect(result.outcome).toBe("pull-request-opened");
    expect(pushesTo(f)).toHaveLength(1);
    expect(await git(f.bare, "rev-list", "--count", "main")).toBe("1");
  });
});

describe("commit-back on pull request events", () => {
  it("never commits for a fork's pull request, and runs no git at all", async () => {
    const f = await fixture();
    const before = github.requests.length;
    const result = await commitBack(
      options(f, {
        event: {
          name: "pull_request",
          refName: "3/merge",
          refType: "branch",
          headRef: "patch-1",
          isFork: true,
        },
        allowOnPullRequest: true,
      }),
    );
    expect(result).toMatchObject({ outcome: "none", attempts: 0 });
    expect(result.reason).toMatch(/fork/);
    expect(github.requests.length).toBe(before);
    await expect(stat(join(f.workspace, OUT))).rejects.toThrow();
  });

  it("commits onto a same-repository pull request's head branch (not GitHub's merge commit) when allowed", async () => {
    const f = await fixture();
    const other = join(root, `${f.name}-other`);
    await git(root, "clone", "--quiet", f.bare, other);
    await git(other, "switch", "--quiet", "-c", "feature");
    await writeFile(join(other, "mirrors.yaml"), "images: [nginx]\n");
    await git(other, "commit", "--quiet", "-am", "add nginx");
    await git(other, "push", "--quiet", "origin", "feature");
    const featureTip = await git(other, "rev-parse", "HEAD");
    // The workspace is at a merge commit of feature into main, as actions/checkout leaves it.
    await git(f.workspace, "fetch", "--quiet", "origin", "feature");
    await git(f.workspace, "merge", "--quiet", "--no-ff", "-m", "Merge feature into main", "FETCH_HEAD");

    const result = await commitBack(
      options(f, {
        event: {
          name: "pull_request",
          refName: "4/merge",
          refType: "branch",
          headRef: "feature",
          isFork: false,
        },
        allowOnPullRequest: true,
      }),
    );
    expect(result).toMatchObject({ outcome: "committed", branch: "feature" });
    expect(await git(f.bare, "rev-parse", "feature~1")).toBe(featureTip);
    expect(await git(f.bare, "rev-list", "--count", "feature")).toBe("3");
    expect(await git(f.bare, "rev-list", "--count", "main")).toBe("1");
  });
});

describe("the output folder", () => {
  it.each([
    [".", /is the workspace itself/],
    ["", /is empty/],
    ["..", /holds the workspace/],
    ["../elsewhere", /is outside the workspace/],
    ["/etc", /is outside the workspace/],
    ["deploy/.git", /is inside \.git/],
    [".git", /is inside \.git/],
  ])("refuses %j", async (outDir, problem) => {
    const f = await fixture();
    const error = await commitBack(options(f, { outDir })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommitBackError);
    expect((error as Error).message).toMatch(problem);
    expect((error as Error).message).toMatch(
      /Nothing was deleted or written[\s\S]*hint: give a folder inside/,
    );
    expect(await git(f.workspace, "status", "--porcelain")).toBe("");
    expect(pushesTo(f)).toHaveLength(0);
  });

  it("refuses a folder that holds files ecr-mirror did not write (no manifest), and touches none of them", async () => {
    const f = await fixture({
      folder: { "values.yaml": "mine: true\n", "kustomization.yaml": "resources: []\n" },
    });
    const error = await commitBack(options(f)).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /deploy\/ecr-mirror is not empty and is not ecr-mirror's \(it has no \.ecr-mirror-files\)[\s\S]*hint: choose a new or empty folder/,
    );
    expect(await readFile(join(f.workspace, OUT, "values.yaml"), "utf8")).toBe("mine: true\n");
    expect(await git(f.workspace, "status", "--porcelain")).toBe("");
    expect(pushesTo(f)).toHaveLength(0);
  });

  it("keeps a user's own file in its folder: neither removed, committed over, nor staged", async () => {
    const f = await fixture({ hosts: "old\n" });
    await writeFile(join(f.workspace, OUT, "notes.md"), "my notes\n");
    const result = await commitBack(options(f));
    expect(result.outcome).toBe("committed");
    expect(await readFile(join(f.workspace, OUT, "notes.md"), "utf8")).toBe("my notes\n");
    expect(await git(f.bare, "ls-tree", "-r", "--name-only", "main", "--", OUT)).not.toContain("notes.md");
    expect(await git(f.workspace, "status", "--porcelain")).toBe(`?? ${OUT}/notes.md`);
  });

  it("takes over a folder an ecr-mirror before the manifest rendered (its README marker, only its files)", async () => {
    const f = await fixture({
      folder: {
        "README.md":
          "<!-- Generated by ecr-mirror. Do not edit: re-render instead. -->\n# Node configuration\n",
        "hosts/quay.io/hosts.toml": "old\n",
        "nodeconfig.yaml": "old\n",
      },
    });
    const result = await commitBack(options(f));
    expect(result.outcome).toBe("committed");
    expect(await git(f.bare, "ls-tree", "-r", "--name-only", "main", "--", OUT)).toBe(
      [MANIFEST_FILE, ...RENDERED.map((file) => file.path)]
        .map((path) => `${OUT}/${path}`)
        .sort()
        .join("\n"),
    );
  });

  it("refuses a manifest that lists a path outside the folder, and deletes nothing", async () => {
    const f = await fixture({
      folder: {
        [MANIFEST_FILE]: `${formatManifest(["daemonset.yaml"])}../../README.md\n`,
        "daemonset.yaml": "kind: DaemonSet\n",
      },
    });
    const error = await commitBack(options(f)).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /\.ecr-mirror-files line 4: "\.\.\/\.\.\/README\.md" is not a file inside deploy\/ecr-mirror/,
    );
    expect(await readFile(join(f.workspace, "README.md"), "utf8")).toBe("# app\n");
    expect(await readFile(join(f.workspace, OUT, "daemonset.yaml"), "utf8")).toBe("kind: DaemonSet\n");
    expect(pushesTo(f)).toHaveLength(0);
  });

  it("refuses a hostile manifest pushed to the branch while the sync ran, and commits nothing", async () => {
    const f = await fixture({ hosts: "old\n" });
    const other = join(root, `${f.name}-other`);
    await git(root, "clone", "--quiet", f.bare, other);
    await writeFile(join(other, OUT, MANIFEST_FILE), "hosts.toml\n../../README.md\n");
    await git(other, "commit", "--quiet", "-am", "a stranger's manifest");
    await git(other, "push", "--quiet", "origin", "main");
    const tip = await git(f.bare, "rev-parse", "main");
    const error = await commitBack(options(f)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommitBackError);
    expect((error as Error).message).toMatch(/line 2: "\.\.\/\.\.\/README\.md" is not a file inside/);
    expect(await git(f.bare, "rev-parse", "main")).toBe(tip);
    expect(await git(f.bare, "show", "main:README.md")).toBe("# app");
  });

  it("keeps a file someone added to the folder on the branch while the sync ran", async () => {
    const f = await fixture({ hosts: "old\n" });
    const other = join(root, `${f.name}-other`);
    await git(root, "clone", "--quiet", f.bare, other);
    await writeFile(join(other, OUT, "kustomization.yaml"), "resources: []\n");
    await git(other, "add", "-A");
    await git(other, "commit", "--quiet", "-m", "kustomize it");
    await git(other, "push", "--quiet", "origin", "main");
    const result = await commitBack(options(f));
    expect(result).toMatchObject({ outcome: "committed", attempts: 2 });
    expect(await git(f.bare, "show", `main:${OUT}/kustomization.yaml`)).toBe("resources: []");
    const owned = await git(f.bare, "ls-tree", "-r", "--name-only", "main", "--", OUT);
    expect(owned).not.toContain("old.yaml");
  });

  it("refuses a rendered file that would land outside the folder", async () => {
    const f = await fixture();
    await expect(
      commitBack(options(f, { files: [{ path: "../../README.md", content: "x" }] })),
    ).rejects.toThrow(/not a relative path inside the output folder/);
    expect(await readFile(join(f.workspace, "README.md"), "utf8")).toBe("# app\n");
  });
});
