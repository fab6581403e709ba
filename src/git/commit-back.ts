// Commit-back: put the rendered node configuration into the repository, as github-actions[bot],
// exactly when it changed. Push mode pushes to the branch the workflow runs on (a push race is
// retried on the branch's new tip); pull-request mode pushes to a branch of ours and opens or
// updates a pull request; auto mode pushes and falls back to a pull request where the branch is
// protected. The commit is built with git's plumbing in a temporary index: the files the branch's
// manifest (`.ecr-mirror-files`) lists are replaced by the rendered ones, anything else in the folder
// stays, so re-applying them onto a moved branch cannot conflict, and the user's index is left alone.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MirrorError } from "../errors.js";
import { type CommitBackDecision, decideCommitBack, type EventFacts } from "./event.js";
import { authorizationHeader, Git, GitError, type GitResult } from "./git.js";
import {
  type FolderEntry,
  type FolderState,
  isExecutable,
  MANIFEST_FILE,
  MANIFEST_MAX_BYTES,
  type OutputFile,
  OutputFolderError,
  outputFilePaths,
  planFolderUpdate,
  writeOutputFolder,
} from "./output-folder.js";
import {
  findOpenPullRequest,
  openPullRequest,
  PullRequestError,
  type PullRequestTarget,
} from "./pull-request.js";

export type CommitBackMode = "push" | "pull-request" | "auto";
export type CommitBackOutcome = "committed" | "pull-request-opened" | "pull-request-updated" | "none";

export interface CommitBackOptions {
  /** The repository's working tree (the workspace actions/checkout prepared). */
  repoDir: string;
  files: readonly OutputFile[];
  /** Output folder inside the repository, e.g. `deploy/ecr-mirror`. */
  outDir: string;
  mode: CommitBackMode;
  event: EventFacts;
  /** Commit back on same-repository pull requests too (never on a fork's). */
  allowOnPullRequest: boolean;
  /** Token for pushing and for the REST API; empty: git uses what the checkout configured. */
  token: string;
  /** `GITHUB_SERVER_URL`, e.g. `https://github.com`. */
  serverUrl: string;
  /** `GITHUB_API_URL`, e.g. `https://api.github.com`. */
  apiUrl: string;
  /** `GITHUB_REPOSITORY`, `owner/name`. */
  repository: string;
  remote?: string;
  message?: string;
  /** The branch pull-request mode pushes to (ours: force-pushed). */
  prBranch?: string;
  /** Push attempts in a race before giving up. */
  maxAttempts?: number;
  /** Registers a secret with the log masker before anything could print it (`core.setSecret`). */
  mask: (secret: string) => void;
  log: (line: string) => void;
}

export interface CommitBackResult {
  outcome: CommitBackOutcome;
  /** The commit pushed (or already on the pull request branch). */
  commitSha?: string;
  pullRequestUrl?: string;
  pullRequestNumber?: number;
  /** The branch written to: the workflow's branch, or the pull request branch. */
  branch?: string;
  /** Push attempts made to the workflow's branch. */
  attempts: number;
  /** Why nothing was committed, or why a pull request was used instead of a push. */
  reason?: string;
}

export class CommitBackError extends MirrorError {
  override name = "CommitBackError";
  constructor(
    message: string,
    override readonly hint: string,
  ) {
    super(`${message}\nhint: ${hint}`, { hint });
  }
}

export const DEFAULT_PR_BRANCH = "ecr-mirror/node-config";

/** The action's outputs for a result: `outcome`, `commit-sha`, `pull-request-url`. */
export function commitBackOutputs(result: CommitBackResult): Record<string, string> {
  return {
    outcome: result.outcome,
    "commit-sha": result.commitSha ?? "",
    "pull-request-url": result.pullRequestUrl ?? "",
  };
}

type PushVerdict = "pushed" | "moved" | "protected" | "failed";

/** What a rejected push means: the branch moved (retry), it is protected (pull request), or other. */
export function classifyPush(result: GitResult): PushVerdict {
  if (result.code === 0) return "pushed";
  const text = `${result.stdout}\n${result.stderr}`;
  if (
    /GH006|GH013|protected branch hook declined|Changes must be made through a pull request|Protected branch update failed|Repository rule violations/i.test(
      text,
    )
  ) {
    return "protected";
  }
  if (
    /\[rejected\].*\((?:fetch first|non-fast-forward|stale info)\)|cannot lock ref|failed to update ref|incorrect old value/i.test(
      text,
    )
  ) {
    return "moved";
  }
  return "failed";
}

function pushHint(text: string): string {
  if (/\b403\b|Permission to .* denied|write access to repository not granted/i.test(text)) {
    return "the token may not push: give the job `permissions: contents: write` (or use a GitHub App token or PAT with contents write)";
  }
  if (/\b401\b|Authentication failed|could not read Username/i.test(text)) {
    return "no usable credentials: pass a token, or keep actions/checkout's persist-credentials (the default)";
  }
  return "see git's message above";
}

