/** The terminal entry (dist/cli.js, the `ecr-mirror` bin). Thin: the commands live in cli-commands.ts. */
// First, before anything else is evaluated: a clear message on a Node.js older than 24.
import "./node-version.js";
import { main } from "./cli-commands.js";
import { exitOnSignals } from "./signals.js";
import { neutraliseCommands } from "./tools/log-safe.js";

// Libraries written for Actions (@actions/tool-cache, @actions/exec) print workflow commands such as
// `::debug::…` on stdout. In a terminal they are noise, and they would corrupt `--json` output, so
// stdout is kept for ecr-mirror's own output: debug lines are dropped, anything else goes to stderr, defanged
// like every other line the CLI prints (a `run:` step's output is parsed for workflow commands too).
const stdout = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  const text = String(chunk);
  if (!text.startsWith("::debug::")) return process.stderr.write(neutraliseCommands(text), ...rest);
  return process.env.ECR_MIRROR_DEBUG ? process.stderr.write(chunk, ...rest) : true;
}) as typeof process.stdout.write;

exitOnSignals((line) => process.stderr.write(`\n${line}\n`));

process.exitCode = await main(process.argv.slice(2), {
  out: (s) => stdout(s),
  err: (s) => process.stderr.write(s),
  errIsTTY: process.stderr.isTTY === true,
});
