/** Reads the mirror-list file from disk and parses it: the one place the list touches the file system. */
import { readFile } from "node:fs/promises";
import { type ParseResult, parseMirrorList } from "./parse.js";

export async function readMirrorList(path: string, displayPath = path): Promise<ParseResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message;
    return {
      list: null,
      problems: [
        {
          file: displayPath,
          line: 1,
          column: 1,
          severity: "error",
          message: `cannot read the mirror list: ${why}`,
          hint: "pass the path of your mirror list (default mirrors.yaml at the repository root)",
        },
      ],
    };
  }
  return parseMirrorList(text, displayPath);
}