interface BuiltCommit {
  sha: string;
  parent: string;
}

/** The output folder as the commit `parent` holds it (read without a working tree), for `planFolderUpdate`. */
async function readTreeState(git: Git, parent: string, folder: string): Promise<FolderState> {
  const listing = (await git.run(["ls-tree", "-r", "-t", "-l", "-z", parent, "--", folder])).stdout;
  const entries: FolderEntry[] = [];
  const blobs = new Map<string, { sha: string; size: number }>();
  for (const record of listing.split("\0").filter(Boolean)) {
    const tab = record.indexOf("\t");
    const [mode, type, sha, size] = record.slice(0, tab).split(/ +/) as [string, string, string, string];
    const path = record.slice(tab + 1);
    if (path === folder || folder.startsWith(`${path}/`)) {
      if (type !== "tree")
        throw new OutputFolderError(
          `In ${parent.slice(0, 12)}, ${path} is not a folder, so ${folder} cannot be written there. Nothing was committed.`,
          "choose another folder for the node configuration",
        );
      continue;
    }
    if (!path.startsWith(`${folder}/`) || type === "tree") continue;
    const rel = path.slice(folder.length + 1);
    const kind =
      mode === "120000" ? "symlink" : type === "commit" ? "repository" : type === "blob" ? "file" : "other";
    entries.push({ path: rel, kind });
    if (kind === "file") blobs.set(rel, { sha, size: Number(size) });
  }
  const text = async (rel: string) => {
    const blob = blobs.get(rel);
    if (!blob) return null;
    // An oversized manifest is refused by its size, unread (parseManifest says so).
    if (blob.size > MANIFEST_MAX_BYTES) return "#".repeat(MANIFEST_MAX_BYTES + 1);
    return (await git.run(["cat-file", "blob", blob.sha])).stdout;
  };
  return {
    entries,
    manifest: await text(MANIFEST_FILE),
    readme: (await text("README.md"))?.slice(0, 200) ?? null,
  };
}

/**
 * Builds (without touching HEAD or the user's index) a commit whose tree is the parent's tree with the
 * files ecr-mirror wrote there (its manifest) replaced by the rendered files; null when that equals the
 * parent's tree. `files` are the rendered files and the new manifest, `paths` their repository paths.
 */
