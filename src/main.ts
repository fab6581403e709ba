/**
 * The action: `run(inputs, deps)` reads the inputs once, runs the core, and turns results into annotations,
 * outputs, the job summary and the step's status. Bad input never shows a stack trace. Everything it
 * needs from the runner comes in `deps` (src/index.ts passes @actions/core and the process's environment),
 * so tests run it from source with a recording facade.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import type * as actionsCore from "@actions/core";
import { auditFindsMissing } from "./audit/audit.js";
import { chartImagesOf, runAudit } from "./audit-run.js";
import { readChartImagesRecord } from "./charts/record.js";
import { MirrorError } from "./errors.js";
import { STEP_OUTCOMES } from "./execute/execute.js";
import { syncReportJson, writeReportFile } from "./execute/sync.js";
import { commitBack, commitBackOutputs } from "./git/commit-back.js";
import { type PullRequestFacts, readEventFacts, readPullRequestFacts } from "./git/event.js";
import { checkOutputFolder, writeOutputFolder } from "./git/output-folder.js";
import { findOpenPullRequest } from "./git/pull-request.js";
import { commentMarker, upsertPullRequestComment } from "./git/pull-request-comment.js";
import { InputError, type InputReader, type Inputs, readInputs } from "./inputs.js";
import type { ImageEntry, ListProblem, MirrorList } from "./list/model.js";
import { readMirrorList } from "./list/read.js";
import { RANGES_LOCK_FILE, type RangesLock } from "./list/tag-ranges.js";
import { readRangesLock } from "./observe/tag-ranges.js";
import { deletionOverride } from "./options.js";
import { checkDeletions, DeletionLimitError } from "./plan/deletions.js";
import type { Plan } from "./plan/model.js";
import { CHART_IMAGES_FILE, type ChartImagesRecord } from "./render/chart-images.js";
import { auditAnnotations, auditHeadline, auditMarkdown, auditToJson, formatAudit } from "./report/audit.js";
import { describeFailure, failureMarkdown } from "./report/failure.js";
import { listSummary } from "./report/list-json.js";
import { formatPlan, planToJson } from "./report/plan.js";
import {
  blobLineLink,
  COMMENT_BUDGET_BYTES,
  type LineLink,
  planMarkdown,
  SUMMARY_BUDGET_BYTES,
} from "./report/plan-markdown.js";
import {
  type Annotation,
  formatProblems,
  problemAnnotations,
  validationMarkdown,
} from "./report/problems.js";
import { redirectLines } from "./report/redirects.js";
import { commitBackMarkdown, syncSummaryMarkdown } from "./report/sync-summary.js";
import {
  type ConnectSettings,
  connect,
  digestInTarget,
  type PlanRunResult,
  planRun,
  renderNodeFiles,
  type SyncRunOptions,
  type SyncRunResult,
  syncRun,
  type TargetConnection,
  withConfiguratorImage,
} from "./run.js";
import {
  mergeRun,
  planShardedRun,
  readShardPlan,
  readShardReports,
  type ShardedPlanResult,
  shardFacts,
  shardSyncRun,
} from "./sharded.js";
import { maskRunSecrets, maskUrlCredentials, SecretMask } from "./tools/credentials.js";
import { neutraliseCommands } from "./tools/log-safe.js";

/** What the action writes to: @actions/core, or a recording facade in tests. */
export type ActionCore = Pick<
  typeof actionsCore,
  "info" | "debug" | "group" | "setOutput" | "setFailed" | "setSecret" | "error" | "warning" | "notice"
> & { summary: { addRaw(text: string): { write(): Promise<unknown> } } };

