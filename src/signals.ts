/**
 * A cancelled job, Ctrl-C, a closed terminal or a `kill` end Node without running its 'exit' handlers, and
 * those remove the credential session folders (ECR token, upstream passwords) and stop the crane and helm
 * processes still running. Both entries call this: exiting with the shell's 128 + signal number runs them.
 */
const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

export function exitOnSignals(say: (line: string) => void): void {
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.once(signal, () => {
      say(`ecr-mirror: stopped by ${signal}`);
      process.exit(code);
    });
  }
}
