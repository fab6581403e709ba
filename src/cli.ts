/** The terminal entry (dist/cli.js, the `ecr-mirror` bin). Thin: the commands live in cli-commands.ts. */
import { main } from "./cli-commands.js";

// Libraries written for Actions (@actions/tool-cache, @actions/exec) print workflow commands such as
// `::debug::…` on stdout. In a terminal they are noise, and they would corrupt `--json` output, so
// stdout is kept for ecr-mirror's own output: debug lines are dropped, anything else goes to stderr.
const stdout = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
  String(chunk).startsWith("::debug::") && !process.env.ECR_MIRROR_DEBUG
    ? true
    : process.stderr.write(chunk, ...rest)) as typeof process.stdout.write;

process.exitCode = await main(process.argv.slice(2), {
  out: (s) => stdout(s),
  err: (s) => process.stderr.write(s),
});
