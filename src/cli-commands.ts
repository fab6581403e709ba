/**
 * The terminal's commands: `ecr-mirror <command> [FILE] [options]`. It parses argv, calls the
 * same core the action calls, and turns results into text and exit codes
 * (0 success, 1 the list or the run failed, 2 usage error).
 */
import { join } from "node:path";
import { add } from "./add.js";
import { readChartImagesRecord } from "./charts/record.js";
import { type AuditCliFlags, auditCommand } from "./cli-audit.js";
import {
  COMMANDS,
  commandHelp,
  commandNamed,
  globalHelp,
  parseCommandLine,
  usageFooter,
} from "./cli-usage.js";
import { type LocalRegistry, startLocalRegistry } from "./execute/local-registry.js";
import { syncReportJson, writeReportFile } from "./execute/sync.js";
import { checkOutputFolder, OutputFolderError, writeOutputFolder } from "./git/output-folder.js";
import { init } from "./init.js";
import type { ImageEntry, MirrorList } from "./list/model.js";
import { readMirrorList } from "./list/read.js";
import type { RangesLock } from "./list/tag-ranges.js";
import { closest } from "./list/validate-structure.js";
import { readRangesLock } from "./observe/tag-ranges.js";
import {
  CONFIGURATOR_IMAGE,
  deletionOverride,
  MAX_PARALLEL,
  NODE_CONFIG,
  OptionError,
  REGISTRY_URL,
  readOption,
  readSyncOptions,
  SHARD,
  SHARDS,
  type SyncOptions,
} from "./options.js";
import { guardDeletions } from "./plan/deletions.js";
import type { ChartImagesRecord } from "./render/chart-images.js";
import type { NodeConfigTarget } from "./render/node-config.js";
import { describeFailure } from "./report/failure.js";
import { listSummary, listToJson } from "./report/list-json.js";
import { formatPlan, planToJson } from "./report/plan.js";
import { formatProblems } from "./report/problems.js";
import { summaryLine, terminalProgress } from "./report/progress.js";
import { redirectLines } from "./report/redirects.js";
import {
  type ConnectSettings,
  connect,
  digestInTarget,
  planRun,
  renderNodeFiles,
  type SyncRunOptions,
  syncRun,
  type TargetConnection,
  withConfiguratorImage,
} from "./run.js";
import {
  mergeRun,
  planShardedRun,
  readShardPlan,
  readShardReports,
  type ShardPlan,
  shardFacts,
  shardSyncRun,
} from "./sharded.js";
import { maskRunSecrets, maskUrlCredentials, SecretMask } from "./tools/credentials.js";
import { type InstallOptions, installCrane, installHelm, useLocalToolCache } from "./tools/install.js";
import { formatJson, neutraliseCommands } from "./tools/log-safe.js";
import { InvocationCounter } from "./tools/runner.js";

const VERSION = "1.0.0";

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal: progress (start lines, a heartbeat) is shown there only. */
  errIsTTY?: boolean;
  /** What `audit --pods -` reads (default process.stdin). */
  stdin?: AsyncIterable<Buffer | string>;
}

type Values = {
  json?: boolean;
  help?: boolean;
  version?: boolean;
  resync?: string;
  region?: string;
  "registry-url"?: string;
  target?: string;
  concurrency?: string;
  "put-image-rate"?: string;
  report?: string;
  out?: string;
  "configurator-image"?: string;
  "configurator-digest"?: string;
  "startup-taint"?: boolean;
  "node-config"?: string;
  "charts-record"?: string;
  lock?: string;
  relock?: boolean;
  "tool-stall-timeout"?: string;
  "tool-timeout"?: string;
  "max-deletions"?: string;
  crane?: string;
  helm?: string;
  account?: string;
  repo?: string;
  "kms-key"?: string;
  force?: boolean;
  chart?: boolean;
  shards?: string;
  "plan-out"?: string;
  "max-parallel"?: string;
  plan?: string;
  shard?: string;
  list?: string;
} & AuditCliFlags;

