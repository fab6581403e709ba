// The pull-request review as a reviewer meets it: the action from source (`run`, src/main.ts) on pull-request
// events, against the local GitHub stand-in (test/git/local-github.ts): one comment per mirror list, created
// once and updated on every push, never duplicated; a fork's read-only token handled; and a job summary for
// every mode, an invalid list's problems linked to their lines at the head commit.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { run } from "../../src/main.js";
import { type LocalGitHub, startLocalGitHub } from "../git/local-github.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { inputsOf, recordingDeps } from "./recording-core.js";

const TOKEN = "ghs_review_token_0123456789";
const READ_ONLY = "ghs_fork_token_0123456789";
const HEAD = "c0ffee0123456789abcdef0123456789abcdef01";
const REPO = "acme/mirrors";

let root: string;
let github: LocalGitHub;
let pullNumber = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "review-"));
  await mkdir(join(root, "git"));
  github = await startLocalGitHub(join(root, "git"), [TOKEN, READ_ONLY]);
  github.readOnlyTokens.add(READ_ONLY);
});
afterAll(async () => {
  await github?.stop();
  await rm(root, { recursive: true, force: true });
});

/** A new open pull request in the stand-in, from `headOwner`'s branch (a fork when not acme). */
function openPull(headOwner = "acme"): number {
  pullNumber += 1;
  github.pulls.push({
    repository: REPO,
    number: pullNumber,
    head: `patch-${pullNumber}`,
    ...(headOwner === "acme" ? {} : { headOwner }),
    base: "main",
    title: "Mirror more images",
    body: "",
    state: "open",
    html_url: `${github.serverUrl}/${REPO}/pull/${pullNumber}`,
  });
  return pullNumber;
}

async function workspaceWith(files: Record<string, string>): Promise<string> {
  const workspace = await mkdtemp(join(root, "ws-"));
  await mkdir(join(workspace, "config"));
  for (const [name, text] of Object.entries(files)) await writeFile(join(workspace, name), text);
  return workspace;
}

/** The runner's environment for a `pull_request` event of pull request `number`, head `HEAD`. */
async function pullRequestEvent(number: number, headRepo = REPO): Promise<NodeJS.ProcessEnv> {
  const path = join(await mkdtemp(join(root, "event-")), "event.json");
  await writeFile(
    path,
    JSON.stringify({
      repository: { full_name: REPO },
      pull_request: {
        number,
        head: {
          sha: HEAD,
          ref: `patch-${number}`,
          repo: { full_name: headRepo, owner: { login: headRepo.split("/")[0] } },
        },
      },
    }),
  );
  return {
    GITHUB_EVENT_NAME: "pull_request",
    GITHUB_EVENT_PATH: path,
    GITHUB_REPOSITORY: REPO,
    GITHUB_SERVER_URL: github.serverUrl,
    GITHUB_API_URL: github.apiUrl,
    GITHUB_SHA: "ffffffffffffffffffffffffffffffffffffffff",
    RUNNER_TEMP: root,
  };
}

const commentsOn = (number: number) => github.comments.filter((c) => c.issue === number);
const commentCalls = () =>
  github.requests.filter((r) => r.kind === "api" && r.path.includes("/issues/")).map((r) => r.method);
const lineUrl = (file: string, line: number) => `${github.serverUrl}/${REPO}/blob/${HEAD}/${file}#L${line}`;

beforeEach(() => {
  github.requests.length = 0;
});

