// End to end: the bundled action (dist/index.js, rebuilt first when src/ moved on) on a pull request, run the
// way the runner runs it, against the local ECR and the local GitHub stand-in: the plan as one pull-request
// comment, created and then updated; and the deletion guard, which fails a plan and a sync that would prune
// more tags than the list allows before anything is deleted.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, type ECRClient, ListImagesCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalGitHub, startLocalGitHub } from "../git/local-github.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { type ActionRunner, prepareRunner, runStep } from "./bundle.js";

const TOKEN = "ghs_e2e_review_token_0123456789";
const HEAD = "feedface0123456789abcdef0123456789abcdef";
const REPO = "org/platform";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let github: LocalGitHub;
let client: ECRClient;
let root: string;
let runner: ActionRunner;
let pullEnv: Record<string, string>;

const LIST = (prune: string) => `target:
  type: ecr
${prune}upstreams:
  docker.io:
    endpoint: http://${upstream.host}
images:
  - redis:7.0
  - alpine:3.20
`;

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "e2e-review-"));
  runner = await prepareRunner(root);
  await mkdir(join(root, "git"));
  github = await startLocalGitHub(join(root, "git"), [TOKEN]);
  client = ecr.client();
  await pushImage(upstream.url, "library/redis", "7.0", { seed: "redis-7.0" });
  await pushImage(upstream.url, "library/alpine", "3.20", { seed: "alpine" });
  // The target holds redis 7.0 and three tags the list no longer names.
  await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/library/redis" }));
  for (const tag of ["7.0", "6.0", "6.2", "5.0"])
    await pushImage(`http://${ecr.registryHost}`, "mirrors/library/redis", tag, {
      seed: `redis-${tag}`,
      auth: { user: "AWS", password: ecr.password },
    });
  github.pulls.push({
    repository: REPO,
    number: 12,
    head: "more-images",
    base: "main",
    title: "Mirror alpine",
    body: "",
    state: "open",
    html_url: `${github.serverUrl}/${REPO}/pull/12`,
  });
  const event = join(root, "event.json");
  await writeFile(
    event,
    JSON.stringify({
      repository: { full_name: REPO },
      pull_request: { number: 12, head: { sha: HEAD, ref: "more-images", repo: { full_name: REPO } } },
    }),
  );
  pullEnv = {
    ...ecr.env(),
    GITHUB_EVENT_NAME: "pull_request",
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: REPO,
    GITHUB_SERVER_URL: github.serverUrl,
    GITHUB_API_URL: github.apiUrl,
  };
});

afterAll(async () => {
  await github?.stop();
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

async function tagsInTarget(): Promise<string[]> {
  const listed = await client.send(new ListImagesCommand({ repositoryName: "mirrors/library/redis" }));
  return (listed.imageIds ?? []).map((i) => i.imageTag ?? "").sort();
}

const step = async (list: string, inputs: Record<string, string>) => {
  await writeFile(join(runner.workspace, "mirrors.yaml"), list);
  return runStep(
    runner,
    { "mirror-file": "mirrors.yaml", "render-dir": "", "github-token": TOKEN, ...inputs },
    pullEnv,
  );
};

describe("the bundled action on a pull request", () => {
  it("keeps the plan in one comment: created by the first run, updated by the next", async () => {
    const first = await step(LIST(""), { mode: "plan" });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs.comment).toBe("created");
    const second = await step(LIST(""), { mode: "plan" });
    expect(second.outputs.comment).toBe("updated");
    const comments = github.comments.filter((c) => c.issue === 12);
    expect(comments).toHaveLength(1);
    const body = comments[0]!.body;
    expect(body.startsWith("<!-- ecr-mirror -->\n<!-- ecr-mirror list: mirrors.yaml -->\n")).toBe(true);
    expect(body).toContain(second.summary.trim());
    const line = (n: number) => `${github.serverUrl}/${REPO}/blob/${HEAD}/mirrors.yaml#L${n}`;
    expect(body).toContain(
      `| \`mirrors/library/alpine\` | \`docker.io/library/alpine\` | [\`3.20\`](${line(8)}) |`,
    );
    expect(body.indexOf("#### New repositories (1)")).toBeLessThan(
      body.indexOf("<details><summary>Unchanged"),
    );
    expect(body).not.toContain(TOKEN);
  });

  it("fails a plan that would prune more than target.maxDeletions, on the list's line, before anything is deleted", async () => {
    const run = await step(LIST("  prune: true\n  maxDeletions: 2\n"), { mode: "plan" });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(
      /::error title=ecr-mirror plan failed,file=mirrors\.yaml,line=4,col=17::the plan deletes 3 tags, more than the limit of 2/,
    );
    expect(run.summary).toContain("> [!CAUTION]\n> This plan **deletes 3 tags** from the target");
    const body = github.comments.find((c) => c.issue === 12)!.body;
    expect(body).toContain("more than the limit of 2 (target.maxDeletions): the plan fails");
  });

  it("fails a sync over the limit before it creates, copies or deletes anything", async () => {
    ecr.resetCounts();
    const run = await step(LIST("  prune: true\n  maxDeletions: 2\n"), { mode: "sync", comment: "never" });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain("the plan deletes 3 tags, more than the limit of 2 (target.maxDeletions)");
    expect(await tagsInTarget()).toEqual(["5.0", "6.0", "6.2", "7.0"]);
    expect(ecr.calls.BatchDeleteImage ?? 0).toBe(0);
    expect(ecr.calls.CreateRepository ?? 0).toBe(0);
    expect(ecr.gateRequests().filter((r) => !["GET", "HEAD"].includes(r.method))).toEqual([]);
    expect(run.summary).toContain("the plan fails, and a sync deletes nothing");
  });
});
