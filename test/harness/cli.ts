// The terminal entry as a test calls it: `main(argv)` with stdout and stderr captured, an environment (the
// process's unless given) and, when given, text on stdin.
import { Readable } from "node:stream";
import { main } from "../../src/cli-commands.js";

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<CliRun> {
  let out = "";
  let err = "";
  const code = await main(args, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    env: options.env ?? process.env,
    ...(options.stdin !== undefined ? { stdin: Readable.from([Buffer.from(options.stdin)]) } : {}),
  });
  return { code, out, err };
}
