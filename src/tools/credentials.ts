/**
 * Registry credentials for crane and helm: masked before anything could print them, written only to a
 * private temporary folder (0700, files 0600), handed to the tools through their child environment
 * (never this process's), and removed when the session ends, also when the run fails.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Registers a value with the log masker (`core.setSecret` in the action). */
export type MaskSecret = (value: string) => void;

/** Every secret this run holds, masked in its raw and base64 forms; `redact` scrubs them from any text. */
export class SecretMask {
  readonly #values = new Set<string>();

  constructor(private readonly mask: MaskSecret) {}

  /** Masks `value` and its base64 form. Call before the value reaches a file, an argv or a log. */
  add(value: string): void {
    for (const form of [value, Buffer.from(value).toString("base64")]) {
      if (form.length < 4 || this.#values.has(form)) continue;
      this.#values.add(form);
      this.mask(form);
    }
  }

  /** `user:password` as Basic auth carries it: masks the password and the base64 of the pair. */
  addBasic(username: string, password: string): void {
    this.add(password);
    this.add(`${username}:${password}`);
  }

  redact(text: string): string {
    let out = text;
    // Longest first, so a secret containing another is replaced whole.
    for (const value of [...this.#values].sort((a, b) => b.length - a.length))
      out = out.split(value).join("***");
    return out;
  }
}

export interface RegistryCredential {
  /** `host[:port]` as image references carry it (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `docker.io`). */
  registry: string;
  username: string;
  password: string;
}

/** What `ecr:GetAuthorizationToken` returns, decoded. */
export interface EcrAuthorization extends RegistryCredential {
  /** The token as ECR returns it: base64 of `AWS:<password>`. */
  token: string;
  /** `https://...` as ECR returns it. */
  proxyEndpoint: string;
  expiresAt: Date | null;
}

/**
 * Decodes one `authorizationData` item. The registry address comes from `proxyEndpoint` (DESIGN.md §4:
 * other partitions, dual-stack endpoints and local stand-ins work unchanged). Masks every form first.
 */
export function decodeEcrAuthorization(
  data: { authorizationToken?: string; proxyEndpoint?: string; expiresAt?: Date },
  mask: SecretMask,
): EcrAuthorization {
  const token = data.authorizationToken ?? "";
  if (token) mask.add(token);
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (!token || colon <= 0 || !data.proxyEndpoint) {
    throw new Error(
      "ECR GetAuthorizationToken returned no usable authorization data (token or proxyEndpoint missing)",
    );
  }
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  mask.addBasic(username, password);
  const registry = data.proxyEndpoint.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  return {
    registry,
    username,
    password,
    token,
    proxyEndpoint: data.proxyEndpoint,
    expiresAt: data.expiresAt ?? null,
  };
}

const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
/** The key crane (go-containerregistry `authn.DefaultAuthKey`) and docker use for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

/** The `auths` key a Docker config file uses for a registry host. */
export function dockerConfigKey(registry: string): string {
  return DOCKER_HUB_HOSTS.has(registry.toLowerCase()) ? DOCKER_HUB_AUTH_KEY : registry;
}

/** The credential for a registry host, Docker Hub's aliases included, or null. */
export function credentialFor(
  registry: string,
  credentials: readonly RegistryCredential[],
): RegistryCredential | null {
  const key = dockerConfigKey(registry);
  return credentials.find((c) => dockerConfigKey(c.registry) === key) ?? null;
}

/** `config.json` text for `DOCKER_CONFIG`: one `auths` entry per registry, the pair as base64 `auth` only. */
export function renderDockerConfig(credentials: readonly RegistryCredential[]): string {
  const auths: Record<string, { auth: string }> = {};
  for (const c of credentials) {
    auths[dockerConfigKey(c.registry)] = {
      auth: Buffer.from(`${c.username}:${c.password}`).toString("base64"),
    };
  }
  return `${JSON.stringify({ auths }, null, 2)}\n`;
}

/**
 * helm 4 keeps registry credentials through oras-go v2 with `DetectDefaultNativeStore` (helm pkg/registry/client.go
 * NewClient): a config with no `credsStore`, no `credHelpers` and no `auths` entry counts as unconfigured
 * (oras-go registry/remote/internal/configuration/config.go IsAuthConfigured), and then a
 * `docker-credential-secretservice|pass|osxkeychain` on PATH receives every login and answers every lookup
 * (registry/remote/credentials/store.go NewStore, native_store.go getDefaultHelperSuffix). One `auths` entry
 * for a host that cannot exist (RFC 2606 `.invalid`, an empty credential) makes the file itself the store.
 */
export const HELM_PLACEHOLDER_AUTH_HOST = "ecr-mirror.invalid";

/** helm's registry config (and its Docker config) as a session starts: configured, file store, no credential. */
export const HELM_FILE_STORE_CONFIG = `${JSON.stringify({ auths: { [HELM_PLACEHOLDER_AUTH_HOST]: {} } })}\n`;

/** Prefix of every session folder, so a post step can find what a killed run left behind. */
export const SESSION_DIR_PREFIX = "ecr-mirror-credentials-";

export interface CredentialSession extends AsyncDisposable {
  /** The private folder (0700) holding everything below. */
  readonly dir: string;
  /** `DOCKER_CONFIG` for crane: holds `config.json` (0600). */
  readonly dockerConfigDir: string;
  /** Helm's `--registry-config` file; `helm registry login` writes it (configured: oras-go keeps it a file store). */
  readonly helmRegistryConfig: string;
  /** helm's `DOCKER_CONFIG` (its fallback store): holds a configured `config.json` with no credential. */
  readonly helmDockerConfigDir: string;
  readonly mask: SecretMask;
  /** Environment additions for crane processes only. */
  craneEnv(): Record<string, string>;
  /**
   * Environment additions for helm processes only: registry config, Docker config and helm's homes inside the
   * session, each config configured so helm never detects a native credential store nor reads `~/.docker`.
   */
  helmEnv(): Record<string, string>;
  /** Removes the folder. Safe to call more than once. */
  dispose(): Promise<void>;
}

export interface CredentialSessionOptions {
  /** Target registry (ECR) and upstream credentials (Docker Hub and others by host). */
  credentials: readonly RegistryCredential[];
  mask: SecretMask;
  /** Parent folder; default `RUNNER_TEMP`, else the OS temp folder. */
  tempRoot?: string;
}

/**
 * Opens a credential session: use with `await using session = await openCredentialSession(...)` or
 * try/finally + `dispose()`. A process exit before dispose still removes the folder.
 */
export async function openCredentialSession(options: CredentialSessionOptions): Promise<CredentialSession> {
  for (const c of options.credentials) options.mask.addBasic(c.username, c.password);
  const root = options.tempRoot ?? (process.env.RUNNER_TEMP || tmpdir());
  const dir = await mkdtemp(join(root, SESSION_DIR_PREFIX)); // mkdtemp creates 0700
  const removeOnExit = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeOnExit);
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    process.removeListener("exit", removeOnExit);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const dockerConfigDir = join(dir, "docker");
    const helmHome = join(dir, "helm");
    const helmDockerConfigDir = join(helmHome, "config", "docker");
    for (const sub of [
      dockerConfigDir,
      helmHome,
      join(helmHome, "config"),
      helmDockerConfigDir,
      join(helmHome, "cache"),
      join(helmHome, "data"),
    ]) {
      mkdirSync(sub, { mode: 0o700 });
    }
    await writeFile(join(dockerConfigDir, "config.json"), renderDockerConfig(options.credentials), {
      mode: 0o600,
    });
    const helmRegistryConfig = join(helmHome, "registry.json");
    await writeFile(helmRegistryConfig, HELM_FILE_STORE_CONFIG, { mode: 0o600 });
    await writeFile(join(helmDockerConfigDir, "config.json"), HELM_FILE_STORE_CONFIG, { mode: 0o600 });
    return {
      dir,
      dockerConfigDir,
      helmRegistryConfig,
      helmDockerConfigDir,
      mask: options.mask,
      craneEnv: () => ({ DOCKER_CONFIG: dockerConfigDir }),
      helmEnv: () => ({
        HELM_REGISTRY_CONFIG: helmRegistryConfig,
        DOCKER_CONFIG: helmDockerConfigDir,
        HELM_CONFIG_HOME: join(helmHome, "config"),
        HELM_CACHE_HOME: join(helmHome, "cache"),
        HELM_DATA_HOME: join(helmHome, "data"),
      }),
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * For the action's post step (src/post.ts): removes session folders a killed run left under `root` (the job's own
 * `RUNNER_TEMP`; never a shared temp folder where another run may be working). Returns what it removed.
 */
export function removeLeftoverSessions(root: string): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(SESSION_DIR_PREFIX)) continue;
    const path = join(root, name);
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/**
 * Upstream credentials from the action's inputs: Docker Hub's user and token, plus `registry-credentials`
 * lines `host username token` (blank lines and `#` comments skipped). Error messages name the line,
 * never its token.
 */
export function upstreamCredentials(input: {
  dockerHubUsername?: string | null;
  dockerHubToken?: string | null;
  registryCredentials?: string | null;
}): RegistryCredential[] {
  const out: RegistryCredential[] = [];
  const user = input.dockerHubUsername?.trim() ?? "";
  const token = input.dockerHubToken?.trim() ?? "";
  if (user !== "" || token !== "") {
    if (user === "" || token === "") {
      throw new Error("docker-hub-username and docker-hub-token must be given together");
    }
    out.push({ registry: "docker.io", username: user, password: token });
  }
  const lines = (input.registryCredentials ?? "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const parts = line.split(/\s+/);
    if (parts.length !== 3 || /[/]/.test(parts[0]!)) {
      throw new Error(
        `registry-credentials line ${index + 1}: expected "host username token" (host without scheme or path), ` +
          `got ${parts.length} field(s)`,
      );
    }
    const [registry, username, password] = parts as [string, string, string];
    if (credentialFor(registry, out))
      throw new Error(`registry-credentials line ${index + 1}: ${registry} is given twice`);
    out.push({ registry, username, password });
  });
  return out;
}

/**
 * Environment variables whose whole value is a credential: the AWS keys and session token, the GitHub tokens
 * the runner hands every step, the action's secret inputs (as the runner passes them, `INPUT_<NAME>`) and
 * the CLI's own variables.
 */
export const SECRET_ENV = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "GITHUB_TOKEN",
  "GH_TOKEN",
  "ACTIONS_RUNTIME_TOKEN",
  "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
  "INPUT_GITHUB-TOKEN",
  "INPUT_DOCKER-HUB-TOKEN",
  "INPUT_REGISTRY-PASSWORD",
  "ECR_MIRROR_DOCKER_HUB_TOKEN",
  "ECR_MIRROR_TARGET_PASSWORD",
] as const;