/** The terminal as the commands see it: every write goes through the run's mask and the log-safe sink. */
interface Terminal extends Io {
  env: NodeJS.ProcessEnv;
  /** Every credential of the run (the environment's, the list's URLs', the ECR token). */
  mask: SecretMask;
}

/**
 * The one sink for the terminal: secrets redacted, and no line able to start a workflow command (the CLI
 * may run in a workflow `run:` step, whose output the runner parses too). JSON output is already safe
 * (`formatJson`), so it passes unchanged.
 */
function terminal(io: Io): Terminal {
  const env = io.env ?? process.env;
  const mask = new SecretMask(() => {});
  maskRunSecrets(mask, env);
  const safe = (text: string) => neutraliseCommands(mask.redact(text));
  return {
    env,
    mask,
    out: (s) => io.out(safe(s)),
    err: (s) => io.err(safe(s)),
    errIsTTY: io.errIsTTY === true,
    ...(io.stdin ? { stdin: io.stdin } : {}),
  };
}

/** A usage problem: the message and where help is on stderr, and with --json a JSON document on stdout. */
function usageProblem(message: string, command: string | null, json: boolean, io: Terminal): number {
  io.err(
    `ecr-mirror${command && command !== "help" ? ` ${command}` : ""}: ${message}\n\n${usageFooter(command)}`,
  );
  if (json) io.out(formatJson(errorJson("usage", [{ message, hint: usageFooter(command).trim() }]), io.mask));
  return 2;
}

/** What `--json` prints when a command fails: `{"ok": false, "error": KIND, "problems": [...]}`. */
function errorJson(error: "usage" | "list" | "run", problems: readonly object[]) {
  return { ok: false, error, problems };
}

/** `ecr-mirror --help`, `ecr-mirror help plan`, `ecr-mirror plan --help`. */
function help(command: string | null, args: string[], values: Values, io: Terminal): number {
  const name = command === "help" ? (args[0] ?? (values.help ? "help" : undefined)) : command;
  if (name === undefined || name === null) {
    io.out(globalHelp());
    return 0;
  }
  const spec = commandNamed(name);
  if (!spec) {
    const near = closest(
      name,
      COMMANDS.map((c) => c.name),
    );
    return usageProblem(
      `unknown command "${name}"${near ? `; did you mean "${near}"?` : ""}`,
      null,
      false,
      io,
    );
  }
  io.out(commandHelp(spec));
  return 0;
}

export async function main(argv: string[], rawIo: Io): Promise<number> {
  const io = terminal(rawIo);
  const line = parseCommandLine(argv);
  if (!line.ok) return usageProblem(line.message, line.command, argv.includes("--json"), io);
  const values = line.values as Values;
  if (values.version) {
    io.out(`ecr-mirror ${VERSION}\n`);
    return 0;
  }
  const { command, args } = line;
  if (command === "help" || values.help) return help(command, args, values, io);
  if (command === null) {
    io.err(globalHelp());
    return 2;
  }
  if (command === "tools") return tools(args, values, io);
  if (command === "init") return init(args[0] ?? ".", values, io);
  if (command === "add") return add(args, values, io);
  if (command === "merge") return merge(args, values, io);
  const file = args[0] ?? "mirrors.yaml";
  switch (command) {
    case "validate":
      return validate(file, values, io);
    case "plan":
      return plan(file, values, io);
    case "sync":
      return sync(file, values, io);
    case "render":
      return render(file, values, io);
    case "audit": {
      const options = sharedOptions(values, "audit", io);
      if (!options) return 2;
      const stdin = io.stdin ?? process.stdin;
      return auditCommand(file, values, { ...io, stdin }, () =>
        connectSettings(values, io, options.registryUrl),
      );
    }
    default:
      // A command in the table that nothing here carries out yet.
      return usageProblem(`unknown command "${command}"`, null, values.json === true, io);
  }
}

