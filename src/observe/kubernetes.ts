/**
 * What a cluster runs, read from its API: the pods of every namespace (`GET /api/v1/pods`, 500 a page, as kubectl
 * pages them), reached with a kubeconfig's server, CA, and a bearer token or a client certificate. No kubectl is
 * needed. Exec plugins and auth providers (EKS's `aws eks get-token`) are not run: for those, kubectl gets the pods
 * and `--pods -` reads them. Certificate checks are never turned off, and the token is masked before any request.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { MirrorError } from "../errors.js";
import { quoteValue } from "../list/quote.js";
import type { SecretMask } from "../tools/credentials.js";

/** How to reach the API server: its URL, the CA it is checked against, and the credential sent. */
export interface KubeAccess {
  server: string;
  ca: string | null;
  token: string | null;
  cert: string | null;
  key: string | null;
  tlsServerName: string | null;
}

export const KUBECTL_HINT =
  "get the pods with kubectl and pipe them in: kubectl get pods -A -o json | ecr-mirror audit --pods -";

/** Pods a page (kubectl's own chunk size). */
export const PAGE_SIZE = 500;
/** The most pages read (500 000 pods). */
const MAX_PAGES = 1000;
/** One page's answer: 500 pods weigh a few MiB. */
const MAX_PAGE_BYTES = 64 * 1024 * 1024;
/** Connection, TLS and headers; then the whole page. */
const HEADERS_TIMEOUT_MS = 30_000;
const PAGE_TIMEOUT_MS = 120_000;

function fail(kubeconfig: string, message: string, hint = KUBECTL_HINT): never {
  throw new MirrorError(`${kubeconfig}: ${message}`, { hint });
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function text(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

/** The entry named `name` of a kubeconfig list (`clusters`, `users`, `contexts`), its inner object. */
function pick(
  config: Record<string, unknown>,
  list: string,
  inner: string,
  name: string,
): Record<string, unknown> | null {
  const items = Array.isArray(config[list]) ? (config[list] as unknown[]) : [];
  const found = items.find((i) => record(i).name === name);
  return found ? record(record(found)[inner]) : null;
}

/** Inline `*-data` (base64) or a file path relative to the kubeconfig's folder. */
async function material(
  kubeconfig: string,
  section: Record<string, unknown>,
  field: string,
): Promise<string | null> {
  const data = text(section[`${field}-data`]);
  if (data) return Buffer.from(data, "base64").toString("utf8");
  const path = text(section[field]);
  if (!path) return null;
  try {
    return await readFile(resolve(dirname(kubeconfig), path), "utf8");
  } catch (e) {
    return fail(
      kubeconfig,
      `${field} ${quoteValue(path)} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      "fix the path in the kubeconfig (relative paths are read from its folder)",
    );
  }
}

/** The server, CA and credential of `context` (else the kubeconfig's current-context). */
export async function readKubeconfig(
  kubeconfig: string,
  context: string | null,
  mask: SecretMask,
): Promise<KubeAccess> {
  let config: Record<string, unknown>;
  try {
    config = record(parse(await readFile(kubeconfig, "utf8"), { maxAliasCount: 100 }));
  } catch (e) {
    return fail(
      kubeconfig,
      `not a readable kubeconfig: ${(e as Error).message.split("\n")[0]}`,
      "pass the kubeconfig kubectl uses (~/.kube/config), or use --pods",
    );
  }
  const name = context ?? text(config["current-context"]);
  if (!name) return fail(kubeconfig, "has no current-context", "pass --context NAME");
  const ctx = pick(config, "contexts", "context", name);
  if (!ctx)
    return fail(
      kubeconfig,
      `has no context ${quoteValue(name)}`,
      "pass --context with one of its contexts (kubectl config get-contexts)",
    );
  const clusterName = text(ctx.cluster) ?? "";
  const cluster = pick(config, "clusters", "cluster", clusterName);
  if (!cluster)
    return fail(
      kubeconfig,
      `context ${quoteValue(name)} names cluster ${quoteValue(clusterName)}, which it does not define`,
    );
  const server = text(cluster.server);
  if (!server || !/^https:\/\//i.test(server))
    return fail(
      kubeconfig,
      `cluster ${quoteValue(clusterName)} has no https:// server`,
      "the API server is reached over HTTPS only (a token must not travel in clear)",
    );
  if (cluster["insecure-skip-tls-verify"] === true)
    return fail(
      kubeconfig,
      `cluster ${quoteValue(clusterName)} sets insecure-skip-tls-verify`,
      "ecr-mirror never turns certificate checks off: give the cluster's certificate-authority-data, or use kubectl and --pods -",
    );
  const userName = text(ctx.user) ?? "";
  const user = pick(config, "users", "user", userName) ?? {};
  if (user.exec !== undefined || user["auth-provider"] !== undefined)
    return fail(
      kubeconfig,
      `user ${quoteValue(userName)} authenticates with an exec plugin or auth provider, which ecr-mirror does not run`,
    );
  let token = text(user.token);
  const tokenFile = text(user.tokenFile);
  if (!token && tokenFile) token = (await material(kubeconfig, { tokenFile }, "tokenFile"))?.trim() ?? null;
  if (token) mask.add(token);
  const cert = await material(kubeconfig, user, "client-certificate");
  const key = await material(kubeconfig, user, "client-key");
  if (key) mask.add(key.trim());
  if (!token && !(cert && key))
    return fail(
      kubeconfig,
      `user ${quoteValue(userName)} has neither a token nor a client certificate and key`,
    );
  return {
    server: server.replace(/\/+$/, ""),
    ca: await material(kubeconfig, cluster, "certificate-authority"),
    token,
    cert,
    key,
    tlsServerName: text(cluster["tls-server-name"]),
  };
}

/** Every page of `GET /api/v1/pods` (all namespaces) as the API answered it: JSON `PodList` texts. */
export async function fetchPodPages(access: KubeAccess): Promise<{ url: string; pages: string[] }> {
  const url = `${access.server}/api/v1/pods`;
  const pages: string[] = [];
  let next: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE), ...(next ? { continue: next } : {}) });
    const page = await getPage(access, `${url}?${query}`);
    pages.push(page);
    next = continueToken(page);
    if (pages.length >= MAX_PAGES && next)
      throw new MirrorError(`${url}: more than ${MAX_PAGES * PAGE_SIZE} pods`, { hint: KUBECTL_HINT });
  } while (next);
  return { url, pages };
}

