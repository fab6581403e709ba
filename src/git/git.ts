// Runs git with argv arrays in one repository. Credentials travel as an HTTP header that exists
// only in the environment of the git process that needs it (GIT_CONFIG_COUNT/KEY/VALUE, the
// environment form of `git -c`): never in the remote URL, never in `.git/config`, never in argv
// (so `ps` does not show it either).
import { spawn } from "node:child_process";
import { MirrorError } from "../errors.js";
import { childEnv } from "../tools/child-env.js";

/** The bot identity GitHub shows for commits made on behalf of GitHub Actions. */
export const BOT_NAME = "github-actions[bot]";
export const BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitAuth {
  /** `https://github.com` or a GitHub Enterprise Server address: the header is scoped to it. */
  serverUrl: string;
  token: string;
}

/** `AUTHORIZATION: basic <base64(x-access-token:TOKEN)>`, the header actions/checkout uses. */
export function authorizationHeader(token: string): { header: string; encoded: string } {
  const encoded = Buffer.from(`x-access-token:${token}`, "utf8").toString("base64");
  return { header: `AUTHORIZATION: basic ${encoded}`, encoded };
}

/** The config key actions/checkout persists its header under: `http.https://github.com/.extraheader`. */
export function extraHeaderKey(serverUrl: string): string {
  return `http.${new URL(serverUrl).origin}/.extraheader`;
}

export class GitError extends MirrorError {
  override name = "GitError";
  constructor(
    readonly args: readonly string[],
    readonly result: GitResult,
  ) {
    const said = (result.stderr || result.stdout).trim().split("\n").slice(-8).join("\n");
    super(`git ${args[0]} failed (exit ${result.code})${said ? `: ${said}` : ""}`);
  }
}

export interface GitRunOptions {
  /** Bytes for git's standard input. */
  input?: string;
  /** Send the credential header (fetch, push, ls-remote). */
  authenticated?: boolean;
  /** Return a failed result instead of throwing. */
  allowFailure?: boolean;
  /** Extra environment, e.g. `GIT_INDEX_FILE`. */
  env?: Record<string, string>;
}

export class Git {
  readonly #dir: string;
  readonly #auth: GitAuth | null;
  readonly #redact: (text: string) => string;
  /** Every git command line run, for tests and the debug log (never contains a credential). */
  readonly commands: string[][] = [];

  constructor(dir: string, auth: GitAuth | null, redact: (text: string) => string) {
    this.#dir = dir;
    this.#auth = auth;
    this.#redact = redact;
  }

  async run(args: string[], options: GitRunOptions = {}): Promise<GitResult> {
    this.commands.push(args);
    // An allow-listed environment (PATH, HOME, temp, locale, proxies): the GitHub token reaches git only as the
    // header below, on the commands that need it.
    const env: Record<string, string> = {
      ...childEnv("git", process.env),
      // Stable English messages: rejections are recognised by their text.
      LC_ALL: "C",
      LANGUAGE: "",
      // Never wait for a password on a terminal that is not there.
      GIT_TERMINAL_PROMPT: "0",
      GIT_LITERAL_PATHSPECS: "1",
      GIT_AUTHOR_NAME: BOT_NAME,
      GIT_AUTHOR_EMAIL: BOT_EMAIL,
      GIT_COMMITTER_NAME: BOT_NAME,
      GIT_COMMITTER_EMAIL: BOT_EMAIL,
      ...options.env,
    };
    if (options.authenticated && this.#auth) Object.assign(env, credentialEnv(this.#auth, env));
    const result = await spawnGit(this.#dir, args, env, options.input);
    const redacted = {
      code: result.code,
      stdout: this.#redact(result.stdout),
      stderr: this.#redact(result.stderr),
    };
    if (redacted.code !== 0 && !options.allowFailure) throw new GitError(args, redacted);
    return redacted;
  }

  /** Standard output of a command that must succeed, trimmed. */
  async output(args: string[], options: Omit<GitRunOptions, "allowFailure"> = {}): Promise<string> {
    return (await this.run(args, options)).stdout.trim();
  }
}

/**
 * Command-scope config entries that first clear any header configured for the server (actions/checkout
 * persists one under the same key unless `persist-credentials: false`) and then add ours. An empty
 * value resets the list of extra headers; a plain `http.extraheader` would not override the more
 * specific URL-scoped key, so the URL-scoped key is used for both entries.
 */
function credentialEnv(auth: GitAuth, env: Readonly<Record<string, string>>): Record<string, string> {
  const key = extraHeaderKey(auth.serverUrl);
  const base = Number.parseInt(env.GIT_CONFIG_COUNT ?? "0", 10) || 0;
  return {
    GIT_CONFIG_COUNT: String(base + 2),
    [`GIT_CONFIG_KEY_${base}`]: key,
    [`GIT_CONFIG_VALUE_${base}`]: "",
    [`GIT_CONFIG_KEY_${base + 1}`]: key,
    [`GIT_CONFIG_VALUE_${base + 1}`]: authorizationHeader(auth.token).header,
  };
}

function spawnGit(cwd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.once("error", reject);
    child.once("close", (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      }),
    );
    child.stdin.on("error", () => {
      // git may exit before reading its input; the exit code tells what happened.
    });
    child.stdin.end(input ?? "");
  });
}