async function buildCommit(
  git: Git,
  parent: string,
  folder: string,
  paths: readonly string[],
  files: readonly OutputFile[],
  repoDir: string,
  message: string,
): Promise<BuiltCommit | null> {
  const update = planFolderUpdate(
    folder,
    await readTreeState(git, parent, folder),
    files.filter((f) => f.path !== MANIFEST_FILE),
  );
  const scratch = await mkdtemp(join(tmpdir(), "ecr-mirror-index-"));
  try {
    const env = { GIT_INDEX_FILE: join(scratch, "index") };
    const blobs = paths.length
      ? (
          await git.output(["hash-object", "-w", "--no-filters", "--stdin-paths"], {
            input: paths.map((path) => `${join(repoDir, path)}\n`).join(""),
          })
        ).split("\n")
      : [];
    await git.run(["read-tree", parent], { env });
    const old = [...update.remove, MANIFEST_FILE].map((path) => `${folder}/${path}`);
    const lines = [
      ...old.map((path) => `0 ${"0".repeat(40)}\t${path}\n`),
      ...paths.map((path, i) => `${isExecutable(files[i]!) ? "100755" : "100644"} ${blobs[i]}\t${path}\n`),
    ];
    await git.run(["update-index", "--index-info"], { env, input: lines.join("") });
    const tree = await git.output(["write-tree"], { env });
    if (tree === (await git.output(["rev-parse", `${parent}^{tree}`]))) return null;
    const sha = await git.output(["commit-tree", tree, "-p", parent, "-F", "-"], { input: message });
    return { sha, parent };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Commits and pushes (or proposes) the rendered files; says what it did. Failures are
 * `CommitBackError`s with a hint; no message contains the token.
 */
export async function commitBack(options: CommitBackOptions): Promise<CommitBackResult> {
  try {
    return await commitBackOnce(options);
  } catch (error) {
    if (error instanceof GitError) throw new CommitBackError(error.message, pushHint(error.message));
    if (error instanceof PullRequestError) throw new CommitBackError(error.problem, error.hint);
    if (error instanceof OutputFolderError) throw new CommitBackError(error.problem, error.hint);
    throw error;
  }
}

/** Git in the repository, the token (and its Basic encoding) masked in the log and redacted from git's output. */
function maskedGit(options: CommitBackOptions): Git {
  if (options.token) {
    options.mask(options.token);
    const { header, encoded } = authorizationHeader(options.token);
    options.mask(encoded);
    options.mask(header);
  }
  const secrets = options.token ? [options.token, authorizationHeader(options.token).encoded] : [];
  const redact = (text: string) => secrets.reduce((out, secret) => out.split(secret).join("***"), text);
  return new Git(
    options.repoDir,
    options.token ? { serverUrl: options.serverUrl, token: options.token } : null,
    redact,
  );
}

/** Refuses a mode that cannot work here: pull-request without a token, a pull request branch that is the branch itself. */
function checkMode(options: CommitBackOptions, branch: string, prBranch: string): void {
  if (options.mode === "pull-request" && !options.token) {
    throw new CommitBackError(
      "Mode pull-request needs a token for GitHub's API.",
      "pass the token input (GITHUB_TOKEN with pull-requests: write, or a GitHub App token)",
    );
  }
  if (options.mode !== "push" && prBranch === branch) {
    throw new CommitBackError(
      `The pull request branch ${prBranch} is the branch the workflow runs on.`,
      "choose another pull request branch",
    );
  }
}

async function commitBackOnce(options: CommitBackOptions): Promise<CommitBackResult> {
  const decision: CommitBackDecision = decideCommitBack(options.event, options.allowOnPullRequest);
  if (!decision.allowed) {
    options.log(`Commit-back skipped: ${decision.reason}.`);
    return { outcome: "none", attempts: 0, reason: decision.reason };
  }
  const branch = decision.branch;
  const remote = options.remote ?? "origin";
  const prBranch = options.prBranch ?? DEFAULT_PR_BRANCH;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const git = maskedGit(options);
  checkMode(options, branch, prBranch);
  const written = await writeOutputFolder(options.repoDir, options.outDir, options.files);
  const { folder, files } = written;
  // Same order as `files`: outputFilePaths keeps the files' order.
  const paths = outputFilePaths(folder, files);
  const message =
    options.message ??
    `ecr-mirror: update the rendered node configuration in ${folder}\n\nRendered by ecr-mirror.\n`;
  const build = (parent: string) => buildCommit(git, parent, folder, paths, files, options.repoDir, message);
  const fetchTip = async (name: string): Promise<string> => {
    await git.run(
      ["fetch", "--no-tags", "--quiet", remote, `+refs/heads/${name}:refs/remotes/${remote}/${name}`],
      {
        authenticated: true,
      },
    );
    return git.output(["rev-parse", "--verify", `refs/remotes/${remote}/${name}^{commit}`]);
  };

  // On pull request events HEAD is usually GitHub's merge commit: build on the head branch instead.
  const pullRequestEvent = options.event.name.startsWith("pull_request");
  const start = pullRequestEvent
    ? await fetchTip(branch)
    : await git.output(["rev-parse", "--verify", "HEAD"]);
  let commit = await build(start);
  if (!commit) {
    options.log(`Commit-back: ${folder} is unchanged; nothing to commit.`);
    return { outcome: "none", attempts: 0, reason: `${folder} is unchanged` };
  }

  if (options.mode === "pull-request") {
    return proposeChange(options, git, commit, folder, branch, prBranch, remote, 0, undefined);
  }

  for (let attempt = 1; ; attempt++) {
    const result = await git.run(["push", "--porcelain", remote, `${commit.sha}:refs/heads/${branch}`], {
      authenticated: true,
      allowFailure: true,
    });
    const verdict = classifyPush(result);
    if (verdict === "pushed") {
      options.log(`Commit-back: pushed ${commit.sha} to ${branch} (attempt ${attempt}).`);
      const removed = written.removed.map((path) => `${folder}/${path}`);
      await followInWorkspace(git, commit.sha, [...paths, ...removed], options.log);
      return { outcome: "committed", commitSha: commit.sha, branch, attempts: attempt };
    }
    const said = `${result.stderr}\n${result.stdout}`.trim();
    if (verdict === "protected") {
      if (options.mode === "auto") {
        const reason = `${branch} is protected against direct pushes`;
        options.log(`Commit-back: ${reason}; opening or updating a pull request instead.`);
        return proposeChange(options, git, commit, folder, branch, prBranch, remote, attempt, reason);
      }
      throw new CommitBackError(
        `Pushing to ${branch} was refused: the branch is protected.\n${said}`,
        "use mode pull-request (or auto), which opens a pull request instead of pushing",
      );
    }
    if (verdict === "failed") {
      throw new CommitBackError(`Pushing to ${branch} failed.\n${said}`, pushHint(said));
    }
    if (attempt >= maxAttempts) {
      throw new CommitBackError(
        `Pushing to ${branch} was rejected ${attempt} times: the branch kept moving.`,
        "rerun the job, or serialise the workflows that push to this branch with a concurrency group",
      );
    }
    options.log(`Commit-back: ${branch} moved while we pushed; fetching it and applying the files again.`);
    const tip = await fetchTip(branch);
    commit = await build(tip);
    if (!commit) {
      options.log(`Commit-back: ${branch} already holds these files; nothing to commit.`);
      return { outcome: "none", attempts: attempt, branch, reason: `${branch} already holds these files` };
    }
  }
}

/**
 * Moves the workspace along to the pushed commit when it can do so as a fast-forward, so later steps
 * see what was committed. Failing to is not an error: the commit is on the remote.
 */
async function followInWorkspace(
  git: Git,
  sha: string,
  paths: readonly string[],
  log: (line: string) => void,
) {
  const ancestor = await git.run(["merge-base", "--is-ancestor", "HEAD", sha], { allowFailure: true });
  if (ancestor.code !== 0) return;
  // Only what ecr-mirror wrote or removed is staged: a user's own files in the folder stay as they were.
  await git.run(["update-index", "--add", "--remove", "--", ...paths], { allowFailure: true });
  const merged = await git.run(["merge", "--ff-only", "--quiet", sha], { allowFailure: true });
  if (merged.code !== 0) {
    log(
      `Commit-back: the workspace stays at its commit (${merged.stderr.trim().split("\n")[0]}); ${sha} is pushed.`,
    );
  }
}

/** Pull-request mode: our branch holds the change, and one open pull request shows it. */
async function proposeChange(
  options: CommitBackOptions,
  git: Git,
  commit: BuiltCommit,
  folder: string,
  base: string,
  prBranch: string,
  remote: string,
  attempts: number,
  reason: string | undefined,
): Promise<CommitBackResult> {
  if (!options.token) {
    throw new CommitBackError(
      `${reason ?? "Pull-request mode"}: a pull request needs a token for GitHub's API.`,
      "pass the token input (GITHUB_TOKEN with pull-requests: write, or a GitHub App token)",
    );
  }
  const remoteRef = `refs/heads/${prBranch}`;
  const listed = await git.output(["ls-remote", remote, remoteRef], { authenticated: true });
  const existing = listed ? listed.split(/\s+/)[0]! : "";
  let sha = commit.sha;
  let unchanged = false;
  if (existing) {
    await git.run(
      ["fetch", "--no-tags", "--quiet", remote, `+${remoteRef}:refs/remotes/${remote}/${prBranch}`],
      {
        authenticated: true,
      },
    );
    const theirs = await git.run(["rev-parse", "--verify", `${existing}:${folder}`], { allowFailure: true });
    const ours = await git.output(["rev-parse", "--verify", `${commit.sha}:${folder}`]);
    unchanged = theirs.code === 0 && theirs.stdout.trim() === ours;
  }
  if (unchanged) {
    sha = existing;
  } else {
    // The branch is ours: overwrite it, unless someone pushed to it since we looked.
    await git.run(
      [
        "push",
        "--porcelain",
        `--force-with-lease=${remoteRef}:${existing}`,
        remote,
        `${commit.sha}:${remoteRef}`,
      ],
      { authenticated: true },
    );
  }

  const target: PullRequestTarget = {
    apiUrl: options.apiUrl,
    repository: options.repository,
    token: options.token,
  };
  const open = await findOpenPullRequest(target, prBranch, base);
  if (open) {
    options.log(
      `Commit-back: pull request ${open.url} ${unchanged ? "already holds these files" : "updated"}.`,
    );
    return {
      outcome: unchanged ? "none" : "pull-request-updated",
      commitSha: sha,
      pullRequestUrl: open.url,
      pullRequestNumber: open.number,
      branch: prBranch,
      attempts,
      reason: unchanged ? `the open pull request #${open.number} already holds these files` : reason,
    };
  }
  const created = await openPullRequest(target, {
    branch: prBranch,
    base,
    title: `ecr-mirror: update the rendered node configuration (${base})`,
    body:
      `ecr-mirror rendered new node configuration for \`${folder}\` (containerd \`hosts.toml\`, the DaemonSet and the NodeConfig).\n\n` +
      `This branch is rewritten by every run while the pull request is open; merge it to roll the change out.` +
      (reason ? `\n\nA pull request rather than a push because ${reason}.` : ""),
  });
  const pull = created ?? (await findOpenPullRequest(target, prBranch, base));
  if (!pull) {
    throw new CommitBackError(
      `GitHub said a pull request from ${prBranch} exists but none is open into ${base}.`,
      "rerun the job",
    );
  }
  options.log(`Commit-back: pull request ${pull.url} ${created ? "opened" : "updated"}.`);
  return {
    outcome: created ? "pull-request-opened" : "pull-request-updated",
    commitSha: sha,
    pullRequestUrl: pull.url,
    pullRequestNumber: pull.number,
    branch: prBranch,
    attempts,
    ...(reason ? { reason } : {}),
  };
}