function continueToken(page: string): string | null {
  try {
    return text(record(record(JSON.parse(page)).metadata).continue);
  } catch {
    return null; // the page itself is reported as not JSON when it is read
  }
}

function getPage(access: KubeAccess, url: string): Promise<string> {
  const what = `GET ${url.replace(/\?.*$/, "")}`;
  return new Promise((resolvePage, reject) => {
    const failed = (message: string, hint?: string) =>
      reject(new MirrorError(`${what}: ${message}`, { hint: hint ?? KUBECTL_HINT }));
    const req = request(
      url,
      {
        method: "GET",
        headers: {
          accept: "application/json",
          ...(access.token ? { authorization: `Bearer ${access.token}` } : {}),
        },
        ...(access.ca ? { ca: access.ca } : {}),
        ...(access.cert && access.key ? { cert: access.cert, key: access.key } : {}),
        ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
        timeout: HEADERS_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const deadline = setTimeout(
          () => req.destroy(new Error(`no complete answer within ${PAGE_TIMEOUT_MS / 1000} s`)),
          PAGE_TIMEOUT_MS,
        );
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_PAGE_BYTES)
            req.destroy(new Error(`the answer is larger than ${MAX_PAGE_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on("error", (e) => {
          clearTimeout(deadline);
          failed(e.message);
        });
        res.on("end", () => {
          clearTimeout(deadline);
          const body = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status === 200) return resolvePage(body);
          failed(...refusal(status, body));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${HEADERS_TIMEOUT_MS / 1000} s`)));
    req.on("error", (e: NodeJS.ErrnoException) => {
      const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(e.code ?? "");
      failed(
        `${e.code && !e.message.includes(e.code) ? `${e.code} ` : ""}${e.message}`,
        tls
          ? "the API server's certificate is not trusted: give the cluster's certificate-authority-data in the kubeconfig"
          : undefined,
      );
    });
    req.end();
  });
}

/** What an error status means to the person running the audit (the API's own Status message, escaped). */
function refusal(status: number, body: string): [string, string] {
  let said = "";
  try {
    said = text(record(JSON.parse(body)).message) ?? "";
  } catch {
    said = "";
  }
  const detail = said ? `: ${quoteValue(said, 200)}` : "";
  if (status === 401)
    return [
      `the API server refused the credentials (401)${detail}`,
      `the token or client certificate is wrong or expired; ${KUBECTL_HINT}`,
    ];
  if (status === 403)
    return [
      `the user may not list pods in all namespaces (403)${detail}`,
      "it needs list on pods cluster-wide (the view ClusterRole has it), or use kubectl and --pods -",
    ];
  return [`the API server answered ${status}${detail}`, KUBECTL_HINT];
}

/** The largest pod list read: a 5,000-pod cluster's `kubectl get pods -A -o json` weighs about 100 MiB. */
export const MAX_POD_LIST_BYTES = 256 * 1024 * 1024;

/**
 * A pod list from a file, or from stdin for `-`, read no further than `maxBytes` (a FIFO or /dev/zero never ends).
 * Returns the text, or throws a MirrorError naming the file.
 */
export async function readPodList(
  path: string,
  stdin: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  maxBytes = MAX_POD_LIST_BYTES,
): Promise<string> {
  const shown = path === "-" ? "stdin" : path;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const source = path === "-" ? stdin : createReadStream(path);
    for await (const chunk of source) {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      total += buffer.length;
      if (total > maxBytes) {
        if ("destroy" in source && typeof source.destroy === "function") source.destroy();
        throw new MirrorError(`${shown}: the pod list is larger than ${maxBytes / 1024 / 1024} MiB`, {
          hint: "audit fewer namespaces at a time (kubectl get pods -n NAMESPACE -o json), or look for pasted content",
        });
      }
      chunks.push(buffer);
    }
  } catch (e) {
    if (e instanceof MirrorError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message;
    throw new MirrorError(`${shown}: cannot read the pod list: ${why}`, {
      hint: "pass the file kubectl get pods -A -o json wrote, or - to read it from stdin",
    });
  }
  return decodePodList(Buffer.concat(chunks));
}

/**
 * The text of a pod list: UTF-8, with or without a byte order mark, or UTF-16 with one (what `kubectl … > file`
 * writes in Windows PowerShell 5).
 */
function decodePodList(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString("utf16le");
  if (bytes[0] === 0xfe && bytes[1] === 0xff)
    return Buffer.from(bytes.subarray(2)).swap16().toString("utf16le");
  const text = bytes.toString("utf8");
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}
