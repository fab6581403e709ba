// Which branch commit-back may write to, decided from the workflow event alone. Pure: the facts
// are read once from the runner's environment (`readEventFacts`) and judged by `decideCommitBack`.
import { readFile } from "node:fs/promises";

/** What commit-back needs to know about the workflow run. */
export interface EventFacts {
  /** `GITHUB_EVENT_NAME`: `push`, `schedule`, `workflow_dispatch`, `pull_request`, ... */
  name: string;
  /** `GITHUB_REF_NAME`: the branch (or tag) the run is for. */
  refName: string;
  /** `GITHUB_REF_TYPE`: `branch` or `tag` (empty when unknown). */
  refType: string;
  /** `GITHUB_HEAD_REF`: the pull request's head branch (pull request events only). */
  headRef: string;
  /** The pull request's head lives in another repository (a fork), or its repository was deleted. */
  isFork: boolean;
}

export type CommitBackDecision = { allowed: true; branch: string } | { allowed: false; reason: string };

const BRANCH_EVENTS = new Set([
  "push",
  "schedule",
  "workflow_dispatch",
  "repository_dispatch",
  "workflow_run",
]);
const PULL_REQUEST_EVENTS = new Set(["pull_request", "pull_request_target"]);

/** Whether commit-back may run for this event, and onto which branch. */
export function decideCommitBack(event: EventFacts, allowOnPullRequest: boolean): CommitBackDecision {
  if (PULL_REQUEST_EVENTS.has(event.name)) {
    if (event.isFork) {
      return {
        allowed: false,
        reason:
          "the pull request comes from a fork: its token cannot write here, and commit-back never writes on a fork's behalf",
      };
    }
    if (!allowOnPullRequest) {
      return {
        allowed: false,
        reason: `commit-back is off for ${event.name} events (turn it on for same-repository pull requests with the commit-on-pull-request option)`,
      };
    }
    if (!event.headRef) {
      return {
        allowed: false,
        reason: "the pull request's head branch is unknown (GITHUB_HEAD_REF is empty)",
      };
    }
    return { allowed: true, branch: event.headRef };
  }
  if (!BRANCH_EVENTS.has(event.name)) {
    return { allowed: false, reason: `commit-back does not run for ${event.name || "unknown"} events` };
  }
  if (event.refType === "tag") {
    return { allowed: false, reason: `the run is for the tag ${event.refName}, not a branch` };
  }
  if (!event.refName) {
    return { allowed: false, reason: "the branch is unknown (GITHUB_REF_NAME is empty)" };
  }
  return { allowed: true, branch: event.refName };
}

interface EventPayload {
  repository?: { full_name?: string };
  pull_request?: { head?: { repo?: { full_name?: string } | null } };
}

/** Reads the event facts from the runner's environment and the event payload (`GITHUB_EVENT_PATH`). */
export async function readEventFacts(env: NodeJS.ProcessEnv = process.env): Promise<EventFacts> {
  const name = env.GITHUB_EVENT_NAME ?? "";
  let isFork = false;
  if (PULL_REQUEST_EVENTS.has(name)) {
    let payload: EventPayload = {};
    if (env.GITHUB_EVENT_PATH) {
      payload = JSON.parse(await readFile(env.GITHUB_EVENT_PATH, "utf8")) as EventPayload;
    }
    isFork = isForkPullRequest(payload, env.GITHUB_REPOSITORY ?? "");
  }
  return {
    name,
    refName: env.GITHUB_REF_NAME ?? "",
    refType: env.GITHUB_REF_TYPE ?? "",
    headRef: env.GITHUB_HEAD_REF ?? "",
    isFork,
  };
}

/**
 * A pull request is treated as a fork's unless its head repository is known to be this one: a
 * missing payload or a deleted head repository (`head.repo: null`) counts as a fork.
 */
export function isForkPullRequest(payload: EventPayload, repository: string): boolean {
  const head = payload.pull_request?.head?.repo?.full_name;
  const base = payload.repository?.full_name ?? repository;
  if (!head || !base) return true;
  return head.toLowerCase() !== base.toLowerCase();
}

/** The pull request a run belongs to: for its comment and for links to the list's lines at its head commit. */
export interface PullRequestFacts {
  /** Null for a fork's pull request seen from `workflow_run` (GitHub leaves `pull_requests` empty): look it up by head. */
  number: number | null;
  /** The head commit: what the run checked out and validated. */
  headSha: string | null;
  /** The head branch and the owner of its repository, to look the pull request up by (`owner:branch`). */
  headOwner: string | null;
  headBranch: string | null;
  isFork: boolean;
  /** Seen from a `workflow_run` event that a pull request's run triggered (the fork pattern). */
  viaWorkflowRun: boolean;
  /**
   * Whether the run's token can write to the pull request: not on a `pull_request` event from a fork (GitHub
   * makes that token read-only); on `pull_request_target` and `workflow_run` it runs in the base repository.
   */
  tokenMayWrite: boolean;
}

interface ReviewPayload extends EventPayload {
  pull_request?: {
    number?: number;
    head?: { sha?: string; ref?: string; repo?: { full_name?: string; owner?: { login?: string } } | null };
  };
  workflow_run?: {
    event?: string;
    head_sha?: string;
    head_branch?: string;
    head_repository?: { full_name?: string; owner?: { login?: string } } | null;
    pull_requests?: { number?: number }[];
  };
}

/** The pull request of a `pull_request(_target)` event, or of the pull request run a `workflow_run` follows. */
export function pullRequestFacts(
  name: string,
  payload: ReviewPayload,
  repository: string,
): PullRequestFacts | null {
  if (PULL_REQUEST_EVENTS.has(name) && payload.pull_request) {
    const pull = payload.pull_request;
    return {
      number: pull.number ?? null,
      headSha: pull.head?.sha ?? null,
      headOwner: pull.head?.repo?.owner?.login ?? null,
      headBranch: pull.head?.ref ?? null,
      isFork: isForkPullRequest(payload, repository),
      viaWorkflowRun: false,
      tokenMayWrite: name === "pull_request_target" || !isForkPullRequest(payload, repository),
    };
  }
  const run = payload.workflow_run;
  if (name === "workflow_run" && run?.event === "pull_request") {
    const head = run.head_repository?.full_name;
    return {
      number: run.pull_requests?.[0]?.number ?? null,
      headSha: run.head_sha ?? null,
      headOwner: run.head_repository?.owner?.login ?? null,
      headBranch: run.head_branch ?? null,
      isFork: !head || head.toLowerCase() !== repository.toLowerCase(),
      viaWorkflowRun: true,
      tokenMayWrite: true,
    };
  }
  return null;
}

/** The pull request facts of this run, from `GITHUB_EVENT_NAME` and the payload at `GITHUB_EVENT_PATH`. */
export async function readPullRequestFacts(
  env: NodeJS.ProcessEnv = process.env,
): Promise<PullRequestFacts | null> {
  if (!env.GITHUB_EVENT_PATH) return null;
  const payload = JSON.parse(await readFile(env.GITHUB_EVENT_PATH, "utf8")) as ReviewPayload;
  return pullRequestFacts(env.GITHUB_EVENT_NAME ?? "", payload, env.GITHUB_REPOSITORY ?? "");
}
