/**
 * The action entry (dist/index.js). Thin: inputs are read once, the core runs, and results become
 * annotations, outputs, the job summary and the step's status. Bad input never shows a stack trace.
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import * as core from "@actions/core";
import { readChartImagesRecord } from "./charts/record.js";
import { STEP_OUTCOMES } from "./execute/execute.js";
import { syncReportJson, writeReportFile } from "./execute/sync.js";
import { commitBack, commitBackOutputs } from "./git/commit-back.js";
import { readEventFacts } from "./git/event.js";
import { checkOutputFolder, writeOutputFolder } from "./git/output-folder.js";
import { InputError, type Inputs, readInputs } from "./inputs.js";
import type { ImageEntry, MirrorList } from "./list/model.js";
import { readMirrorList } from "./list/read.js";
import type { Plan } from "./plan/model.js";
import { CHART_IMAGES_FILE, type ChartImagesRecord } from "./render/chart-images.js";
import { describeFailure } from "./report/failure.js";
import { listSummary } from "./report/list-json.js";
import { formatPlan, planMarkdown, planToJson } from "./report/plan.js";
import { type Annotation, formatProblems, problemAnnotations } from "./report/problems.js";
import { syncSummaryMarkdown } from "./report/sync-summary.js";
import {
  connectTarget,
  digestInTarget,
  planRun,
  renderNodeFiles,
  syncRun,
  type TargetConnection,
  withConfiguratorImage,
} from "./run.js";
import { exitOnSignals } from "./signals.js";
import { maskRunSecrets, maskUrlCredentials, SecretMask, upstreamCredentials } from "./tools/credentials.js";
import { neutraliseCommands } from "./tools/log-safe.js";

/** Every credential of the run: registered with the runner's masker and redacted from every line and file. */
const runMask = new SecretMask((s) => core.setSecret(s));

/**
 * The one sink for data-derived text in the log (list values, upstream answers, tool output): secrets
 * redacted, and no line able to start a workflow command. `core.info` prints raw text; `core.debug` escapes
 * its data (the tool output it carries is redacted by the tool runner).
 */
function info(text: string): void {
  core.info(safe(text));
}

/**
 * Data-derived text as any log line may carry it: secrets redacted, commands defanged. Annotation and failure
 * messages go through it too: @actions/core escapes their line breaks, and this also keeps the legacy `##[`.
 */
function safe(text: string): string {
  return neutraliseCommands(runMask.redact(text));
}

/** The job summary, secrets redacted and commands defanged (a later step may print it; cells escape themselves). */
async function writeSummary(markdown: string): Promise<void> {
  await core.summary.addRaw(safe(markdown)).write();
}

function annotate(annotations: readonly Annotation[]): void {
  for (const a of annotations) {
    const props = { title: a.title, file: a.file, startLine: a.line, startColumn: a.column };
    const message = safe(a.message);
    if (a.severity === "error") core.error(message, props);
    else if (a.severity === "warning") core.warning(message, props);
    else core.notice(message, props);
  }
}

/** Reads and validates the list; on problems annotates their lines; null when it is invalid. */
async function loadList(inputs: Inputs): Promise<{ list: MirrorList | null; shown: string }> {
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const path = isAbsolute(inputs.mirrorFile) ? inputs.mirrorFile : resolve(workspace, inputs.mirrorFile);
  // Annotations attach to lines only with a path relative to the repository root.
  const shown = relative(workspace, path) || inputs.mirrorFile;
  const { list, problems } = await core.group(`Validate ${shown}`, async () => {
    // Credentials in URLs of the list are masked even when the list is rejected.
    const result = await readMirrorList(path, shown, (text) => maskUrlCredentials(runMask, text));
    if (result.problems.length > 0) info(formatProblems(result.problems));
    if (result.list) info(listSummary(result.list));
    return result;
  });
  annotate(problemAnnotations(problems, shown));
  if (!list) {
    const errors = problems.filter((p) => p.severity === "error").length;
    core.setFailed(
      `${shown} has ${errors} error${errors === 1 ? "" : "s"}; nothing was copied or committed.`,
    );
  }
  return { list, shown };
}

