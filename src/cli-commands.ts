/**
 * The terminal's commands: `ecr-mirror <command> [FILE] [options]`. It parses argv, calls the
 * same core the action calls, and turns results into text and exit codes
 * (0 success, 1 the list or the run failed, 2 usage error).
 */
import { parseArgs } from "node:util";
import { readMirrorList } from "./list/read.js";
import { listSummary, listToJson } from "./report/list-json.js";
import { formatProblems } from "./report/problems.js";

const USAGE = `Usage: ecr-mirror <command> [FILE] [options]

Commands:
  validate [FILE] [--json]   Check the mirror list (default mirrors.yaml) and show where each entry lands.

Options:
  --json      Print one JSON document on stdout.
  -h, --help  Show this help.
  --version   Print the version.
`;

const VERSION = "0.1.0";

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    io.err(`ecr-mirror: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(`ecr-mirror ${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") {
    (command === undefined && !values.help ? io.err : io.out)(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case "validate":
      return validate(rest, values.json === true, io);
    default:
      io.err(`ecr-mirror: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function validate(args: string[], json: boolean, io: Io): Promise<number> {
  if (args.length > 1) {
    io.err(`ecr-mirror validate: expected one FILE, got ${args.length}\n`);
    return 2;
  }
  const file = args[0] ?? "mirrors.yaml";
  const { list, problems } = await readMirrorList(file);
  if (problems.length > 0) io.err(`${formatProblems(problems)}\n`);
  if (!list) return 1;
  io.out(json ? `${JSON.stringify(listToJson(list), null, 2)}\n` : `${listSummary(list)}\n`);
  return 0;
}
