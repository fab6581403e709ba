/**
 * The environment of every child process (crane, helm, git): built from an allow-list, never inherited whole.
 * A runner's environment holds the GitHub token (`INPUT_GITHUB-TOKEN`, `GITHUB_TOKEN`), AWS keys, every
 * action input and the runner's own tokens (`ACTIONS_RUNTIME_TOKEN`); a tool that prints its environment
 * when it fails must have none of them to print.
 *
 * A child gets: the names below that this process has (search path, home, temp folders, locale, time zone,
 * proxies, CA bundle), what the product sets for it (the credential session's `DOCKER_CONFIG`, helm's homes
 * and registry config), and the names the user lists in `ECR_MIRROR_TOOL_ENV` (comma-separated), except
 * names that look like secrets: those are refused.
 */
import { join } from "node:path";
import { MirrorError } from "../errors.js";

export type ChildName = "crane" | "helm" | "git";

/** Taken from this process when set: what any of the tools needs to run and reach the network. */
export const ALLOWED_ENV: readonly string[] = [
  "PATH",
  "HOME",
  "TMPDIR",
  "TMP",
  "TEMP",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TZ",
  ...["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"].flatMap((n) => [n, n.toLowerCase()]),
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
];

/** The variable a user lists extra names in (`ECR_MIRROR_TOOL_ENV=GOMAXPROCS,GODEBUG`). */
export const EXTRA_ENV_VARIABLE = "ECR_MIRROR_TOOL_ENV";

/** Names never passed on, even when listed: they hold, or look like they hold, credentials. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|^AWS_|^INPUT_|^ACTIONS_|^GITHUB_TOKEN$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `ECR_MIRROR_TOOL_ENV` names a secret-looking or malformed variable. */
export class ChildEnvError extends MirrorError {
  override name = "ChildEnvError";
}

/** The names listed in `ECR_MIRROR_TOOL_ENV`; throws `ChildEnvError` for a malformed or secret-looking one. */
export function extraEnvNames(value: string | undefined): string[] {
  const names = (value ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const name of names) {
    if (!ENV_NAME.test(name)) {
      throw new ChildEnvError(
        `${EXTRA_ENV_VARIABLE} lists "${name}", which is not an environment variable name.\n` +
          `hint: give names only, separated by commas (${EXTRA_ENV_VARIABLE}=GOMAXPROCS,GODEBUG)`,
      );
    }
    if (SECRET_NAME.test(name)) {
      throw new ChildEnvError(
        `${EXTRA_ENV_VARIABLE} lists ${name}, which looks like a credential: crane, helm and git never ` +
          "receive tokens, keys, passwords, AWS_*, INPUT_* or ACTIONS_* variables.\n" +
          "hint: credentials reach the tools through the product (aws-region/role for ECR, docker-hub-username/" +
          "docker-hub-token and upstream credentials); remove the name from " +
          EXTRA_ENV_VARIABLE,
      );
    }
  }
  return names;
}

/**
 * The environment for one child: allow-listed names from `parent`, the `ECR_MIRROR_TOOL_ENV` names, then
 * `product` (what the product sets deliberately: config folders, git's own settings) on top.
 * helm always gets a `DOCKER_CONFIG` inside its session when the session gives helm homes, so it never falls
 * back to `~/.docker/config.json` (helm reads Docker's config when `DOCKER_CONFIG` is unset).
 */
export function childEnv(
  child: ChildName,
  parent: NodeJS.ProcessEnv,
  product: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...ALLOWED_ENV, ...extraEnvNames(parent[EXTRA_ENV_VARIABLE])]) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, product);
  if (child === "helm" && env.DOCKER_CONFIG === undefined && product.HELM_CONFIG_HOME) {
    env.DOCKER_CONFIG = join(product.HELM_CONFIG_HOME, "docker");
  }
  return env;
}
