// The canary: a distinct fake value for every kind of credential a run can know is planted (AWS keys and session
// token, the GitHub tokens, the secret inputs, the ECR token, upstream credentials, a credential inside a URL),
// the action bundle syncs against the local ECR with commit-back into a local GitHub, one copy fails with a tool
// that prints its whole environment, and then every place a person or a later step could read is searched for
// every planted value, raw and base64: stdout and stderr, GITHUB_OUTPUT, the step summary, every file under
// RUNNER_TEMP and the workspace, the report and the plan file, the git history, and the environment of every
// child process. The only place a value may appear is the runner's own `::add-mask::` line, which is how it is
// masked.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalGitHub, startLocalGitHub } from "../git/local-github.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { git } from "../harness/git.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { REAL_TOOLS, readInvocationLog } from "../stand-ins/stand-ins.js";
import { type ActionRun, CLI, listFiles, runAction, runNode, toolCacheWithCrane } from "./bundle.js";

/** How the stand-ins' invocation log keeps an environment value (test/stand-ins/lib/invocation-log.mjs). */
const envValueHash = (value: string) => createHash("sha256").update(value).digest("hex").slice(0, 16);

/** One recognisable value per kind of secret; `pairs` are what Basic auth carries (base64 of `user:secret`). */
const CANARY = {
  awsAccessKeyId: "AKIACANARY0AWSKEY01",
  awsSecret: "canary-aws-secret-access-key-02",
  awsSession: "canary-aws-session-token-03",
  inputGithubToken: "ghs_canaryInputGithubToken04",
  githubToken: "ghs_canaryEnvGithubToken05",
  runtimeToken: "canary-actions-runtime-token-06",
  idTokenRequest: "canary-id-token-request-token-07",
  dockerHubToken: "dckr_pat_canary_docker_hub_08",
  registryCredentialsToken: "canary-registry-credentials-token-09",
  registryPassword: "canary-registry-password-10",
  urlPassword: "canary-url-password-11",
  proxyPassword: "canary-proxy-password-12",
};
const DOCKER_HUB_USER = "canaryhubuser";
const REGCRED_USER = "canarybot";
const URL_USER = "canaryurluser";
const PROXY_USER = "canaryproxyuser";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let github: LocalGitHub;
let root: string;
let runnerTemp: string;
let workspace: string;
let remote: string;
let toolCache: string;
let standInLog: string;
/** The commit the test made (the mirror lists, one with a URL credential the user wrote themselves). */
let seedCommit: string;
/** Files the test itself wrote into the repository. */
const SEEDED = ["mirrors.yaml", "mirrors-failing.yaml", "mirrors-url.yaml"];
const runs: ActionRun[] = [];

/** Every planted value in every form a leak could take. */
function forms(): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const add = (name: string, value: string) => {
    out.push({ name, value }, { name: `${name} (base64)`, value: b64(value) });
  };
  for (const [name, value] of Object.entries(CANARY)) add(name, value);
  add("ECR password", ecr.password);
  out.push({ name: "ECR token", value: ecr.token });
  add("Docker Hub pair", `${DOCKER_HUB_USER}:${CANARY.dockerHubToken}`);
  add("registry-credentials pair", `${REGCRED_USER}:${CANARY.registryCredentialsToken}`);
  add("git pair", `x-access-token:${CANARY.inputGithubToken}`);
  add("URL pair", `${URL_USER}:${CANARY.urlPassword}`);
  add("proxy pair", `${PROXY_USER}:${CANARY.proxyPassword}`);
  return out;
}

/** stdout without the masking protocol itself: the runner consumes `::add-mask::` lines and shows none. */
function shown(stdout: string): string {
  return stdout
    .split(/\r\n|\r|\n/)
    .filter((l) => !l.startsWith("::add-mask::"))
    .join("\n");
}

function stepEnv(): Record<string, string> {
  return {
    // A short PATH keeps a tool's printed environment whole within the error text the product keeps.
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: join(root, "home"),
    ...ecr.env(),
    AWS_ACCESS_KEY_ID: CANARY.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: CANARY.awsSecret,
    AWS_SESSION_TOKEN: CANARY.awsSession,
    GITHUB_TOKEN: CANARY.githubToken,
    ACTIONS_RUNTIME_TOKEN: CANARY.runtimeToken,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: CANARY.idTokenRequest,
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: toolCache,
    GITHUB_EVENT_NAME: "schedule",
    GITHUB_REF_NAME: "main",
    GITHUB_REF_TYPE: "branch",
    GITHUB_REPOSITORY: "acme/platform",
    GITHUB_SERVER_URL: github.serverUrl,
    GITHUB_API_URL: github.apiUrl,
    // A corporate proxy with credentials in its URL: the tools may need it, nothing may print it.
    HTTPS_PROXY: `http://${PROXY_USER}:${CANARY.proxyPassword}@proxy.invalid:3128`,
    NO_PROXY: "127.0.0.1,localhost",
    STANDIN_LOG: standInLog,
    STANDIN_PRINT_ENV_ON_FAILURE: "1",
    // The stand-ins' own variables, passed to the tools by name once the child environment is allow-listed.
    ECR_MIRROR_TOOL_ENV: "STANDIN_LOG,STANDIN_PRINT_ENV_ON_FAILURE",
  };
}

