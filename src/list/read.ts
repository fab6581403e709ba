/** Reads the mirror-list file from disk and parses it: the one place the list touches the file system. */
import { open } from "node:fs/promises";
import { MAX_LIST_BYTES, TOO_LARGE_HINT } from "./limits.js";
import { type ParseResult, parseMirrorList } from "./parse.js";

/** The file's text, or null when it holds more than MAX_LIST_BYTES (read no further: a FIFO or /dev/zero never ends). */
async function readBounded(path: string): Promise<string | null> {
  const handle = await open(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_LIST_BYTES) return null;
      chunks.push(Buffer.from(buffer.subarray(0, bytesRead)));
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** `seen` gets the text before it is parsed (the entries mask any URL credentials in it, even in a rejected list). */
export async function readMirrorList(
  path: string,
  displayPath = path,
  seen?: (text: string) => void,
): Promise<ParseResult> {
  const refuse = (message: string, hint: string): ParseResult => ({
    list: null,
    problems: [{ file: displayPath, line: 1, column: 1, severity: "error", message, hint }],
  });
  let text: string | null;
  try {
    text = await readBounded(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message;
    return refuse(
      `cannot read the mirror list: ${why}`,
      "pass the path of your mirror list (default mirrors.yaml at the repository root)",
    );
  }
  if (text === null)
    return refuse(`the mirror list is larger than ${MAX_LIST_BYTES / 1024 / 1024} MiB`, TOO_LARGE_HINT);
  seen?.(text);
  return parseMirrorList(text, displayPath);
}
