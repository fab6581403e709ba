/**
 * The action's raw inputs turned into one typed value, once, at the edge. The runner fills in the
 * defaults from action.yml; the fallbacks here apply only when dist/index.js runs without them.
 */
import * as core from "@actions/core";
import { MirrorError } from "./errors.js";
import type { CommitBackMode } from "./git/commit-back.js";
import { registryUrlProblem } from "./list/address-policy.js";
import type { ResyncMode } from "./plan/model.js";
import { DEFAULT_CONFIGURATOR_IMAGE } from "./render/index.js";
import { type ToolLimits, toolLimitsFrom } from "./tools/runner.js";

export type Mode = "validate" | "plan" | "sync";
export const MODES: readonly Mode[] = ["validate", "plan", "sync"];

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
  /** Where the sync report (JSON) is written; default `$RUNNER_TEMP/ecr-mirror-report.json`. */
  reportPath: string | null;
  /** Folder for the node configuration, relative to the workspace; null: do not render (sync). */
  renderDir: string | null;
  /** The image the node configurator DaemonSet runs (mirrored automatically). */
  configuratorImage: string;
  startupTaint: boolean;
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
}

export interface ToolInputs {
  version: string | null;
  sha256: string | null;
  baseUrl: string | null;
}

export class InputError extends MirrorError {}

function optional(name: string): string | null {
  return core.getInput(name).trim() || null;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T))
    throw new InputError(`input "${name}" is "${value}"; expected one of ${allowed.join(", ")}`);
  return value as T;
}

function boolean(name: string, fallback: boolean): boolean {
  const value = optional(name);
  if (value === null) return fallback;
  if (/^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  throw new InputError(`input "${name}" is "${value}"; expected true or false`);
}

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64)
    throw new InputError(`input "${name}" is "${value}"; expected a whole number from 1 to 64`);
  return n;
}

function toolLimits(): ToolLimits {
  try {
    return toolLimitsFrom(
      { stallSeconds: optional("tool-stall-timeout"), timeoutMinutes: optional("tool-timeout") },
      { stall: 'input "tool-stall-timeout"', timeout: 'input "tool-timeout"' },
    );
  } catch (error) {
    throw new InputError((error as Error).message);
  }
}

export function readInputs(): Inputs {
  const inputs: Inputs = {
    mirrorFile: optional("mirror-file") ?? "mirrors.yaml",
    mode: oneOf("mode", optional("mode") ?? "validate", MODES),
    resync: oneOf("resync", optional("resync") ?? "missing", ["missing", "digest"] as const),
    awsRegion: optional("aws-region"),
    registryUrl: optional("registry-url"),
    registryUsername: optional("registry-username"),
    registryPassword: optional("registry-password"),
    dockerHubUsername: optional("docker-hub-username"),
    dockerHubToken: optional("docker-hub-token"),
    registryCredentials: optional("registry-credentials"),
    concurrency: positiveInteger("concurrency", optional("concurrency") ?? "4"),
    reportPath: optional("report-path"),
    renderDir: optional("render-dir"),
    configuratorImage: optional("configurator-image") ?? DEFAULT_CONFIGURATOR_IMAGE,
    startupTaint: boolean("startup-taint", false),
    commitBack: oneOf("commit-back", optional("commit-back") ?? "auto", [
      "none",
      "push",
      "pull-request",
      "auto",
    ] as const),
    commitOnPullRequest: boolean("commit-on-pull-request", false),
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
    toolLimits: toolLimits(),
  };
  // Masked before anything else could print them.
  for (const secret of [inputs.registryPassword, inputs.dockerHubToken, inputs.githubToken])
    if (secret) core.setSecret(secret);
  const registryUrlRefused = inputs.registryUrl ? registryUrlProblem(inputs.registryUrl) : null;
  if (registryUrlRefused) {
    throw new InputError(`input "registry-url": ${registryUrlRefused.reason} (${registryUrlRefused.hint})`);
  }
  return inputs;
}