/** Variables holding `host username token` lines: every token is a credential, also on a malformed line. */
export const CREDENTIAL_LINES_ENV = [
  "INPUT_REGISTRY-CREDENTIALS",
  "ECR_MIRROR_REGISTRY_CREDENTIALS",
] as const;

/** `user:password@` (or `token@`) in any `scheme://` URL inside `text`. */
const URL_USERINFO = /\b[a-z][a-z0-9+.-]*:\/\/([^\s/?#@"'<>]+)@/gi;

/** Masks the userinfo of every URL in `text` (the password, the pair, and a bare token), decoded too. */
export function maskUrlCredentials(mask: SecretMask, text: string): void {
  for (const match of text.matchAll(URL_USERINFO)) {
    const userinfo = match[1]!;
    for (const form of new Set([userinfo, safeDecode(userinfo)])) {
      const colon = form.indexOf(":");
      if (colon >= 0) mask.addBasic(form.slice(0, colon), form.slice(colon + 1));
      else mask.add(form);
    }
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Masks the secret of one `host username token` line (a malformed line still has its secret after the host). */
function maskCredentialLine(mask: SecretMask, line: string): void {
  const fields = line.trim().split(/\s+/);
  if (fields[0] === "" || fields[0]?.startsWith("#")) return;
  for (const field of fields.slice(fields.length >= 3 ? 2 : 1)) mask.add(field);
  if (fields.length >= 3) mask.addBasic(fields[1]!, fields.slice(2).join(" "));
}

/**
 * Loads every credential the run can know from its environment into the mask, before anything could print
 * one: call it first in each entry (the action and the CLI). The action's inputs arrive as `INPUT_*`
 * variables, so they are covered too; URLs with credentials in any variable are masked as well.
 */
export function maskRunSecrets(mask: SecretMask, env: NodeJS.ProcessEnv): void {
  for (const name of SECRET_ENV) {
    const value = env[name]?.trim();
    if (value) mask.add(value);
  }
  for (const name of CREDENTIAL_LINES_ENV) {
    for (const line of (env[name] ?? "").split(/\r?\n/)) maskCredentialLine(mask, line);
  }
  for (const value of Object.values(env)) if (value?.includes("@")) maskUrlCredentials(mask, value);
}
