// git as a person runs it in a test's own setup and checks (never through the product): a fixed identity, no
// credential prompt, the whole output (a history can be large).
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Runs `git args` in `cwd` as Dev <dev@example.com>; its stdout, trimmed. Fails with git's stderr. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("git", args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Dev",
      GIT_AUTHOR_EMAIL: "dev@example.com",
      GIT_COMMITTER_NAME: "Dev",
      GIT_COMMITTER_EMAIL: "dev@example.com",
      GIT_TERMINAL_PROMPT: "0",
    },
  });
  return stdout.trim();
}