/** The outside world of one run: the core facade, the runner's environment and the current folder. */
export interface ActionDeps {
  core: ActionCore;
  /** GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_* of the event and the server; the AWS and tool variables. */
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** One run's context: the facade, every credential of the run, and the folders it works in. */
interface Ctx {
  core: ActionCore;
  env: NodeJS.ProcessEnv;
  /** Every credential of the run: registered with the runner's masker and redacted from every line and file. */
  mask: SecretMask;
  workspace: string;
  /** Where the plan file and the default report go (RUNNER_TEMP). */
  temp: string;
  /**
   * The one sink for data-derived text in the log (list values, upstream answers, tool output): secrets
   * redacted, and no line able to start a workflow command. `core.info` prints raw text; `core.debug` escapes
   * its data (the tool output it carries is redacted by the tool runner).
   */
  info(text: string): void;
  /**
   * Data-derived text as any log line may carry it: secrets redacted, commands defanged. Annotation and failure
   * messages go through it too: @actions/core escapes their line breaks, and this also keeps the legacy `##[`.
   */
  safe(text: string): string;
  /** The pull request this run belongs to, and links to the list's lines at its head commit. */
  review: Review;
}

/** The pull request of the run (null when there is none) and the link to a line of the list. */
interface Review {
  pull: PullRequestFacts | null;
  lineLink: LineLink | null;
}

function context(deps: ActionDeps): Ctx {
  const mask = new SecretMask((s) => deps.core.setSecret(s));
  const safe = (text: string) => neutraliseCommands(mask.redact(text));
  const workspace = deps.env.GITHUB_WORKSPACE ?? deps.cwd;
  return {
    core: deps.core,
    env: deps.env,
    mask,
    workspace,
    temp: deps.env.RUNNER_TEMP ?? deps.cwd,
    info: (text) => deps.core.info(safe(text)),
    safe,
    review: { pull: null, lineLink: null },
  };
}

/** The job summary, secrets redacted and commands defanged (a later step may print it; cells escape themselves). */
async function writeSummary(ctx: Ctx, markdown: string): Promise<void> {
  try {
    await ctx.core.summary.addRaw(ctx.safe(markdown)).write();
  } catch (e) {
    // Outside a runner (no GITHUB_STEP_SUMMARY) there is nowhere to write it: the log has the same facts.
    ctx.info(`Job summary not written: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function annotate(ctx: Ctx, annotations: readonly Annotation[]): void {
  for (const a of annotations) {
    const props = { title: a.title, file: a.file, startLine: a.line, startColumn: a.column };
    const message = ctx.safe(a.message);
    if (a.severity === "error") ctx.core.error(message, props);
    else if (a.severity === "warning") ctx.core.warning(message, props);
    else ctx.core.notice(message, props);
  }
}

/** Reads and validates the list; on problems annotates their lines; null when it is invalid. */
async function loadList(
  ctx: Ctx,
  inputs: Inputs,
): Promise<{ list: MirrorList | null; shown: string; problems: ListProblem[] }> {
  const workspace = ctx.workspace;
  const path = isAbsolute(inputs.mirrorFile) ? inputs.mirrorFile : resolve(workspace, inputs.mirrorFile);
  // Annotations attach to lines only with a path relative to the repository root.
  const shown = relative(workspace, path) || inputs.mirrorFile;
  const { list, problems } = await ctx.core.group(`Validate ${shown}`, async () => {
    // Credentials in URLs of the list are masked even when the list is rejected.
    const result = await readMirrorList(path, shown, (text) => maskUrlCredentials(ctx.mask, text));
    if (result.problems.length > 0) ctx.info(formatProblems(result.problems));
    if (result.list) ctx.info(listSummary(result.list));
    return result;
  });
  annotate(ctx, problemAnnotations(problems, shown));
  if (!list) {
    const errors = problems.filter((p) => p.severity === "error").length;
    ctx.core.setFailed(
      `${shown} has ${errors} error${errors === 1 ? "" : "s"}; nothing was copied or committed.`,
    );
  }
  return { list, shown, problems };
}

/** The target and the upstream credentials as the inputs give them. */
function connectSettings(ctx: Ctx, inputs: Inputs): ConnectSettings {
  return {
    // The input is a default: the list's target.region wins (action.yml, README, schema).
    region: null,
    defaultRegion: inputs.awsRegion,
    registryUrl: inputs.registryUrl,
    registryAuth:
      inputs.registryUsername && inputs.registryPassword
        ? { username: inputs.registryUsername, password: inputs.registryPassword }
        : null,
    upstream: {
      dockerHubUsername: inputs.dockerHubUsername,
      dockerHubToken: inputs.dockerHubToken,
      registryCredentials: inputs.registryCredentials,
    },
    mask: ctx.mask,
    env: ctx.env,
  };
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
async function loadChartRecord(
  ctx: Ctx,
  inputs: Inputs,
  list: MirrorList,
): Promise<ChartImagesRecord | null> {
  const discovers =
    list.charts.some((c) => c.images !== null) || list.chartRanges?.some((r) => r.images !== null);
  if (!inputs.renderDir || !discovers) return null;
  const workspace = ctx.workspace;
  const { record, warning } = await readChartImagesRecord(
    resolve(workspace, inputs.renderDir, CHART_IMAGES_FILE),
  );
  if (warning) ctx.core.warning(ctx.safe(warning), { title: "Chart images record ignored" });
  if (record)
    ctx.info(
      `Chart images record: ${record.charts.length} chart version(s) in ${join(inputs.renderDir, CHART_IMAGES_FILE)}`,
    );
  return record;
}

/**
 * The image tag ranges' lock the last sync rendered into the render folder (committed with it): ranges it holds as
 * written are not asked for upstream again until resync mode `digest`.
 */
async function loadRangesLock(ctx: Ctx, inputs: Inputs, list: MirrorList): Promise<RangesLock | null> {
  if (!inputs.renderDir || (list.imageRanges?.length ?? 0) === 0) return null;
  const { lock, warning } = await readRangesLock(resolve(ctx.workspace, inputs.renderDir, RANGES_LOCK_FILE));
  if (warning) ctx.core.warning(ctx.safe(warning), { title: "Tag range lock ignored" });
  if (lock)
    ctx.info(`Tag range lock: ${lock.ranges.length} range(s) in ${join(inputs.renderDir, RANGES_LOCK_FILE)}`);
  return lock;
}

async function plan(ctx: Ctx, inputs: Inputs, listed: MirrorList, shown: string): Promise<void> {
  const mask = ctx.mask;
  // A sync that renders mirrors the configurator image too: the plan shows it.
  const list = inputs.renderDir ? withConfiguratorImage(listed, inputs.configuratorImage).list : listed;
  const planned = await ctx.core.group<PlanRunResult | ShardedPlanResult>(
    "Observe the target and plan",
    async () => {
      const { credentials, target } = await connect(list, connectSettings(ctx, inputs));
      const known = await loadChartRecord(ctx, inputs, list);
      const lock = await loadRangesLock(ctx, inputs, list);
      const planOptions = {
        ranges: { lock },
        resync: inputs.resync,
        upstreamCredentials: credentials,
        copiesElsewhere: true,
        proveCopies: true,
        charts: { mask, ...(known ? { known } : {}) },
      };
      const { shards, maxParallel } = inputs.sharding;
      const r =
        shards !== null
          ? await planShardedRun(list, target, { ...planOptions, shards, maxParallel })
          : await planRun(list, target, planOptions);
      ctx.info([formatPlan(r.plan), ...redirectLines(r.list)].join("\n"));
      return r;
    },
  );
  if ("files" in planned) await writeShardPlans(ctx, inputs, planned);
  const { plan: result, cost } = planned;
  annotate(ctx, planAnnotations(result, shown));
  const planFile = join(ctx.temp, "ecr-mirror-plan.json");
  await writeReportFile(planFile, planToJson(result, cost), mask);
  ctx.core.setOutput("plan-file", planFile);
  for (const [action, n] of Object.entries(result.summary)) ctx.core.setOutput(action, n);
  const deletions = checkDeletions(result, list, deletionOverride(inputs.maxDeletions, "input"));
  await publish(ctx, inputs, shown, (budget) =>
    planMarkdown(result, {
      budget,
      lineLink: ctx.review.lineLink,
      deletions,
      everyStepIn:
        "the plan JSON (the `plan-file` output; the reusable workflow uploads it as an artifact) lists every one",
    }),
  );
  // Above the deletion limit the plan fails, on the list's prune line.
  if (deletions.exceeded) throw new DeletionLimitError(deletions, list, result);
}

/** The shard plans and the matrix into the `shard-plan` folder; outputs `shard-plans`, `matrix`, `shards`. */
async function writeShardPlans(ctx: Ctx, inputs: Inputs, result: ShardedPlanResult): Promise<void> {
  const dir = inputs.sharding.shardPlan
    ? resolve(ctx.workspace, inputs.sharding.shardPlan)
    : join(ctx.temp, "ecr-mirror-shards");
  for (const f of result.files) await writeReportFile(join(dir, `shard-${f.shard}.json`), f, ctx.mask);
  await writeReportFile(join(dir, "matrix.json"), result.matrix, ctx.mask);
  for (const f of result.files)
    ctx.info(
      `Shard ${f.shard}${f.shard === 0 ? " (seed: repositories, shared layers, runs first)" : ""}: ${f.entries.length} entries, ${f.entries.reduce((n, e) => n + e.bytes, 0)} bytes`,
    );
  ctx.core.setOutput("shard-plans", dir);
  ctx.core.setOutput("matrix", JSON.stringify(result.matrix));
}

/**
 * The job summary and, when the run belongs to a pull request and the `comment` input allows it, the pull
 * request's one ecr-mirror comment (created once, then updated), both from the same Markdown.
 */
async function publish(
  ctx: Ctx,
  inputs: Inputs,
  shown: string,
  markdown: (budget: number) => string,
): Promise<void> {
  await writeSummary(ctx, markdown(SUMMARY_BUDGET_BYTES));
  const pull = ctx.review.pull;
  if (inputs.comment === "never" || !pull) {
    if (inputs.comment === "always" && !pull)
      ctx.core.notice("No pull request for this run: no comment written.");
    return;
  }
  if (inputs.comment === "auto" && !pull.tokenMayWrite) {
    ctx.core.notice(FORK_NOTICE, { title: "ecr-mirror comment" });
    return;
  }
  const target = {
    apiUrl: ctx.env.GITHUB_API_URL ?? "https://api.github.com",
    repository: ctx.env.GITHUB_REPOSITORY ?? "",
    token: inputs.githubToken ?? "",
  };
  if (!target.token || !target.repository) {
    ctx.core.notice("No github-token (or GITHUB_REPOSITORY): no pull-request comment written.");
    return;
  }
  const marker = commentMarker(shown);
  const number =
    pull.number ??
    (pull.headBranch && pull.headOwner
      ? (await findOpenPullRequest(target, pull.headBranch, null, pull.headOwner))?.number
      : undefined);
  if (!number) {
    ctx.core.notice("The pull request of this run was not found: no comment written.");
    return;
  }
  const body = ctx.safe(markdown(COMMENT_BUDGET_BYTES - Buffer.byteLength(marker) - 1));
  let result: Awaited<ReturnType<typeof upsertPullRequestComment>>;
  try {
    result = await upsertPullRequestComment(target, number, marker, body);
  } catch (e) {
    // The summary holds the same text: a comment GitHub refuses is a warning, not a failed plan.
    ctx.core.warning(ctx.safe(describeFailure(e, ctx.mask)), { title: "ecr-mirror comment not written" });
    ctx.core.setOutput("comment", "failed");
    return;
  }
  if (result.outcome === "forbidden") {
    ctx.core.notice(`${ctx.safe(result.reason)}\n${FORK_NOTICE}`, { title: "ecr-mirror comment" });
    ctx.core.setOutput("comment", "forbidden");
    return;
  }
  ctx.info(`Pull request comment ${result.outcome}: ${result.url}`);
  ctx.core.setOutput("comment", result.outcome);
  ctx.core.setOutput("comment-url", result.url);
}

const FORK_NOTICE =
  "This token may not comment on the pull request (a fork's token is read-only). The job summary has the same text; " +
  'to get the comment on pull requests from forks, use the workflow_run pattern of the reusable workflow (README, "Pull requests from forks").';

/** A render folder ecr-mirror may not write is refused before anything is copied (see output-folder.ts). */
async function renderDirRefused(ctx: Ctx, renderDir: string): Promise<boolean> {
  try {
    await checkOutputFolder(ctx.workspace, renderDir);
    return false;
  } catch (e) {
    const why = describeFailure(e, ctx.mask);
    await skipNodeConfiguration(ctx, `render-dir cannot be written: ${why.split("\n")[0]}`);
    ctx.core.setFailed(ctx.safe(`${why}\nNothing was copied or committed.`));
    return true;
  }
}

/** `2 steps failed` */
function stepsFailed(failures: readonly unknown[]): string {
  return `${failures.length} step${failures.length === 1 ? "" : "s"} failed`;
}

async function sync(ctx: Ctx, inputs: Inputs, listed: MirrorList, shown: string): Promise<void> {
  // Rendering needs the configurator image mirrored: it joins the plan when the list lacks it.
  const configurator = inputs.renderDir ? withConfiguratorImage(listed, inputs.configuratorImage) : null;
  const list = configurator?.list ?? listed;
  if (inputs.renderDir && (await renderDirRefused(ctx, inputs.renderDir))) return;
  const { credentials, target } = await ctx.core.group("Connect to the target", () =>
    connect(list, connectSettings(ctx, inputs)),
  );
  const known = await loadChartRecord(ctx, inputs, list);
  const lock = await loadRangesLock(ctx, inputs, list);
  const { shardPlan, shard: shardNumber } = inputs.sharding;
  const shard = shardPlan ? await readShardPlan(resolve(ctx.workspace, shardPlan), shardNumber) : null;
  const runSync = shard
    ? (l: MirrorList, t: TargetConnection, o: SyncRunOptions) => shardSyncRun(l, t, shard, o)
    : syncRun;
  const result = await runSync(list, target, {
    ...runOptions(ctx, inputs, { credentials, known, configurator }),
    ranges: { lock },
    concurrency: inputs.concurrency,
    putImageRate: inputs.putImageRate,
  });
  await reportSync(ctx, inputs, result, shown, shard ? shardFacts(shard) : {});
  const failures = result.report.failures;
  if (shard) {
    // A shard renders nothing: the merge renders and commits once, after every shard.
  } else if (inputs.renderDir && configurator && !result.report.ok) {
    // Policy: a failed step means the mirror does not hold what the node configuration would send nodes
    // to, so nothing is written or committed after one; the step fails below.
    await skipNodeConfiguration(
      ctx,
      `${stepsFailed(failures)}, so the node configuration in ${inputs.renderDir} was neither written nor committed`,
    );
  } else if (configurator) {
    // The planned list: chart ranges resolved, images found in charts (and their upstreams) added.
    await nodeConfiguration(
      ctx,
      inputs,
      result.list,
      target,
      {
        entry: configurator.entry,
        digest: digestInTarget(configurator.entry, result.plan, result.report),
      },
      result.chartImages,
      result.rangesLock,
    );
  }
  if (!result.report.ok) {
    const named = failures.slice(0, 3).map((f) => f.source ?? f.repository);
    ctx.core.setFailed(
      ctx.safe(`${stepsFailed(failures)}: ${named.join(", ")}${failures.length > 3 ? ", ..." : ""}`),
    );
  }
}

/** The sync's plan in the log, its failures on their lines, the report file, the outputs and the summary. */
async function reportSync(
  ctx: Ctx,
  inputs: Inputs,
  result: Pick<SyncRunResult, "plan" | "report" | "processes" | "cost"> & Partial<SyncRunResult>,
  shown: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await ctx.core.group("Plan", async () => ctx.info(formatPlan(result.plan)));
  annotate(ctx, planAnnotations(result.plan, shown));
  // Failed steps as errors on their mirror-list lines: the first ten, then a count (GitHub shows ten per step).
  const failures = result.report.failures;
  for (const f of failures.slice(0, 10)) {
    ctx.core.error(
      ctx.safe(`${f.source ?? f.repository} -> ${f.repository}:${f.tag ?? ""}: ${f.error ?? "failed"}`),
      {
        title: "ecr-mirror sync failed",
        file: shown,
        ...(f.location ? { startLine: f.location.line, startColumn: f.location.column } : {}),
      },
    );
  }
  if (failures.length > 10) ctx.core.notice(`${failures.length - 10} more failed step(s): see the report`);
  const reportPath = inputs.reportPath
    ? resolve(ctx.workspace, inputs.reportPath)
    : join(ctx.temp, "ecr-mirror-report.json");
  await writeReportFile(
    reportPath,
    { ...syncReportJson(result.plan, result, result.cost), ...extra },
    ctx.mask,
  );
  ctx.core.setOutput("report-path", reportPath);
  for (const outcome of STEP_OUTCOMES) ctx.core.setOutput(outcome, result.report.counts[outcome]);
  await writeSummary(ctx, syncSummaryMarkdown(result.report, { reportPath, processes: result.processes }));
}

/** The shards' report files under `shard-reports` (a folder, searched through, or one file). */
async function shardReportFiles(ctx: Ctx, inputs: Inputs): Promise<string[]> {
  const given = inputs.sharding.shardReports;
  if (!given)
    throw new InputError('mode merge needs input "shard-reports": the folder holding the shards\' reports');
  const path = resolve(ctx.workspace, given);
  const info = await stat(path).catch(() => null);
  if (!info) throw new InputError(`input "shard-reports" is "${given}", which does not exist`);
  if (!info.isDirectory()) return [path];
  const names = await readdir(path, { recursive: true });
  return names
    .filter((n) => n.endsWith(".json"))
    .sort()
    .map((n) => join(path, n));
}

/**
 * mode merge, after every shard of a sharded sync: one report and one summary from the shards' reports, the
 * deletions (prune) run once, then the node configuration rendered and committed back once.
 */
async function merge(ctx: Ctx, inputs: Inputs, listed: MirrorList, shown: string): Promise<void> {
  const configurator = inputs.renderDir ? withConfiguratorImage(listed, inputs.configuratorImage) : null;
  const list = configurator?.list ?? listed;
  if (inputs.renderDir && (await renderDirRefused(ctx, inputs.renderDir))) return;
  const reports = await readShardReports(await shardReportFiles(ctx, inputs));
  const { credentials, target } = await ctx.core.group("Connect to the target", () =>
    connect(list, connectSettings(ctx, inputs)),
  );
  const known = await loadChartRecord(ctx, inputs, list);
  // The merge plans the whole list again (resync missing) for its deletions and the render: its tag ranges must
  // expand as the plan job's did, so a resync digest run relocks here too.
  const lock = await loadRangesLock(ctx, inputs, list);
  const result = await mergeRun(list, target, reports, {
    ...runOptions(ctx, inputs, { credentials, known, configurator }),
    ranges: { lock, relock: inputs.resync === "digest" },
  });
  ctx.info(`Merged ${reports.length} shard report(s): ${reports.map((r) => r.path).join(", ")}`);
  if (result.missing.length > 0)
    ctx.core.error(
      `no report from shard ${result.missing.join(", ")}: that job failed before writing it or was cancelled; a rerun copies what is still missing`,
      { title: "ecr-mirror merge" },
    );
  await reportSync(ctx, inputs, result, shown, {
    merged: reports.map((r) => relative(ctx.workspace, r.path)),
    missingShards: result.missing,
  });
  const failures = result.report.failures;
  if (inputs.renderDir && configurator && !result.report.ok) {
    await skipNodeConfiguration(
      ctx,
      `${result.missing.length > 0 ? `shard ${result.missing.join(", ")} did not report` : stepsFailed(failures)}, so the node configuration in ${inputs.renderDir} was neither written nor committed`,
    );
  } else if (configurator) {
    await nodeConfiguration(
      ctx,
      inputs,
      result.list,
      target,
      { entry: configurator.entry, digest: digestInTarget(configurator.entry, result.plan, result.report) },
      result.chartImages,
      result.rangesLock,
    );
  }
  if (!result.report.ok)
    ctx.core.setFailed(
      ctx.safe(
        result.missing.length > 0
          ? `shard ${result.missing.join(", ")} did not report; ${stepsFailed(failures)}`
          : `${stepsFailed(failures)}: ${failures
              .slice(0, 3)
              .map((f) => f.source ?? f.repository)
              .join(", ")}${failures.length > 3 ? ", ..." : ""}`,
      ),
    );
}

/** The `commit-back` output says `skipped`, and `commit-back-reason` why; the log says it too. */
async function skipNodeConfiguration(ctx: Ctx, reason: string): Promise<void> {
  await writeSummary(ctx, commitBackMarkdown({ outcome: "skipped", reason }));
  ctx.info(`Node configuration skipped: ${reason}.`);
  ctx.core.setOutput("commit-back", "skipped");
  ctx.core.setOutput("commit-back-reason", ctx.safe(reason));
}

/** Renders the node configuration into the render folder and, when asked, commits it back. */
/** What a sync and a sharded sync's merge both take from the inputs: tools, credentials, limits and the log. */
function runOptions(
  ctx: Ctx,
  inputs: Inputs,
  run: {
    credentials: SyncRunOptions["upstreamCredentials"];
    known: ChartImagesRecord | null;
    configurator: { entry: ImageEntry } | null;
  },
): SyncRunOptions {
  return {
    ...(run.known ? { charts: { known: run.known } } : {}),
    ...(run.configurator ? { observeDigestOf: [run.configurator.entry] } : {}),
    resync: inputs.resync,
    upstreamCredentials: run.credentials,
    mask: ctx.mask,
    crane: inputs.crane,
    helm: inputs.helm,
    toolLimits: inputs.toolLimits,
    deletionLimit: deletionOverride(inputs.maxDeletions, "input"),
    log: ctx.info,
    debug: (line) => ctx.core.debug(ctx.safe(line)),
    group: (name, work) => ctx.core.group(name, work),
  };
}

async function nodeConfiguration(
  ctx: Ctx,
  inputs: Inputs,
  list: MirrorList,
  target: Pick<TargetConnection, "registry" | "region">,
  configurator: { entry: ImageEntry; digest: string | null },
  chartImages: ChartImagesRecord,
  rangesLock: RangesLock | null,
): Promise<void> {
  const renderDir = inputs.renderDir!;
  const rendered = renderNodeFiles(list, target, configurator, {
    startupTaint: inputs.startupTaint,
    nodeConfig: inputs.nodeConfig,
    chartImages,
    rangesLock,
  });
  if (!rendered.ok) {
    for (const p of rendered.problems)
      ctx.core.error(ctx.safe(`${p.message} ${p.hint}`), { title: "Node configuration not rendered" });
    const problem = ctx.safe(
      `the node configuration could not be rendered: ${rendered.problems.map((p) => p.message).join(" ")}`,
    );
    await skipNodeConfiguration(ctx, problem);
    ctx.core.setFailed(problem);
    return;
  }
  const workspace = ctx.workspace;
  const files = rendered.files;
  await ctx.core.group(`Node configuration in ${renderDir}`, async () => {
    try {
      await writeOrCommit();
    } catch (e) {
      ctx.core.setOutput("commit-back", "failed");
      ctx.core.setOutput(
        "commit-back-reason",
        ctx.safe((e instanceof Error ? e.message : String(e)).split("\n")[0]!),
      );
      throw e;
    }
  });

  async function writeOrCommit(): Promise<void> {
    ctx.core.setOutput("render-dir", renderDir);
    if (inputs.commitBack === "none") {
      const written = await writeOutputFolder(workspace, renderDir, files);
      ctx.info(`Wrote ${written.files.length} files to ${written.folder} (commit-back: none).`);
      ctx.core.setOutput("commit-back", "none");
      ctx.core.setOutput("commit-back-reason", "commit-back is none: the files were only written");
      await writeSummary(
        ctx,
        commitBackMarkdown({
          outcome: "none",
          reason: `commit-back is none: ${written.files.length} files written to ${written.folder}`,
        }),
      );
      return;
    }
    const result = await commitBack({
      repoDir: workspace,
      files,
      outDir: renderDir,
      mode: inputs.commitBack,
      event: await readEventFacts(ctx.env),
      allowOnPullRequest: inputs.commitOnPullRequest,
      token: inputs.githubToken ?? "",
      serverUrl: ctx.env.GITHUB_SERVER_URL ?? "https://github.com",
      apiUrl: ctx.env.GITHUB_API_URL ?? "https://api.github.com",
      repository: ctx.env.GITHUB_REPOSITORY ?? "",
      mask: (secret) => ctx.mask.add(secret),
      log: ctx.info,
    });
    const outputs = commitBackOutputs(result);
    ctx.core.setOutput("commit-back", outputs.outcome);
    ctx.core.setOutput("commit-back-reason", ctx.safe(result.reason ?? ""));
    for (const [name, value] of Object.entries(outputs))
      if (name !== "outcome") ctx.core.setOutput(name, value);
    ctx.info(`Commit-back: ${result.outcome}${result.reason ? ` (${result.reason})` : ""}`);
    await writeSummary(ctx, commitBackMarkdown(result));
  }
}

/**
 * Mode audit: what the cluster runs (`pods-file`) against the list. Missing images are a warning on the list with
 * the lines to add, unused entries notices on their lines; the step fails when images are missing.
 */
async function audit(ctx: Ctx, inputs: Inputs, list: MirrorList, shown: string): Promise<void> {
  if (!inputs.podsFile)
    throw new InputError(
      "mode audit needs the pods-file input: the output of kubectl get pods -A -o json, written by an earlier step",
    );
  const at = (p: string) => (isAbsolute(p) ? p : resolve(ctx.workspace, p));
  const context = { file: shown, notChecked: "audit-target is false (the target was not asked)" };
  const result = await ctx.core.group("Audit what the cluster runs", async () => {
    const record = inputs.renderDir ? at(join(inputs.renderDir, CHART_IMAGES_FILE)) : null;
    const charts = await chartImagesOf(record, list);
    if (charts.warning) ctx.core.warning(ctx.safe(charts.warning), { title: "Chart images record ignored" });
    const r = await runAudit({
      list,
      listText: await readFile(at(inputs.mirrorFile), "utf8"),
      source: { pods: at(inputs.podsFile!) },
      stdin: [],
      connect: inputs.auditTarget ? connectSettings(ctx, inputs) : null,
      chartImages: charts.images,
      mask: ctx.mask,
    });
    ctx.info(formatAudit(r, context));
    return r;
  });
  annotate(ctx, auditAnnotations(result, shown));
  const auditFile = join(ctx.temp, "ecr-mirror-audit.json");
  await writeReportFile(auditFile, auditToJson(result), ctx.mask);
  ctx.core.setOutput("audit-file", auditFile);
  ctx.core.setOutput("missing-images", result.missing.length);
  ctx.core.setOutput("unused-entries", result.unused.length);
  await writeSummary(ctx, auditMarkdown(result, context));
  if (auditFindsMissing(result)) ctx.core.setFailed(ctx.safe(auditHeadline(result, context)));
}

/**
 * One run of the action. It never throws: bad input and failures fail the step with a message (a stack
 * trace only for a bug).
 */
export async function run(inputs: InputReader, deps: ActionDeps): Promise<void> {
  const ctx = context(deps);
  try {
    // First: every credential in the environment and the inputs, masked before anything could print it.
    maskRunSecrets(ctx.mask, deps.env);
    for (const secret of ["registry-password", "docker-hub-token", "github-token"]) {
      const value = inputs(secret).trim();
      if (value) ctx.mask.add(value);
    }
    await runInputs(ctx, readInputs(inputs));
  } catch (e) {
    if (e instanceof InputError) ctx.core.setFailed(ctx.safe(e.message));
    else
      ctx.core.setFailed(
        ctx.safe(
          `ecr-mirror failed unexpectedly: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        ),
      );
  }
}