/** Blocked steps and plan warnings, as annotations on the mirror-list lines they come from. */
function planAnnotations(plan: Plan, file: string): Annotation[] {
  const out: Annotation[] = [];
  for (const s of plan.steps.filter((x) => x.action === "blocked").slice(0, 10)) {
    out.push({
      severity: "warning",
      title: "Blocked by tag immutability",
      message: `${s.source} -> ${s.repository}:${s.tag}: ${s.reason}`,
      file,
      ...(s.location ? { line: s.location.line, column: s.location.column } : {}),
    });
  }
  for (const w of plan.warnings.slice(0, 10 - out.length)) {
    out.push({
      severity: "warning",
      title: "ecr-mirror plan",
      message: w.hint ? `${w.message}\nHint: ${w.hint}` : w.message,
      file,
      ...(w.location ? { line: w.location.line, column: w.location.column } : {}),
    });
  }
  return out;
}

/**
 * The chart images record the last sync rendered into the render folder (committed with it), so charts with
 * `images: true` are not downloaded and rendered again while their versions and values stay the same.
 */
async function loadChartRecord(inputs: Inputs, list: MirrorList): Promise<ChartImagesRecord | null> {
  const discovers =
    list.charts.some((c) => c.images !== null) || list.chartRanges?.some((r) => r.images !== null);
  if (!inputs.renderDir || !discovers) return null;
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const { record, warning } = await readChartImagesRecord(
    resolve(workspace, inputs.renderDir, CHART_IMAGES_FILE),
  );
  if (warning) core.warning(safe(warning), { title: "Chart images record ignored" });
  if (record)
    info(
      `Chart images record: ${record.charts.length} chart version(s) in ${join(inputs.renderDir, CHART_IMAGES_FILE)}`,
    );
  return record;
}

/** Upstream credentials from the inputs (masked) and the connected target. */
async function connect(inputs: Inputs, list: MirrorList, mask: SecretMask) {
  const credentials = upstreamCredentials({
    dockerHubUsername: inputs.dockerHubUsername,
    dockerHubToken: inputs.dockerHubToken,
    registryCredentials: inputs.registryCredentials,
  });
  for (const c of credentials) mask.addBasic(c.username, c.password);
  const target = await connectTarget(list, {
    region: inputs.awsRegion,
    registryUrl: inputs.registryUrl,
    registryAuth:
      inputs.registryUsername && inputs.registryPassword
        ? { username: inputs.registryUsername, password: inputs.registryPassword }
        : null,
    mask,
  });
  return { credentials, target };
}

async function plan(inputs: Inputs, listed: MirrorList, shown: string, mask: SecretMask): Promise<void> {
  // A sync that renders mirrors the configurator image too: the plan shows it.
  const list = inputs.renderDir ? withConfiguratorImage(listed, inputs.configuratorImage).list : listed;
  const { plan: result, cost } = await core.group("Observe the target and plan", async () => {
    const { credentials, target } = await connect(inputs, list, mask);
    const known = await loadChartRecord(inputs, list);
    const r = await planRun(list, target, {
      resync: inputs.resync,
      upstreamCredentials: credentials,
      charts: { mask, ...(known ? { known } : {}) },
    });
    info(formatPlan(r.plan));
    return r;
  });
  annotate(planAnnotations(result, shown));
  const planFile = join(process.env.RUNNER_TEMP ?? process.cwd(), "ecr-mirror-plan.json");
  await writeReportFile(planFile, planToJson(result, cost), mask);
  core.setOutput("plan-file", planFile);
  for (const [action, n] of Object.entries(result.summary)) core.setOutput(action, n);
  await writeSummary(planMarkdown(result));
}

