/**
 * The options both entries take (the action's inputs, the CLI's flags): one rule each, with its default,
 * its range and its message. The entries differ only in how they name an option in that message
 * (`input "concurrency"` against `--concurrency`); action.yml's defaults are checked against these by a test.
 */
import { registryUrlProblem } from "./list/address-policy.js";
import type { ResyncMode } from "./plan/model.js";
import { DEFAULT_CONFIGURATOR_IMAGE } from "./render/index.js";
import { NODE_CONFIG_TARGETS, type NodeConfigTarget } from "./render/node-config.js";
import { DEFAULT_LIMITS, type ToolLimits } from "./tools/runner.js";

/** An option's value refused: the message names the option as the entry does; the hint says what to give. */
export class OptionError extends Error {
  constructor(
    message: string,
    readonly hint: string | null = null,
  ) {
    super(message);
  }
}

/** How an entry names its options: the action by input name, the CLI by flag. */
export type Naming = "input" | "flag";

export interface OptionRule<T> {
  /** The action input (action.yml). */
  input: string;
  /** The CLI flag, without `--`. */
  flag: string;
  /** The value when the option is not given (or empty). */
  default: T;
  /** The value, or what is wrong with `raw` (after `<name> is "<raw>"; ` or `<name>: `). */
  parse(raw: string): { ok: true; value: T } | { ok: false; problem: string; hint?: string };
}

/** `input "concurrency"` or `--concurrency`. */
export function optionName(rule: Pick<OptionRule<unknown>, "input" | "flag">, naming: Naming): string {
  return naming === "input" ? `input "${rule.input}"` : `--${rule.flag}`;
}

/** The option's value from its raw text (null, undefined or blank: the default); an OptionError if refused. */
export function readOption<T>(
  rule: OptionRule<T>,
  raw: string | null | undefined,
  naming: Naming,
  name = optionName(rule, naming),
): T {
  const text = raw?.trim() ?? "";
  if (text === "") return rule.default;
  const parsed = rule.parse(text);
  if (parsed.ok) return parsed.value;
  throw new OptionError(`${name}${parsed.problem}`, parsed.hint ?? null);
}

function wholeNumber(text: string, max: number, unit: string) {
  const n = Number(text);
  if (/^\d+$/.test(text) && n >= 1 && n <= max) return { ok: true as const, value: n };
  return {
    ok: false as const,
    problem: ` is "${text}"; expected a whole number ${unit ? `of ${unit} ` : ""}from 1 to ${max}`,
  };
}

/** Copies in flight at once (sync). */
export const CONCURRENCY: OptionRule<number> = {
  input: "concurrency",
  flag: "concurrency",
  default: 4,
  parse: (text) => wholeNumber(text, 64, ""),
};

/** Manifest PUTs a second across every copy in flight (ECR's PutImage quota, default 10 per account and region). */
export const PUT_IMAGE_RATE: OptionRule<number> = {
  input: "put-image-rate",
  flag: "put-image-rate",
  default: 10,
  parse: (text) => wholeNumber(text, 1000, "manifests a second"),
};

export const RESYNC_MODES: readonly ResyncMode[] = ["missing", "digest"];

/** `missing`: copy absent tags only; `digest`: also find tags that moved upstream. */
export const RESYNC: OptionRule<ResyncMode> = {
  input: "resync",
  flag: "resync",
  default: "missing",
  parse: (text) =>
    RESYNC_MODES.includes(text as ResyncMode)
      ? { ok: true, value: text as ResyncMode }
      : { ok: false, problem: ` is "${text}"; expected one of ${RESYNC_MODES.join(", ")}` },
};

/** A plain OCI registry as the target, `http(s)://host[:port]`: the address policy of the list's hosts. */
export const REGISTRY_URL: OptionRule<string | null> = {
  input: "registry-url",
  flag: "registry-url",
  default: null,
  parse: (text) => {
    const refused = registryUrlProblem(text);
    return refused
      ? { ok: false, problem: `: ${refused.reason}`, hint: refused.hint }
      : { ok: true, value: text };
  },
};

/** Seconds a crane or helm process may show no progress before it is stopped. */
export const TOOL_STALL_TIMEOUT: OptionRule<number> = {
  input: "tool-stall-timeout",
  flag: "tool-stall-timeout",
  default: DEFAULT_LIMITS.stallTimeoutMs / 1000,
  parse: (text) => wholeNumber(text, 3600, "seconds"),
};

/** Minutes a copy, push or pull may run in total. */
export const TOOL_TIMEOUT: OptionRule<number> = {
  input: "tool-timeout",
  flag: "tool-timeout",
  default: DEFAULT_LIMITS.timeoutMs / 60_000,
  parse: (text) => wholeNumber(text, 1440, "minutes"),
};