/** The target and the credentials as the flags and the environment give them. */
function connectSettings(values: Values, io: Terminal, registryUrl: string | null): ConnectSettings {
  const env = io.env;
  const user = env.ECR_MIRROR_TARGET_USERNAME;
  const password = env.ECR_MIRROR_TARGET_PASSWORD;
  return {
    region: values.region ?? null,
    registryUrl,
    registryAuth: user && password ? { username: user, password } : null,
    upstream: {
      dockerHubUsername: env.ECR_MIRROR_DOCKER_HUB_USERNAME ?? null,
      dockerHubToken: env.ECR_MIRROR_DOCKER_HUB_TOKEN ?? null,
      registryCredentials: env.ECR_MIRROR_REGISTRY_CREDENTIALS ?? null,
    },
    mask: io.mask,
    env,
  };
}

/**
 * The options the action takes too, read with its rules (options.ts); null after printing a usage error.
 * Every command that reaches a target by URL checks it here, before anything is read or asked.
 */
function sharedOptions(values: Values, command: string, io: Terminal): SyncOptions | null {
  try {
    return readSyncOptions(
      {
        resync: values.resync ?? null,
        registryUrl: values["registry-url"] ?? null,
        concurrency: values.concurrency ?? null,
        putImageRate: values["put-image-rate"] ?? io.env.ECR_MIRROR_PUT_IMAGE_RATE ?? null,
        toolStallTimeout: values["tool-stall-timeout"] ?? null,
        toolTimeout: values["tool-timeout"] ?? null,
        maxDeletions: values["max-deletions"] ?? null,
      },
      "flag",
    );
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    usageError(command, e, io);
    return null;
  }
}

function usageError(command: string, e: OptionError, io: Terminal): void {
  io.err(`ecr-mirror ${command}: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ""}`);
}

/**
 * Reads and validates the list; prints problems on stderr (and, with --json, an invalid list's problems as a
 * JSON document on stdout); null when it is invalid.
 */
async function load(file: string, values: Values, io: Terminal): Promise<MirrorList | null> {
  // Credentials in URLs of the list are masked even when the list is rejected.
  const { list, problems } = await readMirrorList(file, file, (text) => maskUrlCredentials(io.mask, text));
  if (problems.length > 0) io.err(`${formatProblems(problems)}\n`);
  if (!list && values.json) io.out(formatJson(errorJson("list", problems), io.mask));
  return list;
}

/** A run that failed: the message on stderr, and with --json a JSON document on stdout. */
function runFailed(e: unknown, command: string | null, values: Values, io: Terminal): number {
  const message = describeFailure(e, io.mask);
  io.err(`ecr-mirror${command ? ` ${command}` : ""}: ${message}\n`);
  if (values.json) io.out(formatJson(errorJson("run", [{ message }]), io.mask));
  return 1;
}

/** The --charts-record file, read; a missing or malformed one is a warning on stderr and no record. */
async function chartRecord(values: Values, io: Terminal): Promise<ChartImagesRecord | null> {
  const path = values["charts-record"];
  if (!path) return null;
  const { record, warning } = await readChartImagesRecord(path);
  if (warning) io.err(`ecr-mirror: warning: ${warning}\n`);
  else if (!record)
    io.err(`ecr-mirror: warning: ${path} does not exist; charts with images: true are rendered\n`);
  return record;
}

/** The --lock file and --relock: a missing or malformed lock is a warning on stderr, and ranges are resolved. */
async function rangesOption(
  values: Values,
  io: Terminal,
): Promise<{ lock: RangesLock | null; relock: boolean }> {
  const relock = values.relock === true;
  const path = values.lock;
  if (!path) return { lock: null, relock };
  const { lock, warning } = await readRangesLock(path);
  if (warning) io.err(`ecr-mirror: warning: ${warning}\n`);
  else if (!lock)
    io.err(`ecr-mirror: warning: ${path} does not exist; tag ranges are resolved from their upstreams\n`);
  return { lock, relock };
}

async function validate(file: string, values: Values, io: Terminal): Promise<number> {
  const list = await load(file, values, io);
  if (!list) return 1;
  io.out(values.json ? formatJson(listToJson(list), io.mask) : `${listSummary(list)}\n`);
  return 0;
}

