/**
 * `ecr-mirror add REF [FILE]` and `ecr-mirror add --chart SOURCE [NAME] VERSION [FILE]`: one image or chart
 * version added to the mirror list (list/edit.ts decides where and checks the result); the file is written
 * only when the edited list is valid.
 */
import { writeFile } from "node:fs/promises";
import { type Addition, addToList } from "./list/edit.js";
import { readMirrorList } from "./list/read.js";
import { formatProblem } from "./report/problems.js";

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE =
  "usage: ecr-mirror add REF [FILE], ecr-mirror add --chart https://REPO NAME VERSION [FILE], " +
  "ecr-mirror add --chart oci://HOST/PATH/NAME VERSION [FILE]";

/** The addition and the list file the positionals name, or a usage problem. */
function readArguments(args: string[], chart: boolean): { addition: Addition; file: string } | string {
  if (!chart) {
    const [reference, file, ...rest] = args;
    if (reference === undefined || rest.length > 0) return USAGE;
    return { addition: { kind: "image", reference }, file: file ?? "mirrors.yaml" };
  }
  const [source] = args;
  if (source === undefined) return USAGE;
  const oci = source.startsWith("oci://");
  const [name, version, file, ...rest] = oci ? [null, ...args.slice(1)] : args.slice(1);
  if (version === undefined || version === null || rest.length > 0) return USAGE;
  return { addition: { kind: "chart", source, name: name ?? null, version }, file: file ?? "mirrors.yaml" };
}

export async function add(args: string[], flags: { chart?: boolean | undefined }, io: Io): Promise<number> {
  const read = readArguments(args, flags.chart === true);
  if (typeof read === "string") {
    io.err(`ecr-mirror add: ${read}\n`);
    return 2;
  }
  const { addition, file } = read;
  const seen: { text: string | null } = { text: null };
  const { problems } = await readMirrorList(file, file, (t) => {
    seen.text = t;
  });
  const text = seen.text;
  if (text === null) {
    for (const p of problems) io.err(`${formatProblem(p)}\n`);
    if (problems.length === 0) io.err(`ecr-mirror add: cannot read ${file}\n`);
    return 1;
  }
  const result = addToList(text, file, addition);
  if (!result.ok) {
    for (const p of result.problems) io.err(`${formatProblem(p)}\n`);
    io.err(
      result.afterEdit
        ? `ecr-mirror add: the list would not be valid with it (the lines above are where it would go); ${file} was not changed\n`
        : `ecr-mirror add: ${file} was not changed\n`,
    );
    return 1;
  }
  await writeFile(file, result.text);
  io.out(`${file}:${result.location.line}: added ${result.added} (${result.how})\n`);
  return 0;
}