describe("the pull-request comment", () => {
  it("is created once, then updated on the next push, never duplicated", async () => {
    const number = openPull();
    const env = await pullRequestEvent(number);
    const workspace = await workspaceWith({
      "config/mirrors.yaml": "images:\n  - redis:7.0\n  - Redis:7.0\n",
    });
    const first = recordingDeps(workspace, env);
    await run(inputsOf({ "mirror-file": "config/mirrors.yaml", "github-token": TOKEN }), first.deps);
    expect(first.recorded.failed).toEqual([
      "config/mirrors.yaml has 1 error; nothing was copied or committed.",
    ]);
    expect(commentsOn(number)).toHaveLength(1);
    const [comment] = commentsOn(number);
    expect(
      comment!.body.startsWith("<!-- ecr-mirror -->\n<!-- ecr-mirror list: config/mirrors.yaml -->\n"),
    ).toBe(true);
    expect(comment!.body).toContain("`config/mirrors.yaml` has 1 error ❌");
    expect(comment!.body).toContain(`[3:5](${lineUrl("config/mirrors.yaml", 3)})`);
    expect(first.recorded.outputs.comment).toBe("created");

    // The next push fixes the list: the same comment now says it is valid.
    await writeFile(join(workspace, "config/mirrors.yaml"), "images:\n  - redis:7.0\n");
    const second = recordingDeps(workspace, env);
    await run(inputsOf({ "mirror-file": "config/mirrors.yaml", "github-token": TOKEN }), second.deps);
    expect(second.recorded.failed).toEqual([]);
    expect(commentsOn(number)).toHaveLength(1);
    expect(commentsOn(number)[0]!.id).toBe(comment!.id);
    expect(commentsOn(number)[0]!.body).toContain("`config/mirrors.yaml` is valid ✅");
    expect(second.recorded.outputs.comment).toBe("updated");
    expect(commentCalls()).toEqual(["GET", "POST", "GET", "PATCH"]);
    // The comment and the job summary are the same text.
    expect(commentsOn(number)[0]!.body).toContain(second.recorded.summary);
  });

  it("finds its comment past the first page of a long discussion", async () => {
    const number = openPull();
    const env = await pullRequestEvent(number);
    const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n" });
    for (let i = 0; i < 150; i++)
      github.comments.push({
        repository: REPO,
        issue: number,
        id: 10_000 + i,
        body: `looks good ${i}`,
        html_url: "",
        created_at: "",
        updated_at: "",
        user: { login: "reviewer", type: "User" },
      });
    for (let push = 0; push < 2; push++) {
      const { deps } = recordingDeps(workspace, env);
      await run(inputsOf({ "mirror-file": "mirrors.yaml", "github-token": TOKEN }), deps);
    }
    expect(commentsOn(number).filter((c) => c.body.startsWith("<!-- ecr-mirror -->"))).toHaveLength(1);
    // Two pages to find nothing and create; two pages to find it and update.
    expect(commentCalls()).toEqual(["GET", "GET", "POST", "GET", "GET", "PATCH"]);
  });

  it("keeps one comment per mirror list when a repository has several", async () => {
    const number = openPull();
    const env = await pullRequestEvent(number);
    const workspace = await workspaceWith({
      "config/team-a.yaml": "images:\n  - redis:7.0\n",
      "config/team-b.yaml": "images:\n  - nginx:1.27\n",
    });
    for (const file of ["config/team-a.yaml", "config/team-b.yaml", "config/team-a.yaml"]) {
      const { deps } = recordingDeps(workspace, env);
      await run(inputsOf({ "mirror-file": file, "github-token": TOKEN }), deps);
    }
    const bodies = commentsOn(number).map((c) => c.body.split("\n")[1]);
    expect(bodies).toEqual([
      "<!-- ecr-mirror list: config/team-a.yaml -->",
      "<!-- ecr-mirror list: config/team-b.yaml -->",
    ]);
  });

  it("is not tried for a fork's pull request (auto): a notice points to the workflow_run pattern", async () => {
    const number = openPull("someone");
    const env = await pullRequestEvent(number, "someone/mirrors");
    const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n" });
    const { deps, recorded } = recordingDeps(workspace, env);
    await run(inputsOf({ "mirror-file": "mirrors.yaml", "github-token": READ_ONLY }), deps);
    expect(recorded.failed).toEqual([]);
    expect(commentCalls()).toEqual([]);
    expect(recorded.annotations.filter((a) => a.severity === "notice").map((a) => a.message)).toEqual([
      expect.stringContaining("workflow_run pattern"),
    ]);
    expect(recorded.summary).toContain("`mirrors.yaml` is valid ✅");
  });

  it("does not fail the step when GitHub refuses a read-only token (403): a notice says what to do", async () => {
    const number = openPull("someone");
    const env = await pullRequestEvent(number, "someone/mirrors");
    const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n" });
    const { deps, recorded } = recordingDeps(workspace, env);
    await run(
      inputsOf({ "mirror-file": "mirrors.yaml", "github-token": READ_ONLY, comment: "always" }),
      deps,
    );
    expect(recorded.failed).toEqual([]);
    expect(commentCalls()).toEqual(["GET", "POST"]);
    expect(commentsOn(number)).toEqual([]);
    const notice = recorded.annotations.find((a) => a.severity === "notice")!;
    expect(notice.message).toContain("HTTP 403 Resource not accessible by integration");
    expect(notice.message).toContain("workflow_run pattern");
    expect(recorded.outputs.comment).toBe("forbidden");
  });

  it("is written from workflow_run for a fork's pull request, found by its head", async () => {
    const number = openPull("someone");
    const path = join(await mkdtemp(join(root, "event-")), "event.json");
    await writeFile(
      path,
      JSON.stringify({
        workflow_run: {
          event: "pull_request",
          head_sha: HEAD,
          head_branch: `patch-${number}`,
          head_repository: { full_name: "someone/mirrors", owner: { login: "someone" } },
          pull_requests: [],
        },
        repository: { full_name: REPO },
      }),
    );
    const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n  - nginx\n" });
    const { deps, recorded } = recordingDeps(workspace, {
      GITHUB_EVENT_NAME: "workflow_run",
      GITHUB_EVENT_PATH: path,
      GITHUB_REPOSITORY: REPO,
      GITHUB_SERVER_URL: github.serverUrl,
      GITHUB_API_URL: github.apiUrl,
    });
    await run(inputsOf({ "mirror-file": "mirrors.yaml", "github-token": TOKEN }), deps);
    expect(recorded.outputs.comment).toBe("created");
    expect(commentsOn(number)).toHaveLength(1);
    expect(commentsOn(number)[0]!.body).toContain(`[3:5](${lineUrl("mirrors.yaml", 3)})`);
  });

  it("is never written with comment: never", async () => {
    const number = openPull();
    const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n" });
    const { deps, recorded } = recordingDeps(workspace, await pullRequestEvent(number));
    await run(inputsOf({ "mirror-file": "mirrors.yaml", "github-token": TOKEN, comment: "never" }), deps);
    expect(commentCalls()).toEqual([]);
    expect(recorded.summary).toContain("is valid");
  });
});

