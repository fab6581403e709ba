// Credential files the real tools use: Docker's config.json (crane) and Helm's registry config
// (the same `auths` format). Passwords are only ever read from and written to these files.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker/cli `config.Dir()`). */
export function dockerConfigPath(env = process.env) {
  const dir = env.DOCKER_CONFIG || join(homedir(), ".docker");
  return join(dir, "config.json");
}

/** `--registry-config`, else `$HELM_REGISTRY_CONFIG`, else `$HELM_CONFIG_HOME/registry/config.json`. */
export function helmRegistryConfigPath(flag, env = process.env) {
  if (flag) return flag;
  if (env.HELM_REGISTRY_CONFIG) return env.HELM_REGISTRY_CONFIG;
  const configHome = env.HELM_CONFIG_HOME || join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "helm");
  return join(configHome, "registry", "config.json");
}

function readConfig(path) {
  if (!existsSync(path)) return {};
  const text = readFileSync(path, "utf8");
  if (text.trim() === "") return {};
  return JSON.parse(text);
}

/** docker/cli's key normalisation: `https://host/v1/` and `host` name the same registry. */
function keyHost(key) {
  return key.replace(/^[a-z]+:\/\//, "").split("/")[0];
}

/**
 * The `user:password` stored for `host`, or null. Credential helpers (`credsStore`,
 * `credHelpers`) are outside the stand-in contract: fail loudly rather than ignore them.
 * @returns {{ user: string, password: string } | null}
 */
export function findCredentials(path, host) {
  const config = readConfig(path);
  if (config.credHelpers?.[host] || config.credsStore) {
    throw new Error(
      `${path} names a credential helper (credsStore/credHelpers); the stand-in reads only "auths" entries`,
    );
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (keyHost(key) !== host && !(host === "index.docker.io" && keyHost(key) === "index.docker.io"))
      continue;
    if (entry.username && entry.password) return { user: entry.username, password: entry.password };
    if (!entry.auth) continue;
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new Error(`${path}: the auth entry for ${key} is not base64 of user:password`);
    return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return null;
}

/** Adds or replaces `auths[host]`, keeping every other field; written 0600 through a rename. */
export function storeCredentials(path, host, user, password) {
  const config = readConfig(path);
  if (config.credsStore || config.credHelpers?.[host]) {
    throw new Error(`${path} names a credential helper; the stand-in writes only "auths" entries`);
  }
  config.auths = config.auths ?? {};
  config.auths[host] = { auth: Buffer.from(`${user}:${password}`).toString("base64") };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