function inputs(list: string): Record<string, string> {
  return {
    mode: "sync",
    "mirror-file": list,
    "render-dir": "deploy/ecr-mirror",
    "commit-back": "push",
    "github-token": CANARY.inputGithubToken,
    "docker-hub-username": DOCKER_HUB_USER,
    "docker-hub-token": CANARY.dockerHubToken,
    "registry-credentials": `ghcr.io ${REGCRED_USER} ${CANARY.registryCredentialsToken}`,
    "registry-username": "canarytarget",
    "registry-password": CANARY.registryPassword,
  };
}

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "e2e-canary-"));
  github = await startLocalGitHub(join(root, "remote"), [CANARY.inputGithubToken]);
  runnerTemp = join(root, "runner-temp");
  toolCache = join(root, "tool-cache");
  standInLog = join(root, "standin.jsonl");
  await Promise.all([mkdir(runnerTemp), mkdir(join(root, "home"))]);
  await toolCacheWithCrane(toolCache);
  await pushImage(upstream.url, "library/redis", "7.0", { seed: "canary-redis" });
  await pushImage(upstream.url, "aws-cli/aws-cli", "2.15.62", { seed: "canary-aws-cli" });

  // The repository on the local GitHub, and the workspace as actions/checkout leaves it (a shallow clone).
  remote = join(root, "remote", "acme", "platform.git");
  const seed = join(root, "seed");
  await mkdir(remote, { recursive: true });
  await git(remote, "init", "--quiet", "--bare", "--initial-branch=main");
  await git(root, "init", "--quiet", "--initial-branch=main", seed);
  const upstreams = `upstreams:\n  docker.io: { endpoint: "http://${upstream.host}" }\n  public.ecr.aws: { endpoint: "http://${upstream.host}" }\n`;
  await writeFile(join(seed, "mirrors.yaml"), `${upstreams}images:\n  - redis:7.0\n`);
  await writeFile(
    join(seed, "mirrors-failing.yaml"),
    `${upstreams}images:\n  - redis:7.0\n  - redis:no-such-tag\n`,
  );
  // A credential inside an upstream endpoint URL (a list may be rejected for it; it must be masked either way).
  await writeFile(
    join(seed, "mirrors-url.yaml"),
    `upstreams:\n  docker.io: { endpoint: "http://${URL_USER}:${CANARY.urlPassword}@${upstream.host}" }\nimages:\n  - redis:7.0\n`,
  );
  await git(seed, "add", "-A");
  await git(seed, "commit", "--quiet", "-m", "mirror lists");
  await git(seed, "push", "--quiet", remote, "main");
  seedCommit = (await git(seed, "rev-parse", "HEAD")).trim();
  workspace = join(root, "workspace");
  await git(
    root,
    "clone",
    "--quiet",
    "--depth",
    "1",
    "--branch",
    "main",
    `${github.serverUrl}/acme/platform`,
    workspace,
  );

  // 1: a sync that renders and commits back (the GitHub token pushes).
  runs.push(await runAction(join(root, "step-1"), inputs("mirrors.yaml"), stepEnv(), workspace));
  // 2: a sync where one copy fails and the tool prints its whole environment.
  runs.push(await runAction(join(root, "step-2"), inputs("mirrors-failing.yaml"), stepEnv(), workspace));
  // 3: a list with a credential in an upstream URL, planned.
  runs.push(
    await runAction(
      join(root, "step-3"),
      { ...inputs("mirrors-url.yaml"), mode: "plan" },
      stepEnv(),
      workspace,
    ),
  );
  // 4: a plan (it writes the plan file).
  runs.push(
    await runAction(join(root, "step-4"), { ...inputs("mirrors.yaml"), mode: "plan" }, stepEnv(), workspace),
  );
}, 120_000);

