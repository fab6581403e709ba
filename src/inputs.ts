/**
 * The action's raw inputs turned into one typed value, once, at the edge. The runner fills in the
 * defaults from action.yml; the fallbacks here apply only when dist/index.js runs without them. The options
 * the CLI takes too follow the rules in options.ts.
 */
import * as core from "@actions/core";
import { MirrorError } from "./errors.js";
import type { CommitBackMode } from "./git/commit-back.js";
import {
  CONCURRENCY,
  CONFIGURATOR_IMAGE,
  MAX_DELETIONS,
  MAX_PARALLEL,
  NODE_CONFIG,
  OptionError,
  type OptionRule,
  PUT_IMAGE_RATE,
  REGISTRY_URL,
  RESYNC,
  readOption,
  readSyncOptions,
  SHARD,
  SHARDS,
  type SyncOptions,
  TOOL_STALL_TIMEOUT,
  TOOL_TIMEOUT,
} from "./options.js";
import type { ResyncMode } from "./plan/model.js";
import type { NodeConfigTarget } from "./render/node-config.js";
import type { ToolLimits } from "./tools/runner.js";

export type Mode = "validate" | "plan" | "sync" | "audit" | "merge";
export const MODES: readonly Mode[] = ["validate", "plan", "sync", "audit", "merge"];

export interface Inputs {
  /** Path of the mirror list as the user wrote it (relative to the workspace). */
  mirrorFile: string;
  mode: Mode;
  resync: ResyncMode;
  awsRegion: string | null;
  /** A plain OCI registry as the target instead of ECR: `http(s)://host[:port]`. */
  registryUrl: string | null;
  registryUsername: string | null;
  registryPassword: string | null;
  dockerHubUsername: string | null;
  dockerHubToken: string | null;
  /** Other upstream credentials: one `host username token` a line. */
  registryCredentials: string | null;
  /** Copies in flight at once (sync). */
  concurrency: number;
  /** Manifest PUTs a second across all copies (ECR's PutImage quota). */
  putImageRate: number;
  /** Where the sync report (JSON) is written; default `$RUNNER_TEMP/ecr-mirror-report.json`. */
  reportPath: string | null;
  /** Folder for the node configuration, relative to the workspace; null: do not render (sync). */
  renderDir: string | null;
  /** The image the node configurator DaemonSet runs (mirrored automatically). */
  configuratorImage: string;
  startupTaint: boolean;
  /** The containerd part of nodeconfig.yaml, for that containerd version; `none` (default): no NodeConfig. */
  nodeConfig: NodeConfigTarget;
  /** What happens to rendered files that changed. */
  commitBack: "none" | CommitBackMode;
  /** Also commit back on same-repository pull requests (never on forks). */
  commitOnPullRequest: boolean;
  /** Token for commit-back pushes and pull requests. */
  githubToken: string | null;
  /** crane and helm installation: versions, pinned SHA-256s, mirrors of the release downloads. */
  crane: ToolInputs;
  helm: ToolInputs;
  /** `tool-stall-timeout` (s) and `tool-timeout` (min): bounds on every crane and helm process. */
  toolLimits: ToolLimits;
  /** `max-deletions`: the run's deletion limit over the list's `target.maxDeletions`; null: the list's. */
  maxDeletions: number | null;
  /** `comment`: the pull-request comment. auto: on pull requests whose token may write. */
  comment: CommentMode;
  /** `pods-file` (mode audit): `kubectl get pods -A -o json` output, relative to the workspace; null when not given. */
  podsFile: string | null;
  /** `audit-target` (mode audit): ask the target for the digests it holds; false audits offline. */
  auditTarget: boolean;
  /** A sharded sync (plan/shards.ts): its plan, one shard, or the merge. */
  sharding: ShardingInputs;
}

export interface ShardingInputs {
  /** plan: split into a seed and this many sync shards (`auto`); null: not sharded. */
  shards: number | "auto" | null;
  /** plan: sync shards at once (`max-parallel`), which share the PutImage quota and the pull budgets. */
  maxParallel: number | null;
  /** plan: the folder for the shard plans; sync: a shard-K.json or that folder (with `shard`). */
  shardPlan: string | null;
  /** sync: the shard to carry out (0: the seed). */
  shard: number | null;
  /** merge: the folder (or file) holding the shards' reports. */
  shardReports: string | null;
}

