// Credential files the real tools use: Docker's config.json (crane) and Helm's registry config
// (the same `auths` format). Passwords are only ever read from and written to these files.
import { spawnSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";

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
 * crane: the `user:password` stored for `host`, or null. Credential helpers (`credsStore`,
 * `credHelpers`) are outside crane's stand-in contract: fail loudly rather than ignore them.
 * @returns {{ user: string, password: string } | null}
 */
export function findCredentials(path, host) {
  const config = readConfig(path);
  if (config.credHelpers?.[host] || config.credsStore) {
    throw new Error(
      `${path} names a credential helper (credsStore/credHelpers); the stand-in reads only "auths" entries`,
    );
  }
  return fileCredentials(path, config, host);
}

/** The `auths` entry for `host` in a loaded config (docker/cli key normalisation), or null. */
function fileCredentials(path, config, host) {
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

/** crane: adds or replaces `auths[host]`, keeping every other field; written 0600 through a rename. */
export function storeCredentials(path, host, user, password) {
  const config = readConfig(path);
  if (config.credsStore || config.credHelpers?.[host]) {
    throw new Error(`${path} names a credential helper; the stand-in writes only "auths" entries`);
  }
  writeAuth(path, config, host, user, password);
}

/** Adds or replaces `auths[host]`, keeping every other field. */
function writeAuth(path, config, host, user, password) {
  config.auths = config.auths ?? {};
  config.auths[host] = { auth: Buffer.from(`${user}:${password}`).toString("base64") };
  writeConfig(path, config);
}

/** Written 0600 through a rename. */
function writeConfig(path, config) {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

// ---- helm 4: oras-go v2 credential stores -------------------------------------------------
// helm 4 pkg/registry/client.go NewClient: StoreOptions{AllowPlaintextPut: true, DetectDefaultNativeStore:
// true}; credentials.NewStore(registry config) with fallback credentials.NewStoreFromDocker (oras-go
// registry/remote/credentials/store.go: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).

/**
 * oras-go registry/remote/internal/configuration/config.go IsAuthConfigured: `credsStore` set, or any
 * `credHelpers` entry, or any `auths` entry. `{"auths":{}}` is NOT configured.
 */
export function isAuthConfigured(config) {
  return (
    Boolean(config.credsStore) ||
    Object.keys(config.credHelpers ?? {}).length > 0 ||
    Object.keys(config.auths ?? {}).length > 0
  );
}

/** Go's exec.LookPath for a bare name: the first executable file of that name on PATH, or null. */
function lookPath(name, env) {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {}
  }
  return null;
}

/**
 * oras-go native_store.go getDefaultHelperSuffix with native_store_{linux,darwin,windows}.go
 * getPlatformDefaultHelperSuffix: linux "pass" when `pass` is on PATH, else "secretservice"; darwin
 * "osxkeychain"; windows "wincred"; used only when `docker-credential-<suffix>` is on PATH, else "".
 */
export function defaultNativeStore(env = process.env) {
  const platform =
    process.platform === "darwin"
      ? "osxkeychain"
      : process.platform === "win32"
        ? "wincred"
        : lookPath("pass", env)
          ? "pass"
          : "secretservice";
  return lookPath(`docker-credential-${platform}`, env) ? platform : "";
}

/**
 * oras-go store.go NewStore + DynamicStore.getHelperSuffix: `credHelpers[host]`, else `credsStore`, else
 * (DetectDefaultNativeStore and the config not configured) the detected default native store; "" = the file.
 */
function helperFor(config, host, env) {
  if (config.credHelpers?.[host]) return config.credHelpers[host];
  if (config.credsStore) return config.credsStore;
  return isAuthConfigured(config) ? "" : defaultNativeStore(env);
}

/** oras-go internal/executer: `docker-credential-<suffix> <action>`, input on stdin, stdout back. */
function runHelper(suffix, action, input, env) {
  const result = spawnSync(`docker-credential-${suffix}`, [action], { input, env, encoding: "utf8" });
  if (result.error) throw new Error(`exec: "docker-credential-${suffix}": ${result.error.message}`);
  if (result.status !== 0) return { ok: false, message: (result.stdout || result.stderr).trim() };
  return { ok: true, stdout: result.stdout };
}

/** oras-go native_store.go Get: `get` with the server address on stdin; "credentials not found…" = none. */
function nativeGet(suffix, host, env) {
  const out = runHelper(suffix, "get", host, env);
  if (!out.ok) {
    if (out.message === "credentials not found in native keychain") return null;
    throw new Error(`error getting credentials - err: exit status 1, out: \`${out.message}\``);
  }
  const cred = JSON.parse(out.stdout);
  return cred.Secret ? { user: cred.Username, password: cred.Secret } : null;
}

/** The credentials helm 4 uses for `host`: its registry config, then Docker's config (each may be a native store). */
export function helmCredentials(registryConfig, host, env = process.env) {
  for (const path of [registryConfig, dockerConfigPath(env)]) {
    const config = readConfig(path);
    const helper = helperFor(config, host, env);
    const found = helper ? nativeGet(helper, host, env) : fileCredentials(path, config, host);
    if (found) return found;
  }
  return null;
}

/**
 * `helm registry login`: DynamicStore.Put into helm's registry config. Through a native store (oras-go
 * native_store.go Put: `store` with {"ServerURL","Username","Secret"} on stdin), then, when the store was
 * detected, `credsStore` written back to the config (DynamicStore.Put, SetCredentialsStore); else the file.
 */
export function helmStoreCredentials(registryConfig, host, user, password, env = process.env) {
  const config = readConfig(registryConfig);
  const helper = helperFor(config, host, env);
  if (!helper) return writeAuth(registryConfig, config, host, user, password);
  const out = runHelper(
    helper,
    "store",
    JSON.stringify({ ServerURL: host, Username: user, Secret: password }),
    env,
  );
  if (!out.ok) throw new Error(`error storing credentials - err: exit status 1, out: \`${out.message}\``);
  if (!config.credsStore && !config.credHelpers?.[host]) {
    config.credsStore = helper;
    writeConfig(registryConfig, config);
  }
}