describe("the job summary", () => {
  it("lists an invalid list's problems, each linked to its line at the head commit", async () => {
    const workspace = await workspaceWith({
      "config/mirrors.yaml": "images:\n  - redis:7.0\n  - Redis:7.0\n  - nginx\n",
    });
    const { deps, recorded } = recordingDeps(workspace, await pullRequestEvent(openPull()));
    await run(inputsOf({ "mirror-file": "config/mirrors.yaml", comment: "never" }), deps);
    expect(recorded.summary).toContain("### ecr-mirror: `config/mirrors.yaml` has 2 errors ❌");
    expect(recorded.summary).toContain("Nothing was planned, copied or committed.");
    expect(recorded.summary).toMatch(
      new RegExp(
        `\\| \\[3:5\\]\\(${lineUrl("config/mirrors.yaml", 3).replace(/[.?]/g, "\\$&")}\\) \\| error \\| invalid image reference "Redis:7\\.0"`,
      ),
    );
    expect(recorded.summary).toContain(`[4:5](${lineUrl("config/mirrors.yaml", 4)})`);
  });

  it("says a valid list is valid in mode validate, with its counts", async () => {
    const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n  - nginx:1.27\n" });
    const { deps, recorded } = recordingDeps(workspace);
    await run(inputsOf({ "mirror-file": "mirrors.yaml", mode: "validate" }), deps);
    expect(recorded.summary).toContain("### ecr-mirror: `mirrors.yaml` is valid ✅");
    expect(recorded.summary).toContain("2 image tags in 2 repositories");
    expect(recorded.summary).toContain("Checked offline (mode validate)");
  });

  describe("of a plan", () => {
    let target: RunningRegistry;
    beforeAll(async () => {
      target = await startRegistry();
      await pushImage(target.url, "mirrors/library/redis", "7.0", { seed: "redis-7.0" });
    });
    afterAll(async () => {
      await target?.stop();
    });

    it("is the pull request's comment too, new tags first and linked to their lines", async () => {
      const number = openPull();
      const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n  - alpine:3.20\n" });
      const { deps, recorded } = recordingDeps(workspace, await pullRequestEvent(number));
      await run(
        inputsOf({
          "mirror-file": "mirrors.yaml",
          mode: "plan",
          "registry-url": target.url,
          "github-token": TOKEN,
        }),
        deps,
      );
      expect(recorded.failed).toEqual([]);
      const body = commentsOn(number)[0]!.body;
      expect(body).toContain(recorded.summary);
      const changes = body.indexOf("(1)\n");
      const unchanged = body.indexOf("<details><summary>Unchanged: 1 tag already present in 1 repository");
      expect(0 < changes && changes < unchanged).toBe(true);
      expect(body.slice(changes, unchanged)).toContain(`[\`3.20\`](${lineUrl("mirrors.yaml", 3)})`);
      expect(body.slice(unchanged)).toContain(`[\`7.0\`](${lineUrl("mirrors.yaml", 2)})`);
    });

    it("says why a plan failed", async () => {
      const workspace = await workspaceWith({ "mirrors.yaml": "images:\n  - redis:7.0\n" });
      const { deps, recorded } = recordingDeps(workspace, { RUNNER_TEMP: root });
      await run(
        inputsOf({ "mirror-file": "mirrors.yaml", mode: "plan", "registry-url": "http://127.0.0.1:9" }),
        deps,
      );
      expect(recorded.failed).toHaveLength(1);
      expect(recorded.summary).toContain("### ecr-mirror plan failed ❌");
      expect(recorded.summary).toContain("127.0.0.1:9");
    });
  });
});
