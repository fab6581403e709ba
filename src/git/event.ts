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
