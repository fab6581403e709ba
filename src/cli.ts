/** The terminal entry (dist/cli.js, the `ecr-mirror` bin). Thin: the commands live in cli-commands.ts. */
import { main } from "./cli-commands.js";

process.exitCode = await main(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