async function plan(file: string, values: Values, io: Terminal): Promise<number> {
  const options = sharedOptions(values, "plan", io);
  if (!options) return 2;
  const sharding = shardingFlags(values, io);
  if (!sharding) return 2;
  const list = await load(file, values, io);
  if (!list) return 1;
  const mask = io.mask;
  if (sharding.shards !== null) return planShardsCommand(list, options, sharding, values, io);
  try {
    const { credentials, target } = await connect(list, connectSettings(values, io, options.registryUrl));
    const known = await chartRecord(values, io);
    const {
      plan,
      cost,
      list: planned,
    } = await planRun(list, target, {
      ranges: await rangesOption(values, io),
      resync: options.resync,
      upstreamCredentials: credentials,
      proveCopies: true,
      charts: { mask, helm: toolInstall("helm", values, io), ...(known ? { known } : {}) },
    });
    io.out(
      values.json
        ? formatJson(planToJson(plan, cost), io.mask)
        : `${[formatPlan(plan), ...redirectLines(planned)].join("\n")}\n`,
    );
    guardDeletions(plan, list, deletionOverride(options.maxDeletions, "flag"));
    return 0;
  } catch (e) {
    return runFailed(e, null, values, io);
  }
}

/** plan's --shards, --plan-out and --max-parallel (null: not sharded); null after a usage error. */
function shardingFlags(
  values: Values,
  io: Terminal,
): { shards: number | "auto" | null; out: string; maxParallel: number | null } | null {
  try {
    if (values.shards === undefined) {
      if (values["plan-out"] || values["max-parallel"])
        throw new OptionError(
          "--plan-out and --max-parallel go with --shards",
          "add --shards N or --shards auto",
        );
      return { shards: null, out: "", maxParallel: null };
    }
    const shards = readOption(SHARDS, values.shards, "flag");
    if (!values["plan-out"])
      throw new OptionError("--shards needs --plan-out DIR", "the folder the shard plans are written to");
    return {
      shards,
      out: values["plan-out"],
      maxParallel: readOption(MAX_PARALLEL, values["max-parallel"], "flag"),
    };
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    usageError("plan", e, io);
    return null;
  }
}

/** plan --shards: the shard plans and the matrix written to --plan-out, a line per shard printed. */
async function planShardsCommand(
  list: MirrorList,
  options: SyncOptions,
  sharding: { shards: number | "auto" | null; out: string; maxParallel: number | null },
  values: Values,
  io: Terminal,
): Promise<number> {
  try {
    const { credentials, target } = await connect(list, connectSettings(values, io, options.registryUrl));
    const known = await chartRecord(values, io);
    const result = await planShardedRun(list, target, {
      resync: options.resync,
      upstreamCredentials: credentials,
      proveCopies: true,
      charts: { mask: io.mask, helm: toolInstall("helm", values, io), ...(known ? { known } : {}) },
      shards: sharding.shards ?? 1,
      maxParallel: sharding.maxParallel,
    });
    guardDeletions(result.plan, list, deletionOverride(options.maxDeletions, "flag"));
    for (const f of result.files)
      await writeReportFile(join(sharding.out, `shard-${f.shard}.json`), f, io.mask);
    await writeReportFile(join(sharding.out, "matrix.json"), result.matrix, io.mask);
    const lines = result.files.map(
      (f) =>
        `shard ${f.shard}${f.shard === 0 ? " (seed: repositories, shared layers)" : ""}: ${f.entries.length} entries, ${f.entries.reduce((n, e) => n + e.bytes, 0)} bytes`,
    );
    io.out(
      values.json
        ? formatJson(
            {
              ...planToJson(result.plan, result.cost),
              matrix: result.matrix,
              shards: shardLines(result.files),
            },
            io.mask,
          )
        : `${[formatPlan(result.plan), ...lines, `Shard plans written to ${sharding.out}`].join("\n")}\n`,
    );
    return 0;
  } catch (e) {
    io.err(`ecr-mirror: ${describeFailure(e, io.mask)}\n`);
    return 1;
  }
}

function shardLines(files: readonly ShardPlan[]) {
  return files.map((f) => ({
    shard: f.shard,
    entries: f.entries.length,
    bytes: f.entries.reduce((n, e) => n + e.bytes, 0),
    parallel: f.parallel,
  }));
}

