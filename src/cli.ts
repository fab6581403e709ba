/** The terminal entry (dist/cli.js, the `ecr-mirror` bin). Thin: the commands live in cli-commands.ts. */
import { main } from "./cli-commands.js";
import { neutraliseCommands } from "./report/log-safe.js";

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

// Ctrl-C, a closed terminal or a `kill` end Node without running its 'exit' handlers, and those remove the
// credential session folders (ECR token, upstream passwords) and stop child processes. Exiting with the
// shell's 128 + signal number runs them.
const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
  process.once(signal, () => {
    process.stderr.write(`\necr-mirror: stopped by ${signal}\n`);
    process.exit(code);
  });
}

process.exitCode = await main(process.argv.slice(2), {
  out: (s) => stdout(s),
  err: (s) => process.stderr.write(s),
});