export type CommentMode = "auto" | "always" | "never";

export interface ToolInputs {
  version: string | null;
  sha256: string | null;
  baseUrl: string | null;
}

/** A refused input: the step fails with its message, before anything is read or copied. */
export class InputError extends MirrorError {}

/** How the action reads one raw input (`core.getInput`; tests give a map). */
export type InputReader = (name: string) => string;

/** The inputs, every rule applied once; an InputError names the first refused one. */
export function readInputs(get: InputReader = (name) => core.getInput(name)): Inputs {
  const optional = (name: string): string | null => get(name).trim() || null;
  const oneOf = <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
    const value = optional(name) ?? fallback;
    if (!allowed.includes(value as T))
      throw new InputError(`input "${name}" is "${value}"; expected one of ${allowed.join(", ")}`);
    return value as T;
  };
  const boolean = (name: string): boolean => {
    const value = optional(name);
    if (value === null) return false;
    if (/^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
    throw new InputError(`input "${name}" is "${value}"; expected true or false`);
  };
  const readInput = <T>(rule: OptionRule<T>, raw: string | null): T => {
    try {
      return readOption(rule, raw, "input");
    } catch (e) {
      if (!(e instanceof OptionError)) throw e;
      throw new InputError(e.hint ? `${e.message}\n  hint: ${e.hint}` : e.message);
    }
  };
  let shared: SyncOptions;
  try {
    shared = readSyncOptions(
      {
        resync: optional(RESYNC.input),
        registryUrl: optional(REGISTRY_URL.input),
        concurrency: optional(CONCURRENCY.input),
        putImageRate: optional(PUT_IMAGE_RATE.input),
        toolStallTimeout: optional(TOOL_STALL_TIMEOUT.input),
        toolTimeout: optional(TOOL_TIMEOUT.input),
        maxDeletions: optional(MAX_DELETIONS.input),
      },
      "input",
    );
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    throw new InputError(e.hint ? `${e.message}\n  hint: ${e.hint}` : e.message);
  }
  return {
    mirrorFile: optional("mirror-file") ?? "mirrors.yaml",
    mode: oneOf("mode", "validate", MODES),
    resync: shared.resync,
    awsRegion: optional("aws-region"),
    registryUrl: shared.registryUrl,
    registryUsername: optional("registry-username"),
    registryPassword: optional("registry-password"),
    dockerHubUsername: optional("docker-hub-username"),
    dockerHubToken: optional("docker-hub-token"),
    registryCredentials: optional("registry-credentials"),
    concurrency: shared.concurrency,
    putImageRate: shared.putImageRate,
    reportPath: optional("report-path"),
    renderDir: optional("render-dir"),
    configuratorImage: readOption(CONFIGURATOR_IMAGE, optional(CONFIGURATOR_IMAGE.input), "input"),
    startupTaint: boolean("startup-taint"),
    nodeConfig: readInput(NODE_CONFIG, optional(NODE_CONFIG.input)),
    commitBack: oneOf("commit-back", "auto", ["none", "push", "pull-request", "auto"] as const),
    commitOnPullRequest: boolean("commit-on-pull-request"),
    githubToken: optional("github-token"),
    crane: {
      version: optional("crane-version"),
      sha256: optional("crane-sha256"),
      baseUrl: optional("crane-base-url"),
    },
    helm: {
      version: optional("helm-version"),
      sha256: optional("helm-sha256"),
      baseUrl: optional("helm-base-url"),
    },
    toolLimits: shared.toolLimits,
    maxDeletions: shared.maxDeletions,
    comment: oneOf("comment", "auto", ["auto", "always", "never"] as const),
    podsFile: optional("pods-file"),
    auditTarget: optional("audit-target") === null ? true : boolean("audit-target"),
    sharding: {
      shards: optional(SHARDS.input) === null ? null : readInput(SHARDS, optional(SHARDS.input)),
      maxParallel: readInput(MAX_PARALLEL, optional(MAX_PARALLEL.input)),
      shardPlan: optional("shard-plan"),
      shard: readInput(SHARD, optional(SHARD.input)),
      shardReports: optional("shard-reports"),
    },
  };
}
