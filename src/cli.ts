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
