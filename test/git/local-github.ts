// A local stand-in for github.com on 127.0.0.1: real git over smart HTTP (`git http-backend` run as
// CGI, bare repositories under a temporary folder), the two pull-request REST calls and the issue-comment
// calls (list with pagination, create, update), answered as GitHub answers them. Pushes need `AUTHORIZATION: basic base64(x-access-token:TOKEN)` with a known
// token (reads are anonymous, as for a public repository); the API needs `Authorization: Bearer`.
// Every request is recorded with the authorization headers it carried.
import { execFile, spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface RecordedRequest {
  kind: "git" | "api";
  method: string;
  path: string;
  /** Every Authorization header sent (git sends one per configured extra header). */
  authorizations: string[];
  body?: unknown;
}

export interface StoredPull {
  /** `owner/name` */
  repository: string;
  number: number;
  head: string;
  /** The owner of the head's repository when it is a fork (else the base repository's owner). */
  headOwner?: string;
  base: string;
  title: string;
  body: string;
  state: "open" | "closed";
  html_url: string;
}

export interface StoredComment {
  /** `owner/name` */
  repository: string;
  issue: number;
  id: number;
  body: string;
  html_url: string;
  created_at: string;
  updated_at: string;
  user: { login: string; type: string };
}

export interface LocalGitHub {
  /** `http://127.0.0.1:PORT`, as `GITHUB_SERVER_URL`. */
  serverUrl: string;
  /** `http://127.0.0.1:PORT/api/v3`, as `GITHUB_API_URL` on GitHub Enterprise Server. */
  apiUrl: string;
  requests: RecordedRequest[];
  pulls: StoredPull[];
  /** Answer pull request creation with GitHub's 403 for a repository that forbids it to Actions. */
  forbidPullRequestCreation: boolean;
  comments: StoredComment[];
  /**
   * Tokens that may read but not write (a fork's GITHUB_TOKEN, `pull-requests: read`): writes get GitHub's
   * 403 "Resource not accessible by integration".
   */
  readOnlyTokens: Set<string>;
  stop(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Serves the bare repositories `<root>/<owner>/<name>.git` and a pull request API for them. */
export async function startLocalGitHub(root: string, tokens: readonly string[]): Promise<LocalGitHub> {
  const requests: RecordedRequest[] = [];
  const pulls: StoredPull[] = [];
  const comments: StoredComment[] = [];
  const readOnlyTokens = new Set<string>();
  let commentIds = 1000;
  const accepted = new Set(
    tokens.map((t) => `basic ${Buffer.from(`x-access-token:${t}`).toString("base64")}`),
  );
  const state = { forbid: false };
  let serverUrl = "";

  const serveGit = (req: IncomingMessage, res: ServerResponse, url: URL, authorizations: string[]) => {
    const match = /^\/([^/]+)\/([^/]+?)(?:\.git)?(\/(?:info\/refs|git-upload-pack|git-receive-pack))$/.exec(
      url.pathname,
    );
    if (!match) return send(res, 404, { message: "Not Found" });
    const pushing =
      url.searchParams.get("service") === "git-receive-pack" || match[3] === "/git-receive-pack";
    const authorized =
      authorizations.length === 1 && accepted.has(authorizations[0]!.replace(/^basic /i, "basic "));
    if (pushing && !authorized) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="GitHub"' });
      return res.end("Invalid username or password.");
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: `/${match[1]}/${match[2]}.git${match[3]}`,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? "GET",
      REMOTE_ADDR: "127.0.0.1",
      ...(pushing ? { REMOTE_USER: "x-access-token" } : {}),
      ...(req.headers["content-type"] ? { CONTENT_TYPE: req.headers["content-type"] } : {}),
      ...(req.headers["content-length"] ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
    };
    const cgi = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "inherit"] });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersSent = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headersSent) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      headersSent = true;
      res.write(head.subarray(end + 4));
    });
    cgi.once("close", () => {
      if (!headersSent) res.writeHead(500);
      res.end();
    });
  };

  const serveApi = async (req: IncomingMessage, res: ServerResponse, url: URL, recorded: RecordedRequest) => {
    const authorization = req.headers.authorization ?? "";
    if (!tokens.some((t) => authorization === `Bearer ${t}`)) {
      return send(res, 401, { message: "Bad credentials" });
    }
    if (/\/issues\//.test(url.pathname)) return serveComments(req, res, url, recorded, authorization);
    const match = /^\/api\/v3\/repos\/([^/]+)\/([^/]+)\/pulls$/.exec(url.pathname);
    if (!match) return send(res, 404, { message: "Not Found" });
    const [, owner, name] = match;
    if (req.method === "GET") {
      const head = url.searchParams.get("head");
      const base = url.searchParams.get("base");
      const wanted = url.searchParams.get("state") ?? "open";
      const found = pulls.filter(
        (p) =>
          p.repository === `${owner}/${name}` &&
          (!head || `${p.headOwner ?? owner}:${p.head}` === head) &&
          (!base || p.base === base) &&
          (wanted === "all" || p.state === wanted),
      );
      return send(res, 200, found);
    }
    if (req.method === "POST") {
      const body = JSON.parse(await readBody(req)) as {
        title: string;
        head: string;
        base: string;
        body?: string;
      };
      recorded.body = body;
      if (state.forbid) {
        return send(res, 403, {
          message: "GitHub Actions is not permitted to create or approve pull requests.",
        });
      }
      const exists = await run("git", ["rev-parse", "--verify", `refs/heads/${body.head}`], {
        cwd: `${root}/${owner}/${name}.git`,
      }).then(
        () => true,
        () => false,
      );
      if (!exists) {
        return send(res, 422, {
          message: "Validation Failed",
          errors: [{ resource: "PullRequest", field: "head", code: "invalid" }],
        });
      }
      if (
        pulls.some(
          (p) =>
            p.repository === `${owner}/${name}` &&
            p.state === "open" &&
            p.head === body.head &&
            p.base === body.base,
        )
      ) {
        return send(res, 422, {
          message: "Validation Failed",
          errors: [
            {
              resource: "PullRequest",
              code: "custom",
              message: `A pull request already exists for ${owner}:${body.head}.`,
            },
          ],
        });
      }
      const number = pulls.filter((p) => p.repository === `${owner}/${name}`).length + 1;
      const pull: StoredPull = {
        repository: `${owner}/${name}`,
        number,
        head: body.head,
        base: body.base,
        title: body.title,
        body: body.body ?? "",
        state: "open",
        html_url: `${serverUrl}/${owner}/${name}/pull/${number}`,
      };
      pulls.push(pull);
      return send(res, 201, pull);
    }
    return send(res, 405, { message: "Method Not Allowed" });
  };

  // GET /repos/{o}/{r}/issues/{n}/comments (per_page up to 100, page, Link header), POST to it (201), and
  // PATCH /repos/{o}/{r}/issues/comments/{id} (200; 404 for a comment of another repository or none).
  const serveComments = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    recorded: RecordedRequest,
    authorization: string,
  ) => {
    const list = /^\/api\/v3\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    const one = /^\/api\/v3\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    const match = list ?? one;
    if (!match) return send(res, 404, { message: "Not Found" });
    const repository = `${match[1]}/${match[2]}`;
    const id = Number(match[3]);
    const readOnly = readOnlyTokens.has(authorization.replace(/^Bearer /, ""));
    const forbidden = () =>
      send(res, 403, {
        message: "Resource not accessible by integration",
        documentation_url: "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        status: "403",
      });
    if (list && req.method === "GET") {
      if (!pulls.some((p) => p.repository === repository && p.number === id))
        return send(res, 404, { message: "Not Found" });
      const perPage = Math.min(Math.max(Number(url.searchParams.get("per_page") ?? 30) || 30, 1), 100);
      const page = Math.max(Number(url.searchParams.get("page") ?? 1) || 1, 1);
      const all = comments.filter((c) => c.repository === repository && c.issue === id);
      const last = Math.max(Math.ceil(all.length / perPage), 1);
      const links: string[] = [];
      const pageUrl = (n: number) => {
        const u = new URL(`${serverUrl}${url.pathname}`);
        u.searchParams.set("per_page", String(perPage));
        u.searchParams.set("page", String(n));
        return u.toString();
      };
      if (page < last) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(last)}>; rel="last"`);
      if (page > 1) links.push(`<${pageUrl(1)}>; rel="first"`, `<${pageUrl(page - 1)}>; rel="prev"`);
      return send(
        res,
        200,
        all.slice((page - 1) * perPage, page * perPage),
        links.length ? { Link: links.join(", ") } : {},
      );
    }
    if (req.method !== "POST" && req.method !== "PATCH")
      return send(res, 405, { message: "Method Not Allowed" });
    const body = JSON.parse((await readBody(req)) || "{}") as { body?: string };
    recorded.body = body;
    if (readOnly) return forbidden();
    if (typeof body.body !== "string" || body.body === "")
      return send(res, 422, {
        message: "Validation Failed",
        errors: [{ field: "body", code: "missing_field" }],
      });
    if (body.body.length > 65_536)
      return send(res, 422, {
        message: "Validation Failed",
        errors: [
          {
            resource: "IssueComment",
            code: "custom",
            field: "body",
            message: "body is too long (maximum is 65536 characters)",
          },
        ],
      });
    const now = new Date().toISOString();
    if (list && req.method === "POST") {
      if (!pulls.some((p) => p.repository === repository && p.number === id))
        return send(res, 404, { message: "Not Found" });
      const comment: StoredComment = {
        repository,
        issue: id,
        id: commentIds++,
        body: body.body,
        html_url: "",
        created_at: now,
        updated_at: now,
        user: { login: "github-actions[bot]", type: "Bot" },
      };
      comment.html_url = `${serverUrl}/${repository}/pull/${id}#issuecomment-${comment.id}`;
      comments.push(comment);
      return send(res, 201, comment);
    }
    const comment = one ? comments.find((c) => c.repository === repository && c.id === id) : undefined;
    if (!comment || req.method !== "PATCH") return send(res, 404, { message: "Not Found" });
    comment.body = body.body;
    comment.updated_at = now;
    return send(res, 200, comment);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const recorded: RecordedRequest = {
      kind: url.pathname.startsWith("/api/") ? "api" : "git",
      method: req.method ?? "GET",
      path: `${url.pathname}${url.search}`,
      authorizations: [...(req.headersDistinct.authorization ?? [])],
    };
    requests.push(recorded);
    if (recorded.kind === "api") {
      serveApi(req, res, url, recorded).catch((error: unknown) => send(res, 500, { message: String(error) }));
    } else {
      serveGit(req, res, url, recorded.authorizations);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    serverUrl,
    apiUrl: `${serverUrl}/api/v3`,
    requests,
    pulls,
    comments,
    readOnlyTokens,
    get forbidPullRequestCreation() {
      return state.forbid;
    },
    set forbidPullRequestCreation(value: boolean) {
      state.forbid = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