/** sync's --target: ecr, local, or a URL that follows the registry-url rule; null after a usage error. */
function syncTarget(values: Values, io: Terminal): { flag: string; url: string | null } | null {
  const flag = values.target ?? "ecr";
  if (flag === "ecr" || flag === "local") return { flag, url: null };
  if (!/^https?:\/\//i.test(flag)) {
    io.err(`ecr-mirror sync: --target is ecr, local or http(s)://host[:port], not ${JSON.stringify(flag)}\n`);
    return null;
  }
  try {
    return { flag, url: readOption(REGISTRY_URL, flag, "flag", "--target") };
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    usageError("sync", e, io);
    return null;
  }
}

/**
 * How often the heartbeat beats (ms), from ECR_MIRROR_PROGRESS (seconds; 0: off) or, unset, every 10 s when
 * stderr is a terminal; null: no start lines and no heartbeat. A value that is no number is a usage error.
 */
function heartbeatMs(io: Terminal): number | null | OptionError {
  const raw = io.env.ECR_MIRROR_PROGRESS?.trim() ?? "";
  if (raw === "") return io.errIsTTY ? 10_000 : null;
  const seconds = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || seconds > 3600)
    return new OptionError(
      `ECR_MIRROR_PROGRESS is "${raw}"; expected the seconds between heartbeats, from 0 (off) to 3600`,
    );
  return seconds === 0 ? null : seconds * 1000;
}

async function sync(file: string, values: Values, io: Terminal): Promise<number> {
  const options = sharedOptions(values, "sync", io);
  if (!options) return 2;
  const beat = heartbeatMs(io);
  if (beat instanceof OptionError) {
    usageError("sync", beat, io);
    return 2;
  }
  // One closing line: on stdout (the summary), or with --json on stderr beside the JSON document.
  const shown = terminalProgress({
    log: (l) => io.err(`${l}\n`),
    summary: values.json === true,
    heartbeatMs: beat,
  });
  const syncTo = syncTarget(values, io);
  if (!syncTo) return 2;
  const list = await load(file, values, io);
  if (!list) return 1;
  const env = io.env;
  const mask = io.mask;
  const counter = new InvocationCounter();
  let local: LocalRegistry | null = null;
  try {
    useLocalToolCache(env);
    let registryUrl = options.registryUrl ?? syncTo.url;
    let craneBinary: string | null = null;
    if (syncTo.flag === "local") {
      craneBinary = (
        await installCrane({ ...toolInstall("crane", values, io), log: (l) => io.err(`${l}\n`) })
      ).path;
      local = await startLocalRegistry(craneBinary, { counter });
      registryUrl = local.url;
      io.err(
        `Target: crane registry serve at ${local.url} (in memory: its content is gone when this command ends)\n`,
      );
    }
    const { credentials, target } = await connect(list, connectSettings(values, io, registryUrl));
    const known = await chartRecord(values, io);
    const shard = values.plan
      ? await readShardPlan(values.plan, readOption(SHARD, values.shard, "flag"))
      : null;
    const run = shard
      ? (l: MirrorList, t: TargetConnection, o: SyncRunOptions) => shardSyncRun(l, t, shard, o)
      : syncRun;
    const result = await run(list, target, {
      ranges: await rangesOption(values, io),
      ...(known ? { charts: { known } } : {}),
      crane: toolInstall("crane", values, io),
      helm: toolInstall("helm", values, io),
      resync: options.resync,
      upstreamCredentials: credentials,
      mask,
      concurrency: options.concurrency,
      putImageRate: options.putImageRate,
      toolLimits: options.toolLimits,
      deletionLimit: deletionOverride(options.maxDeletions, "flag"),
      counter,
      craneBinary,
      log: (line) => io.err(`${line}\n`),
      progress: shown.progress,
      group: shown.group,
    });
    const json = { ...syncReportJson(result.plan, result, result.cost), ...(shard ? shardFacts(shard) : {}) };
    if (values.report) await writeReportFile(values.report, json, io.mask);
    io.out(values.json ? formatJson(json, io.mask) : `${summaryLine(result.report)}\n`);
    return result.report.ok ? 0 : 1;
  } catch (e) {
    return runFailed(e, null, values, io);
  } finally {
    shown.stop();
    await local?.stop();
  }
}