/** The AWS CLI image the node configurator DaemonSet runs (mirrored automatically). */
export const CONFIGURATOR_IMAGE: OptionRule<string> = {
  input: "configurator-image",
  flag: "configurator-image",
  default: DEFAULT_CONFIGURATOR_IMAGE,
  parse: (text) => ({ ok: true, value: text }),
};

/**
 * The containerd part of a nodeadm NodeConfig (nodeconfig.yaml), for the containerd version the node groups
 * run; `none` (the default) renders none: stock AL2023 nodes need no user-data change.
 */
export const NODE_CONFIG: OptionRule<NodeConfigTarget> = {
  input: "node-config",
  flag: "node-config",
  default: "none",
  parse: (text) =>
    NODE_CONFIG_TARGETS.includes(text as NodeConfigTarget)
      ? { ok: true, value: text as NodeConfigTarget }
      : {
          ok: false,
          problem: ` is "${text}"; expected one of ${NODE_CONFIG_TARGETS.join(", ")}`,
          hint: "containerd-1.7 and containerd-2 are for node groups running that containerd version only; stock AL2023 nodes need none",
        },
};

/**
 * The most tags one run may delete (plan and sync), over the list's `target.maxDeletions`; null: the list's.
 * Zero is allowed: no deletion at all.
 */
export const MAX_DELETIONS: OptionRule<number | null> = {
  input: "max-deletions",
  flag: "max-deletions",
  default: null,
  parse: (text) =>
    /^\d{1,9}$/.test(text)
      ? { ok: true, value: Number(text) }
      : { ok: false, problem: ` is "${text}"; expected a whole number from 0 up` },
};

/** The override a run gives the deletion guard (plan/deletions.ts), named as the entry names the option. */
export function deletionOverride(
  maxDeletions: number | null,
  naming: Naming,
): { limit: number; from: string } | null {
  return maxDeletions === null ? null : { limit: maxDeletions, from: optionName(MAX_DELETIONS, naming) };
}

/** The options a sync takes from either entry, read with one set of rules. */
export interface SyncOptions {
  resync: ResyncMode;
  registryUrl: string | null;
  concurrency: number;
  putImageRate: number;
  toolLimits: ToolLimits;
  /** The run's deletion limit (`max-deletions`), or null for the list's `target.maxDeletions`. */
  maxDeletions: number | null;
}

/** Every shared option from its raw text; the first refused one throws an OptionError naming it. */
export function readSyncOptions(
  raw: {
    resync?: string | null;
    registryUrl?: string | null;
    concurrency?: string | null;
    putImageRate?: string | null;
    toolStallTimeout?: string | null;
    toolTimeout?: string | null;
    maxDeletions?: string | null;
  },
  naming: Naming,
): SyncOptions {
  return {
    resync: readOption(RESYNC, raw.resync, naming),
    registryUrl: readOption(REGISTRY_URL, raw.registryUrl, naming),
    concurrency: readOption(CONCURRENCY, raw.concurrency, naming),
    putImageRate: readOption(PUT_IMAGE_RATE, raw.putImageRate, naming),
    toolLimits: {
      stallTimeoutMs: readOption(TOOL_STALL_TIMEOUT, raw.toolStallTimeout, naming) * 1000,
      timeoutMs: readOption(TOOL_TIMEOUT, raw.toolTimeout, naming) * 60_000,
    },
    maxDeletions: readOption(MAX_DELETIONS, raw.maxDeletions, naming),
  };
}

/**
 * A sharded sync (plan/shards.ts): the number of sync shards, or `auto` (one per 250 copies or 20 GiB); 1, the
 * default, is one sync job as without sharding.
 */
export const SHARDS: OptionRule<number | "auto"> = {
  input: "shards",
  flag: "shards",
  default: 1,
  parse: (text) => (text === "auto" ? { ok: true, value: "auto" } : wholeNumber(text, 256, "shards")),
};

/** Sync shards running at once (GitHub's `max-parallel`); null: all of them. */
export const MAX_PARALLEL: OptionRule<number | null> = {
  input: "max-parallel",
  flag: "max-parallel",
  default: null,
  parse: (text) => wholeNumber(text, 256, "jobs"),
};

/** The shard a sync carries out (0: the seed). */
export const SHARD: OptionRule<number | null> = {
  input: "shard",
  flag: "shard",
  default: null,
  parse: (text) =>
    /^\d{1,3}$/.test(text) && Number(text) <= 256
      ? { ok: true, value: Number(text) }
      : { ok: false, problem: ` is "${text}"; expected a whole number from 0 to 256` },
};
