// A mirror list a test writes inline, parsed by the real parser: the list, or an error naming every problem.
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";

export function validList(text: string, file = "mirrors.yaml"): MirrorList {
  const { list, problems } = parseMirrorList(text, file);
  if (!list) throw new Error(problems.map((p) => p.message).join("\n"));
  return list;
}