/** merge REPORT...: one report from a sharded sync's shards, and the deletions (prune) run once. */
async function merge(paths: string[], values: Values, io: Terminal): Promise<number> {
  if (paths.length === 0) {
    io.err("ecr-mirror merge: give the shards' report files (REPORT...)\n");
    return 2;
  }
  const options = sharedOptions(values, "merge", io);
  if (!options) return 2;
  const list = await load(values.list ?? "mirrors.yaml", values, io);
  if (!list) return 1;
  try {
    const reports = await readShardReports(paths);
    const { credentials, target } = await connect(list, connectSettings(values, io, options.registryUrl));
    const ranges = await rangesOption(values, io);
    const result = await mergeRun(list, target, reports, {
      ranges: { lock: ranges.lock, relock: ranges.relock || options.resync === "digest" },
      resync: options.resync,
      upstreamCredentials: credentials,
      mask: io.mask,
      crane: toolInstall("crane", values, io),
      deletionLimit: deletionOverride(options.maxDeletions, "flag"),
      log: (line) => io.err(`${line}\n`),
    });
    if (result.missing.length > 0)
      io.err(
        `ecr-mirror merge: no report from shard ${result.missing.join(", ")}: the run is not complete\n`,
      );
    const json = {
      ...syncReportJson(result.plan, { report: result.report, processes: result.processes }, result.cost),
      merged: reports.map((r) => r.path),
      missingShards: result.missing,
    };
    if (values.report) await writeReportFile(values.report, json, io.mask);
    io.out(values.json ? formatJson(json, io.mask) : `${summaryLine(result.report)}\n`);
    return result.report.ok ? 0 : 1;
  } catch (e) {
    return runFailed(e, null, values, io);
  }
}

/** render's flags: --out, the shared options, --configurator-digest; null after a usage error. */
function renderFlags(
  values: Values,
  io: Terminal,
): { out: string; registryUrl: string | null; digest: string | null; nodeConfig: NodeConfigTarget } | null {
  if (!values.out) {
    io.err("ecr-mirror render: --out DIR is required (for example --out deploy/ecr-mirror)\n");
    return null;
  }
  const options = sharedOptions(values, "render", io);
  if (!options) return null;
  const digest = values["configurator-digest"] ?? null;
  if (digest !== null && !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    io.err(`ecr-mirror render: --configurator-digest is sha256:<64 hex>, not "${digest}"\n`);
    return null;
  }
  let nodeConfig: NodeConfigTarget;
  try {
    nodeConfig = readOption(NODE_CONFIG, values["node-config"], "flag");
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    usageError("render", e, io);
    return null;
  }
  return { out: values.out, registryUrl: options.registryUrl, digest, nodeConfig };
}

async function render(file: string, values: Values, io: Terminal): Promise<number> {
  const flags = renderFlags(values, io);
  if (!flags) return 2;
  const digestFlag = flags.digest;
  // The folder is checked before any work: ecr-mirror writes only below the current folder, into a folder
  // that is new, empty, or its own (it lists what it wrote there in .ecr-mirror-files).
  const workspace = process.cwd();
  try {
    await checkOutputFolder(workspace, flags.out);
  } catch (e) {
    io.err(`ecr-mirror render: ${describeFailure(e, io.mask)}\n`);
    return e instanceof OutputFolderError ? 2 : 1;
  }
  const listed = await load(file, values, io);
  if (!listed) return 1;
  try {
    const configured = withConfiguratorImage(
      listed,
      readOption(CONFIGURATOR_IMAGE, values["configurator-image"], "flag"),
    );
    const { entry } = configured;
    const known = await chartRecord(values, io);
    const ranges = await rangesOption(values, io);
    const renderFor =
      configured.list.target.registry && digestFlag
        ? // Everything is known: render offline (the record and the lock given are carried over as they are).
          {
            list: configured.list,
            chartImages: known,
            rangesLock: ranges.lock,
            digest: digestFlag,
            target: {
              registry: configured.list.target.registry,
              region: values.region ?? configured.list.target.region,
            },
          }
        : await askTarget(configured.list, entry, known, {
            values,
            io,
            registryUrl: flags.registryUrl,
            ranges,
          });
    const { list, target, digest, chartImages, rangesLock } = renderFor;
    if (!digest) {
      io.err(
        `ecr-mirror render: ${entry.source} is not in the mirror yet (${entry.repository}); run ecr-mirror sync first, or pass --configurator-digest\n`,
      );
      return 1;
    }
    const rendered = renderNodeFiles(
      list,
      target,
      { entry, digest },
      {
        startupTaint: values["startup-taint"] === true,
        nodeConfig: flags.nodeConfig,
        chartImages,
        rangesLock,
      },
    );
    if (!rendered.ok) {
      for (const p of rendered.problems) io.err(`ecr-mirror render: ${p.message}\n  hint: ${p.hint}\n`);
      return 1;
    }
    const written = await writeOutputFolder(workspace, flags.out, rendered.files);
    io.out(`${written.files.map((f) => join(flags.out, f.path)).join("\n")}\n`);
    return 0;
  } catch (e) {
    return runFailed(e, null, values, io);
  }
}

