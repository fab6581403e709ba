// The two GitHub REST calls pull-request mode needs: find the open pull request from our branch,
// or open one. Base URL from GITHUB_API_URL, so GitHub Enterprise Server works the same way.

import { MirrorError } from "../errors.js";

export interface PullRequest {
  number: number;
  url: string;
}

export class PullRequestError extends MirrorError {
  override name = "PullRequestError";
  constructor(
    readonly problem: string,
    readonly status: number,
    override readonly hint: string,
  ) {
    super(`${problem}\nhint: ${hint}`, { hint });
  }
}

export interface PullRequestTarget {
  apiUrl: string;
  /** `owner/name` */
  repository: string;
  token: string;
}

const API_TIMEOUT_MS = 30_000;

/** The repository's API address (`https://api.github.com/repos/OWNER/NAME`), what `githubRequest` paths hang off. */
export function repositoryApi(target: PullRequestTarget): string {
  return `${target.apiUrl.replace(/\/+$/, "")}/repos/${target.repository}`;
}

/** One GitHub REST call with the target's token, a JSON body when given, and a time limit. */
export async function githubRequest(
  target: PullRequestTarget,
  method: string,
  url: string,
  body?: unknown,
): Promise<Response> {
  return fetch(url, {
    method,
    headers: {
      Authorization: `Bearer ${target.token}`,
      Accept: "application/vnd.github+json",
      "X-GitHub-Api-Version": "2022-11-28",
      "User-Agent": "ecr-mirror",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(API_TIMEOUT_MS),
  });
}

function call(target: PullRequestTarget, method: string, path: string, body?: unknown): Promise<Response> {
  return githubRequest(target, method, `${repositoryApi(target)}${path}`, body);
}

async function failure(response: Response, what: string): Promise<PullRequestError> {
  const text = await response.text().catch(() => "");
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // not JSON: keep the text
  }
  let hint =
    "give the job `pull-requests: write` and `contents: write` (or a GitHub App token or PAT with the same access)";
  if (/not permitted to create or approve pull requests/i.test(message)) {
    hint =
      "allow it in the repository (or organisation) settings: Actions > General > Workflow permissions > " +
      '"Allow GitHub Actions to create and approve pull requests", or use a GitHub App token';
  } else if (response.status >= 500) {
    hint = "GitHub answered with a server error; rerun the job";
  }
  return new PullRequestError(
    `${what}: HTTP ${response.status} ${message.slice(0, 300)}`,
    response.status,
    hint,
  );
}

/**
 * The open pull request from `branch` (of `headOwner`'s repository: this one's owner unless given, a fork's
 * owner otherwise) into `base` (any base when null), if there is one.
 */
export async function findOpenPullRequest(
  target: PullRequestTarget,
  branch: string,
  base: string | null,
  headOwner: string = target.repository.split("/")[0]!,
): Promise<PullRequest | null> {
  const query = new URLSearchParams({
    head: `${headOwner}:${branch}`,
    ...(base ? { base } : {}),
    state: "open",
  });
  const response = await call(target, "GET", `/pulls?${query}`);
  if (!response.ok) throw await failure(response, `Looking for an open pull request from ${branch}`);
  const pulls = (await response.json()) as { number: number; html_url: string }[];
  const pull = pulls[0];
  return pull ? { number: pull.number, url: pull.html_url } : null;
}

export interface NewPullRequest {
  branch: string;
  base: string;
  title: string;
  body: string;
}

/** Opens a pull request; `null` when GitHub says one from this branch is already open (a race). */
export async function openPullRequest(
  target: PullRequestTarget,
  pull: NewPullRequest,
): Promise<PullRequest | null> {
  const response = await call(target, "POST", "/pulls", {
    title: pull.title,
    head: pull.branch,
    base: pull.base,
    body: pull.body,
  });
  if (response.status === 422) {
    const text = await response.text();
    if (/pull request already exists/i.test(text)) return null;
    throw new PullRequestError(
      `Opening a pull request from ${pull.branch} into ${pull.base}: HTTP 422 ${text.slice(0, 300)}`,
      422,
      "check that the base branch exists and differs from the pull request branch",
    );
  }
  if (!response.ok)
    throw await failure(response, `Opening a pull request from ${pull.branch} into ${pull.base}`);
  const created = (await response.json()) as { number: number; html_url: string };
  return { number: created.number, url: created.html_url };
}
