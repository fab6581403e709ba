// The pull request's one ecr-mirror comment: found by a hidden marker (one per mirror list, so a repository
// with several lists keeps one comment for each), created once and updated on every push. A fork's
// read-only token gets GitHub's 403 "Resource not accessible by integration": that is an outcome, not a failure.
import { MirrorError } from "../errors.js";
import { githubRequest as call, type PullRequestTarget, repositoryApi } from "./pull-request.js";

/** The hidden marker of the comment for one mirror list (HTML comments do not render). */
export function commentMarker(listPath: string): string {
  // `--` cannot appear inside an HTML comment: a path with it is written with `-%2D`.
  return `<!-- ecr-mirror -->\n<!-- ecr-mirror list: ${listPath.replaceAll("--", "-%2D").replaceAll(">", "%3E")} -->`;
}

export type CommentOutcome =
  | { outcome: "created" | "updated"; url: string; id: number }
  | { outcome: "forbidden"; reason: string };

export class CommentError extends MirrorError {
  override name = "CommentError";
}

const PAGE = 100;
/** Comments read at most when looking for ours (100 pages of 100). */
const MAX_PAGES = 100;

interface IssueComment {
  id: number;
  body?: string | null;
  html_url: string;
}

/** The `rel="next"` URL of a Link header, if any. */
function nextPage(link: string | null): string | null {
  for (const part of (link ?? "").split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="next"/.exec(part);
    if (m) return m[1]!;
  }
  return null;
}

async function message(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    return text;
  }
}

/** A 403 or 404 for a token that may not write to the pull request (a fork's), as an outcome; else a CommentError. */
async function refused(response: Response, what: string): Promise<CommentOutcome> {
  const said = (await message(response)).slice(0, 300);
  if (response.status === 403 || response.status === 404)
    return {
      outcome: "forbidden",
      reason: `${what}: HTTP ${response.status} ${said}`,
    };
  throw new CommentError(`${what}: HTTP ${response.status} ${said}`, {
    hint:
      response.status >= 500
        ? "GitHub answered with a server error; rerun the job"
        : "give the job `pull-requests: write`, or set the comment input to never",
  });
}

/**
 * Creates the pull request's comment for this marker, or updates the one that carries it (the first, when
 * several do). `body` gets the marker in front.
 */
export async function upsertPullRequestComment(
  target: PullRequestTarget,
  pullNumber: number,
  marker: string,
  body: string,
): Promise<CommentOutcome> {
  const api = repositoryApi(target);
  const text = `${marker}\n${body}`;
  let url: string | null = `${api}/issues/${pullNumber}/comments?per_page=${PAGE}`;
  let found: IssueComment | null = null;
  for (let page = 0; url && !found && page < MAX_PAGES; page++) {
    const response = await call(target, "GET", url);
    if (!response.ok) return refused(response, `Reading the comments of pull request #${pullNumber}`);
    const comments = (await response.json()) as IssueComment[];
    found = comments.find((c) => c.body?.startsWith(marker)) ?? null;
    url = nextPage(response.headers.get("link"));
  }
  if (found) {
    const response = await call(target, "PATCH", `${api}/issues/comments/${found.id}`, { body: text });
    if (!response.ok) return refused(response, `Updating comment ${found.id} on pull request #${pullNumber}`);
    const updated = (await response.json()) as IssueComment;
    return { outcome: "updated", url: updated.html_url, id: updated.id };
  }
  const response = await call(target, "POST", `${api}/issues/${pullNumber}/comments`, { body: text });
  if (!response.ok) return refused(response, `Commenting on pull request #${pullNumber}`);
  const created = (await response.json()) as IssueComment;
  return { outcome: "created", url: created.html_url, id: created.id };
}