async function sync(inputs: Inputs, listed: MirrorList, shown: string, mask: SecretMask): Promise<void> {
  // Rendering needs the configurator image mirrored: it joins the plan when the list lacks it.
  const configurator = inputs.renderDir ? withConfiguratorImage(listed, inputs.configuratorImage) : null;
  const list = configurator?.list ?? listed;
  if (inputs.renderDir) {
    // A render folder ecr-mirror may not write is refused before anything is copied (see output-folder.ts).
    try {
      await checkOutputFolder(process.env.GITHUB_WORKSPACE ?? process.cwd(), inputs.renderDir);
    } catch (e) {
      skipNodeConfiguration(`render-dir cannot be written: ${describeFailure(e, mask).split("\n")[0]}`);
      core.setFailed(safe(`${describeFailure(e, mask)}\nNothing was copied or committed.`));
      return;
    }
  }
  const { credentials, target } = await core.group("Connect to the target", () =>
    connect(inputs, list, mask),
  );
  const known = await loadChartRecord(inputs, list);
  const result = await syncRun(list, target, {
    ...(known ? { charts: { known } } : {}),
    ...(configurator ? { observeDigestOf: [configurator.entry] } : {}),
    resync: inputs.resync,
    upstreamCredentials: credentials,
    mask,
    crane: inputs.crane,
    helm: inputs.helm,
    toolLimits: inputs.toolLimits,
    concurrency: inputs.concurrency,
    log: info,
    debug: (line) => core.debug(safe(line)),
    group: (name, work) => core.group(name, work),
  });
  await core.group("Plan", async () => info(formatPlan(result.plan)));
  annotate(planAnnotations(result.plan, shown));
  // Failed steps as errors on their mirror-list lines: the first ten, then a count (GitHub shows ten per step).
  const failures = result.report.failures;
  for (const f of failures.slice(0, 10)) {
    core.error(
      safe(`${f.source ?? f.repository} -> ${f.repository}:${f.tag ?? ""}: ${f.error ?? "failed"}`),
      {
        title: "ecr-mirror sync failed",
        file: shown,
        ...(f.location ? { startLine: f.location.line, startColumn: f.location.column } : {}),
      },
    );
  }
  if (failures.length > 10) core.notice(`${failures.length - 10} more failed step(s): see the report`);
  const reportPath = inputs.reportPath
    ? resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), inputs.reportPath)
    : join(process.env.RUNNER_TEMP ?? process.cwd(), "ecr-mirror-report.json");
  await writeReportFile(reportPath, syncReportJson(result.plan, result, result.cost), mask);
  core.setOutput("report-path", reportPath);
  for (const outcome of STEP_OUTCOMES) core.setOutput(outcome, result.report.counts[outcome]);
  await writeSummary(syncSummaryMarkdown(result.report, { reportPath, processes: result.processes }));
  if (inputs.renderDir && configurator && !result.report.ok) {
    // Policy: a failed step means the mirror does not hold what the node configuration would send nodes
    // to, so nothing is written or committed after one; the step fails below.
    skipNodeConfiguration(
      `${failures.length} step${failures.length === 1 ? "" : "s"} failed, so the node configuration in ${inputs.renderDir} was neither written nor committed`,
    );
  } else if (inputs.renderDir && configurator) {
    // The planned list: chart ranges resolved, images found in charts (and their upstreams) added.
    await nodeConfiguration(
      inputs,
      result.list,
      target,
      {
        entry: configurator.entry,
        digest: digestInTarget(configurator.entry, result.plan, result.report),
      },
      result.chartImages,
    );
  }
  if (!result.report.ok) {
    core.setFailed(
      safe(
        `${failures.length} step${failures.length === 1 ? "" : "s"} failed: ${failures
          .slice(0, 3)
          .map((f) => f.source ?? f.repository)
          .join(", ")}${failures.length > 3 ? ", ..." : ""}`,
      ),
    );
  }
}