afterAll(async () => {
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop(), github?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the canary", () => {
  it("the runs did what a leak needs: a commit pushed with the token, and a failing tool that printed its environment", async () => {
    const [first, failing, , plan] = runs as [ActionRun, ActionRun, ActionRun, ActionRun];
    expect(plan.code, plan.stdout).toBe(0);
    expect(first.code, first.stdout).toBe(0);
    expect(first.outputs["commit-back"]).toBe("committed");
    expect(failing.outputs.failed).toBe("1");
    const report = JSON.parse(readFileSync(failing.outputs["report-path"]!, "utf8"));
    const error: string = report.steps.find((s: { outcome: string }) => s.outcome === "failed").error;
    // The environment dump reached the report (redacted): the search below has something to find.
    expect(error).toContain("stand-in environment:");
    expect(error).toContain('"DOCKER_CONFIG":');
    expect(failing.stdout).toContain("stand-in environment:");
  });

  it("every planted secret is masked with the runner (::add-mask::), raw and base64", () => {
    const masked = new Set(
      runs.flatMap((r) =>
        r.stdout
          .split("\n")
          .filter((l) => l.startsWith("::add-mask::"))
          .map((l) => l.slice("::add-mask::".length)),
      ),
    );
    const plain = Object.entries(CANARY).filter(([name]) => name !== "urlPassword");
    for (const [name, value] of plain) {
      expect(masked.has(value), name).toBe(true);
      expect(masked.has(Buffer.from(value).toString("base64")), `${name} (base64)`).toBe(true);
    }
    expect(masked.has(CANARY.urlPassword), "the password in the upstream URL").toBe(true);
    expect(masked.has(ecr.token)).toBe(true);
  });

  it("no planted value in stdout, stderr, outputs, summaries, reports, any file under RUNNER_TEMP or the workspace, or the git history", async () => {
    const places: { where: string; text: string }[] = [];
    runs.forEach((r, i) => {
      places.push(
        { where: `run ${i + 1} stdout`, text: shown(r.stdout) },
        { where: `run ${i + 1} stderr`, text: r.stderr },
        { where: `run ${i + 1} GITHUB_OUTPUT`, text: readFileSync(r.outputFile, "utf8") },
        { where: `run ${i + 1} GITHUB_STEP_SUMMARY`, text: r.summary },
      );
    });
    const seeded = new Set(SEEDED.map((f) => join(workspace, f)));
    for (const dir of [runnerTemp, workspace])
      for (const file of listFiles(dir))
        if (!seeded.has(file)) places.push({ where: file, text: readFileSync(file, "latin1") });
    // What ecr-mirror committed and pushed (the test's own commit holds the list it wrote).
    for (const [where, dir] of [
      ["workspace", workspace],
      ["remote", remote],
    ] as const) {
      const history = await git(dir, "log", "-p", "--all", "--not", seedCommit);
      expect(history, `commits by ecr-mirror in the ${where}`).toContain("github-actions[bot]");
      places.push({ where: `git log -p --all (${where})`, text: history });
    }
    expect(places.some((p) => p.where.endsWith("ecr-mirror-report.json"))).toBe(true);
    expect(places.some((p) => p.where.endsWith("ecr-mirror-plan.json"))).toBe(true);
    const leaks: string[] = [];
    for (const { where, text } of places)
      for (const { name, value } of forms()) if (text.includes(value)) leaks.push(`${name} in ${where}`);
    expect(leaks).toEqual([]);
  });

  // With the real tools there is no invocation log; the stand-ins record every child's environment.
  it("no planted value reached the environment of crane or helm", () => {
    if (REAL_TOOLS) return;
    const records = readInvocationLog(standInLog);
    expect(records.length).toBeGreaterThan(0);
    const planted = new Map(forms().map(({ name, value }) => [envValueHash(value), name]));
    const reached: string[] = [];
    for (const r of records)
      for (const [variable, hash] of Object.entries(r.env))
        if (planted.has(hash)) reached.push(`${planted.get(hash)} as ${variable} in ${r.tool} ${r.argv[0]}`);
    expect(reached).toEqual([]);
  });

  it("the CLI: nothing planted in stdout (--json), stderr, the --report file or its temporary folder", async () => {
    const temp = await mkdtemp(join(root, "cli-temp-"));
    const reportPath = join(temp, "report.json");
    const env = {
      ...stepEnv(),
      RUNNER_TEMP: temp,
      ECR_MIRROR_DOCKER_HUB_USERNAME: DOCKER_HUB_USER,
      ECR_MIRROR_DOCKER_HUB_TOKEN: CANARY.dockerHubToken,
      ECR_MIRROR_REGISTRY_CREDENTIALS: `ghcr.io ${REGCRED_USER} ${CANARY.registryCredentialsToken}`,
      ECR_MIRROR_TARGET_USERNAME: "canarytarget",
      ECR_MIRROR_TARGET_PASSWORD: CANARY.registryPassword,
    };
    const runsOfCli = [
      await runNode(CLI, ["sync", "mirrors-failing.yaml", "--json", "--report", reportPath], env, workspace),
      await runNode(CLI, ["sync", "mirrors-failing.yaml"], env, workspace),
      await runNode(CLI, ["plan", "mirrors-url.yaml"], env, workspace),
    ];
    expect(runsOfCli[0]!.code, runsOfCli[0]!.stderr).toBe(1);
    const error: string = JSON.parse(runsOfCli[0]!.stdout).steps.find(
      (s: { outcome: string }) => s.outcome === "failed",
    ).error;
    expect(error).toContain("stand-in environment:");
    const places = runsOfCli.flatMap((r, i) => [
      { where: `cli ${i + 1} stdout`, text: r.stdout },
      { where: `cli ${i + 1} stderr`, text: r.stderr },
    ]);
    for (const file of listFiles(temp)) places.push({ where: file, text: readFileSync(file, "latin1") });
    expect(places.some((p) => p.where === reportPath)).toBe(true);
    const leaks: string[] = [];
    for (const { where, text } of places)
      for (const { name, value } of forms()) if (text.includes(value)) leaks.push(`${name} in ${where}`);
    expect(leaks).toEqual([]);
  });
});