async function runInputs(ctx: Ctx, inputs: Inputs): Promise<void> {
  const { list, shown, problems } = await loadList(ctx, inputs);
  ctx.review = await reviewOf(ctx, shown);
  try {
    if (!list || inputs.mode === "validate") {
      await publish(ctx, inputs, shown, (budget) =>
        validationMarkdown(shown, problems, {
          summary: list ? listSummary(list) : null,
          note: list ? "Checked offline (mode validate): the target and the upstreams were not asked." : null,
          lineLink: ctx.review.lineLink,
          budget,
        }),
      );
    }
    if (!list) return;
    ctx.core.setOutput("images", list.images.length);
    ctx.core.setOutput("charts", list.charts.length);
    if (inputs.mode === "plan") await plan(ctx, inputs, list, shown);
    else if (inputs.mode === "sync") await sync(ctx, inputs, list, shown);
    else if (inputs.mode === "audit") await audit(ctx, inputs, list, shown);
    else if (inputs.mode === "merge") await merge(ctx, inputs, list, shown);
  } catch (e) {
    const reason = ctx.safe(describeFailure(e, ctx.mask));
    if (e instanceof MirrorError && e.location)
      ctx.core.error(
        ctx.safe(e.hint && !e.message.includes(e.hint) ? `${e.message}\nHint: ${e.hint}` : e.message),
        {
          title: `ecr-mirror ${inputs.mode} failed`,
          file: shown,
          startLine: e.location.line,
          startColumn: e.location.column,
        },
      );
    // Located problems behind the failure (a platform the upstream lacks, an unresolved range) annotate their lines.
    if (e instanceof MirrorError && e.problems.length > 0)
      annotate(ctx, problemAnnotations(e.problems, shown));
    await reportFailure(ctx, inputs, shown, e, reason).catch(() => {});
    ctx.core.setFailed(reason);
  }
}

