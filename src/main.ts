/**
 * The action entry (dist/index.js). Thin: inputs are read once, the core runs, and results become
 * annotations, outputs and the step's status. Bad input never shows a stack trace.
 */
import { isAbsolute, relative, resolve } from "node:path";
import * as core from "@actions/core";
import { InputError, readInputs } from "./inputs.js";
import { readMirrorList } from "./list/read.js";
import { listSummary } from "./report/list-json.js";
import { formatProblems, problemAnnotations } from "./report/problems.js";

async function run(): Promise<void> {
  const inputs = readInputs();
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const path = isAbsolute(inputs.mirrorFile) ? inputs.mirrorFile : resolve(workspace, inputs.mirrorFile);
  // Annotations attach to lines only with a path relative to the repository root.
  const shown = relative(workspace, path) || inputs.mirrorFile;
  const { list, problems } = await core.group(`Validate ${shown}`, async () => {
    const result = await readMirrorList(path, shown);
    if (result.problems.length > 0) core.info(formatProblems(result.problems));
    if (result.list) core.info(listSummary(result.list));
    return result;
  });
  for (const a of problemAnnotations(problems, shown)) {
    const props = { title: a.title, file: a.file, startLine: a.line, startColumn: a.column };
    if (a.severity === "error") core.error(a.message, props);
    else if (a.severity === "warning") core.warning(a.message, props);
    else core.notice(a.message, props);
  }
  if (!list) {
    const errors = problems.filter((p) => p.severity === "error").length;
    core.setFailed(
      `${shown} has ${errors} error${errors === 1 ? "" : "s"}; nothing was copied or committed.`,
    );
    return;
  }
  core.setOutput("images", list.images.length);
  core.setOutput("charts", list.charts.length);
}

run().catch((e: unknown) => {
  if (e instanceof InputError) core.setFailed(e.message);
  else
    core.setFailed(
      `ecr-mirror failed unexpectedly: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    );
});