/**
 * What render learns from the target: its address, the configurator image's digest (null: not mirrored
 * yet) and the planned list it renders for (chart ranges resolved, chart images added).
 */
async function askTarget(
  listed: MirrorList,
  entry: ImageEntry,
  known: ChartImagesRecord | null,
  how: {
    values: Values;
    io: Terminal;
    registryUrl: string | null;
    ranges: { lock: RangesLock | null; relock: boolean };
  },
) {
  const { values, io } = how;
  const connected = await connect(listed, connectSettings(values, io, how.registryUrl));
  const planned = await planRun(listed, connected.target, {
    resync: "missing",
    upstreamCredentials: connected.credentials,
    observeDigestOf: [entry],
    charts: { mask: io.mask, helm: toolInstall("helm", values, io), ...(known ? { known } : {}) },
    ranges: how.ranges,
  });
  const target: Pick<TargetConnection, "registry" | "region"> = connected.target;
  return {
    list: planned.list,
    chartImages: planned.chartImages,
    rangesLock: planned.rangesLock,
    target,
    digest: values["configurator-digest"] ?? digestInTarget(entry, planned.plan),
  };
}

/**
 * crane and helm installation from the flags and the environment, as the action's inputs give it: --crane /
 * ECR_MIRROR_CRANE (a binary, an archive or a URL at hand), ECR_MIRROR_CRANE_VERSION, ECR_MIRROR_CRANE_SHA256,
 * ECR_MIRROR_CRANE_BASE_URL (and HELM). Unset: the default version, verified against the SHA-256 built into
 * ecr-mirror.
 */
function toolInstall(tool: "crane" | "helm", values: Values, io: Io): InstallOptions {
  const env = io.env ?? process.env;
  const prefix = `ECR_MIRROR_${tool.toUpperCase()}`;
  const flag = values[tool];
  return {
    version: env[`${prefix}_VERSION`] || null,
    sha256: env[`${prefix}_SHA256`] || null,
    baseUrl: env[`${prefix}_BASE_URL`] || null,
    use: flag || env[prefix] || null,
    useName: flag ? `--${tool}` : prefix,
  };
}

async function tools(names: string[], values: Values, io: Terminal): Promise<number> {
  const wanted = names.length === 0 ? ["crane", "helm"] : names;
  const unknown = wanted.filter((n) => n !== "crane" && n !== "helm");
  if (unknown.length > 0) {
    io.err(`ecr-mirror tools: unknown tool ${unknown.join(", ")} (crane or helm)\n`);
    return 2;
  }
  try {
    useLocalToolCache(io.env);
    for (const name of wanted) {
      const install = name === "crane" ? installCrane : installHelm;
      const installed = await install({
        ...toolInstall(name as "crane" | "helm", values, io),
        log: (l) => io.err(`${l}\n`),
      });
      io.out(`${installed.path}\n`);
    }
    return 0;
  } catch (e) {
    return runFailed(e, null, values, io);
  }
}