/**
 * A failed run's summary (and, for a plan, its comment): the reason, whole. A sync refused by the deletion
 * limit shows the plan it refused; a plan refused by it has already published its plan.
 */
async function reportFailure(
  ctx: Ctx,
  inputs: Inputs,
  shown: string,
  e: unknown,
  reason: string,
): Promise<void> {
  if (e instanceof DeletionLimitError) {
    if (inputs.mode === "sync")
      await writeSummary(ctx, planMarkdown(e.plan, { lineLink: ctx.review.lineLink, deletions: e.check }));
    return;
  }
  const markdown = () => failureMarkdown(`ecr-mirror ${inputs.mode} failed`, reason);
  if (inputs.mode === "sync") await writeSummary(ctx, markdown());
  else await publish(ctx, inputs, shown, markdown);
}

/** The run's pull request (from the event payload) and links to the list's lines at its head commit. */
async function reviewOf(ctx: Ctx, shown: string): Promise<Review> {
  let pull: PullRequestFacts | null = null;
  try {
    pull = await readPullRequestFacts(ctx.env);
  } catch (e) {
    ctx.core.debug(ctx.safe(`event payload not read: ${e instanceof Error ? e.message : String(e)}`));
  }
  const sha = pull?.headSha ?? ctx.env.GITHUB_SHA ?? null;
  const lineLink = blobLineLink(
    ctx.env.GITHUB_SERVER_URL ?? "https://github.com",
    ctx.env.GITHUB_REPOSITORY,
    sha,
    shown.split("\\").join("/"),
  );
  return { pull, lineLink };
}
