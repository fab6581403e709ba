import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decideCommitBack, type EventFacts, pullRequestFacts, readEventFacts } from "../../src/git/event.js";

const base: EventFacts = { name: "push", refName: "main", refType: "branch", headRef: "", isFork: false };

describe("decideCommitBack", () => {
  const cases: [
    string,
    Partial<EventFacts>,
    boolean,
    { allowed: boolean; branch?: string; reason?: RegExp },
  ][] = [
    ["push to a branch", {}, false, { allowed: true, branch: "main" }],
    ["schedule", { name: "schedule" }, false, { allowed: true, branch: "main" }],
    [
      "workflow_dispatch on another branch",
      { name: "workflow_dispatch", refName: "release/1.x" },
      false,
      { allowed: true, branch: "release/1.x" },
    ],
    [
      "push of a tag",
      { refName: "v1.0.0", refType: "tag" },
      false,
      { allowed: false, reason: /tag v1\.0\.0/ },
    ],
    [
      "fork pull request, even when allowed",
      { name: "pull_request", refName: "7/merge", headRef: "patch-1", isFork: true },
      true,
      { allowed: false, reason: /fork/ },
    ],
    [
      "fork pull_request_target",
      { name: "pull_request_target", headRef: "patch-1", isFork: true },
      true,
      { allowed: false, reason: /fork/ },
    ],
    [
      "same-repository pull request, option off",
      { name: "pull_request", refName: "7/merge", headRef: "feature" },
      false,
      { allowed: false, reason: /commit-on-pull-request/ },
    ],
    [
      "same-repository pull request, option on: the head branch",
      { name: "pull_request", refName: "7/merge", headRef: "feature" },
      true,
      { allowed: true, branch: "feature" },
    ],
    ["merge queue", { name: "merge_group" }, true, { allowed: false, reason: /merge_group/ }],
    ["no branch", { refName: "" }, false, { allowed: false, reason: /GITHUB_REF_NAME/ }],
  ];
  it.each(cases)("%s", (_name, event, allowOnPullRequest, expected) => {
    const decision = decideCommitBack({ ...base, ...event }, allowOnPullRequest);
    expect(decision.allowed).toBe(expected.allowed);
    if (decision.allowed) expect(decision.branch).toBe(expected.branch);
    else expect(decision.reason).toMatch(expected.reason!);
  });
});

describe("readEventFacts", () => {
  async function facts(payload: unknown, env: NodeJS.ProcessEnv = {}) {
    const dir = await mkdtemp(join(tmpdir(), "ecr-mirror-event-"));
    try {
      await writeFile(join(dir, "event.json"), JSON.stringify(payload));
      return await readEventFacts({
        GITHUB_EVENT_NAME: "pull_request",
        GITHUB_EVENT_PATH: join(dir, "event.json"),
        GITHUB_REPOSITORY: "acme/app",
        GITHUB_REF_NAME: "7/merge",
        GITHUB_HEAD_REF: "feature",
        ...env,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it("tells a same-repository pull request from a fork's by the head repository", async () => {
    const same = await facts({
      repository: { full_name: "acme/app" },
      pull_request: { head: { repo: { full_name: "Acme/App" } } },
    });
    expect(same).toEqual({
      name: "pull_request",
      refName: "7/merge",
      refType: "",
      headRef: "feature",
      isFork: false,
    });
    const fork = await facts({
      repository: { full_name: "acme/app" },
      pull_request: { head: { repo: { full_name: "mallory/app" } } },
    });
    expect(fork.isFork).toBe(true);
  });

  it("treats a pull request whose head repository was deleted as a fork's", async () => {
    expect(
      (await facts({ repository: { full_name: "acme/app" }, pull_request: { head: { repo: null } } })).isFork,
    ).toBe(true);
  });

  it("reads branch events from the environment alone", async () => {
    const push = await readEventFacts({
      GITHUB_EVENT_NAME: "push",
      GITHUB_REF_NAME: "main",
      GITHUB_REF_TYPE: "branch",
    });
    expect(push).toEqual({ name: "push", refName: "main", refType: "branch", headRef: "", isFork: false });
  });
});

describe("pullRequestFacts", () => {
  const head = (repo: string) => ({
    sha: "abc1234",
    ref: "patch-1",
    repo: { full_name: repo, owner: { login: repo.split("/")[0] } },
  });
  it("a fork's pull_request token may not write; pull_request_target's and workflow_run's may", () => {
    const payload = {
      repository: { full_name: "acme/m" },
      pull_request: { number: 3, head: head("fork/m") },
    };
    expect(pullRequestFacts("pull_request", payload, "acme/m")).toMatchObject({
      number: 3,
      headSha: "abc1234",
      isFork: true,
      tokenMayWrite: false,
    });
    expect(pullRequestFacts("pull_request_target", payload, "acme/m")?.tokenMayWrite).toBe(true);
    const run = {
      workflow_run: {
        event: "pull_request",
        head_sha: "def5678",
        head_branch: "patch-1",
        head_repository: { full_name: "fork/m", owner: { login: "fork" } },
        pull_requests: [],
      },
    };
    expect(pullRequestFacts("workflow_run", run, "acme/m")).toEqual({
      number: null,
      headSha: "def5678",
      headOwner: "fork",
      headBranch: "patch-1",
      isFork: true,
      viaWorkflowRun: true,
      tokenMayWrite: true,
    });
  });

  it("no pull request for a push, or a workflow_run after a push", () => {
    expect(pullRequestFacts("push", {}, "acme/m")).toBeNull();
    expect(pullRequestFacts("workflow_run", { workflow_run: { event: "push" } }, "acme/m")).toBeNull();
  });
});