/** The `commit-back` output says `skipped`, and `commit-back-reason` why; the log says it too. */
function skipNodeConfiguration(reason: string): void {
  info(`Node configuration skipped: ${reason}.`);
  core.setOutput("commit-back", "skipped");
  core.setOutput("commit-back-reason", safe(reason));
}

/** Renders the node configuration into the render folder and, when asked, commits it back. */
async function nodeConfiguration(
  inputs: Inputs,
  list: MirrorList,
  target: Pick<TargetConnection, "registry" | "plainHttp" | "region">,
  configurator: { entry: ImageEntry; digest: string | null },
  chartImages: ChartImagesRecord,
): Promise<void> {
  const renderDir = inputs.renderDir!;
  const rendered = renderNodeFiles(list, target, configurator, {
    startupTaint: inputs.startupTaint,
    chartImages,
  });
  if (!rendered.ok) {
    for (const p of rendered.problems)
      core.error(safe(`${p.message} ${p.hint}`), { title: "Node configuration not rendered" });
    const problem = safe(
      `the node configuration could not be rendered: ${rendered.problems.map((p) => p.message).join(" ")}`,
    );
    skipNodeConfiguration(problem);
    core.setFailed(problem);
    return;
  }
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd();
  const files = rendered.files;
  await core.group(`Node configuration in ${renderDir}`, async () => {
    try {
      await writeOrCommit();
    } catch (e) {
      core.setOutput("commit-back", "failed");
      core.setOutput(
        "commit-back-reason",
        safe((e instanceof Error ? e.message : String(e)).split("\n")[0]!),
      );
      throw e;
    }
  });

  async function writeOrCommit(): Promise<void> {
    core.setOutput("render-dir", renderDir);
    if (inputs.commitBack === "none") {
      const written = await writeOutputFolder(workspace, renderDir, files);
      info(`Wrote ${written.files.length} files to ${written.folder} (commit-back: none).`);
      core.setOutput("commit-back", "none");
      core.setOutput("commit-back-reason", "commit-back is none: the files were only written");
      return;
    }
    const result = await commitBack({
      repoDir: workspace,
      files,
      outDir: renderDir,
      mode: inputs.commitBack,
      event: await readEventFacts(),
      allowOnPullRequest: inputs.commitOnPullRequest,
      token: inputs.githubToken ?? "",
      serverUrl: process.env.GITHUB_SERVER_URL ?? "https://github.com",
      apiUrl: process.env.GITHUB_API_URL ?? "https://api.github.com",
      repository: process.env.GITHUB_REPOSITORY ?? "",
      mask: (secret) => runMask.add(secret),
      log: info,
    });
    const outputs = commitBackOutputs(result);
    core.setOutput("commit-back", outputs.outcome);
    core.setOutput("commit-back-reason", safe(result.reason ?? ""));
    for (const [name, value] of Object.entries(outputs)) if (name !== "outcome") core.setOutput(name, value);
    info(`Commit-back: ${result.outcome}${result.reason ? ` (${result.reason})` : ""}`);
  }
}

async function run(): Promise<void> {
  // First: every credential in the environment and the inputs, masked before anything could print it.
  maskRunSecrets(runMask, process.env);
  const mask = runMask;
  const inputs = readInputs();
  const { list, shown } = await loadList(inputs);
  if (!list) return;
  core.setOutput("images", list.images.length);
  core.setOutput("charts", list.charts.length);
  try {
    if (inputs.mode === "plan") await plan(inputs, list, shown, mask);
    else if (inputs.mode === "sync") await sync(inputs, list, shown, mask);
  } catch (e) {
    core.setFailed(safe(describeFailure(e, mask)));
  }
}

// A cancelled job: the runner sends SIGINT, then SIGTERM. Exiting runs the handlers that remove the
// credential folders and stop crane and helm (the post step is the safety net for a SIGKILL).
exitOnSignals((line) => core.info(line));

run().catch((e: unknown) => {
  if (e instanceof InputError) core.setFailed(safe(e.message));
  else
    core.setFailed(
      safe(`ecr-mirror failed unexpectedly: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
    );
});
