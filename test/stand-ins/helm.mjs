// STAND-IN for helm v4, for ecr-mirror's tests only. It speaks the command lines listed in
// ./contract.json, pulls from real HTTP chart repositories and real OCI registries and pushes to
// real registries. `helm template` is deliberately tiny (see the contract). See ./README.md.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { chartConfigJson, readChartArchive } from "./lib/chart-archive.mjs";
import { ContractViolation, loadContract, runStandIn } from "./lib/contract.mjs";
import { helmCredentials, helmRegistryConfigPath, helmStoreCredentials } from "./lib/credentials.mjs";
import { MEDIA_TYPES, RegistryClient, sha256Digest } from "./lib/distribution.mjs";

const TOOL = "helm";
const contract = loadContract(TOOL);
const VERSION = contract.emulates.replace(/^helm /, "");
const USER_AGENT = `Helm/${VERSION.slice(1)} (stand-in, ecr-mirror test harness)`;

const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const HELM_CHART_LEGACY = "application/tar+gzip";
const HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov";

function registryClient(host, flags) {
  return new RegistryClient({
    schemes: [flags.has("--plain-http") ? "http" : "https"],
    registry: host,
    credentials: helmCredentials(helmRegistryConfigPath(flags.get("--registry-config")?.[0]), host),
    userAgent: USER_AGENT,
  });
}

/** Semantic versions, highest first, prereleases left out (what helm picks without --version). */
function highestVersion(versions) {
  const parsed = versions
    .map((v) => ({ v, m: /^v?(\d+)\.(\d+)\.(\d+)(?:\+[0-9A-Za-z.-]+)?$/.exec(v) }))
    .filter((x) => x.m)
    .sort((a, b) => {
      for (let i = 1; i <= 3; i++) {
        const d = Number(b.m[i]) - Number(a.m[i]);
        if (d !== 0) return d;
      }
      return 0;
    });
  return parsed[0]?.v ?? null;
}

function destination(flags) {
  const dir = flags.get("--destination")?.[0] ?? ".";
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function download(url, what) {
  let response;
  try {
    response = await fetch(url, { headers: { "user-agent": USER_AGENT } });
  } catch (error) {
    throw new Error(
      `looks like "${url}" is not a valid chart repository or cannot be reached: ${error.cause?.message ?? error.message}`,
    );
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`failed to fetch ${url} : ${response.status} ${response.statusText} (${what})`);
  }
  return Buffer.from(await response.arrayBuffer());
}

async function pullFromRepository(name, flags) {
  const repo = flags.get("--repo")[0].replace(/\/+$/, "");
  const indexUrl = `${repo}/index.yaml`;
  const index = parseYaml((await download(indexUrl, "index")).toString("utf8")) ?? {};
  const versions = index.entries?.[name];
  if (!versions?.length) throw new Error(`chart "${name}" not found in ${repo} repository`);
  const wanted = flags.get("--version")?.[0] ?? highestVersion(versions.map((v) => String(v.version)));
  const entry = versions.find((v) => String(v.version) === wanted);
  if (!entry) throw new Error(`chart "${name}" version "${wanted}" not found in ${repo} repository`);
  if (!entry.urls?.length) throw new Error(`chart "${name}" version "${wanted}" has no downloadable URLs`);
  const chartUrl = new URL(entry.urls[0], `${repo}/`);
  const bytes = await download(chartUrl.toString(), "chart");
  // helm 4 pkg/downloader/chart_downloader.go (DownloadTo): `name := filepath.Base(u.Path)`, not <name>-<version>.tgz.
  const file = join(destination(flags), basename(chartUrl.pathname));
  writeFileSync(file, bytes);
  if (flags.has("--prov")) {
    // helm 4 pkg/downloader/chart_downloader.go (VerifyLater): a missing .prov is a warning, not a failure.
    try {
      writeFileSync(`${file}.prov`, await download(`${chartUrl}.prov`, "provenance"));
    } catch (error) {
      process.stdout.write(`WARNING: Verification not found for ${name}: ${error.message}\n`);
    }
  }
}

async function pullFromRegistry(chart, flags) {
  let path = chart.slice("oci://".length);
  let version = flags.get("--version")?.[0] ?? null;
  const at = path.lastIndexOf(":");
  if (at > path.lastIndexOf("/")) {
    const inline = path.slice(at + 1).replaceAll("_", "+");
    if (version && version !== inline)
      throw new Error(`chart reference and version mismatch: ${version} is not ${inline}`);
    version = inline;
    path = path.slice(0, at);
  }
  const slash = path.indexOf("/");
  if (slash < 0) throw new Error(`invalid chart reference ${chart}`);
  const host = path.slice(0, slash);
  const repository = path.slice(slash + 1);
  const client = registryClient(host, flags);
  if (!version) {
    version = highestVersion((await client.listTags(repository)).map((t) => t.replaceAll("_", "+")));
    if (!version) throw new Error(`unable to locate any tags in provided repository: ${chart}`);
  }
  const tag = version.replaceAll("+", "_");
  const manifest = await client.getManifest(repository, tag);
  if (manifest.json.config?.mediaType !== HELM_CONFIG) {
    throw new Error(
      `${host}/${repository}:${tag} is not a helm chart (config media type ${manifest.json.config?.mediaType})`,
    );
  }
  const layers = manifest.json.layers ?? [];
  const chartLayer = layers.find((l) => l.mediaType === HELM_CHART || l.mediaType === HELM_CHART_LEGACY);
  if (!chartLayer) throw new Error(`manifest does not contain a layer with mediatype ${HELM_CHART}`);
  const file = join(destination(flags), `${basename(repository)}-${version}.tgz`);
  writeFileSync(file, await client.getBlob(repository, chartLayer.digest));
  if (flags.has("--prov")) {
    const provLayer = layers.find((l) => l.mediaType === HELM_PROV);
    if (!provLayer) throw new Error(`${host}/${repository}:${tag} has no provenance layer (--prov)`);
    writeFileSync(`${file}.prov`, await client.getBlob(repository, provLayer.digest));
  }
  process.stdout.write(`Pulled: ${host}/${repository}:${tag}\nDigest: ${manifest.digest}\n`);
}

async function pull(args, flags) {
  const chart = args[0];
  if (chart.startsWith("oci://")) {
    if (flags.has("--repo")) throw new Error("--repo cannot be used with an oci:// chart reference");
    return pullFromRegistry(chart, flags);
  }
  if (!flags.has("--repo")) {
    throw new ContractViolation(
      `"helm pull ${chart}" without --repo (a repo/chart name from repositories.yaml) is not in the stand-in contract`,
    );
  }
  return pullFromRepository(chart, flags);
}

/** OCI annotations helm derives from Chart.yaml (pkg/registry/chart.go generateOCIAnnotations). */
function chartAnnotations(metadata, created) {
  const out = {};
  const add = (key, value) => {
    if (typeof value === "string" && value.trim() !== "") out[key] = value;
  };
  add("org.opencontainers.image.description", metadata.description);
  add("org.opencontainers.image.title", metadata.name);
  add("org.opencontainers.image.version", String(metadata.version));
  add("org.opencontainers.image.url", metadata.home);
  add("org.opencontainers.image.created", created);
  if (Array.isArray(metadata.sources) && metadata.sources.length > 0)
    add("org.opencontainers.image.source", metadata.sources[0]);
  if (Array.isArray(metadata.maintainers) && metadata.maintainers.length > 0) {
    add(
      "org.opencontainers.image.authors",
      metadata.maintainers.map((m) => `${m.name ?? ""}${m.email ? ` (${m.email})` : ""}`).join(", "),
    );
  }
  for (const [key, value] of Object.entries(metadata.annotations ?? {})) {
    if (key !== "org.opencontainers.image.version" && key !== "org.opencontainers.image.title")
      out[key] = String(value);
  }
  // Go marshals a map with sorted keys.
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function push(args, flags) {
  const [chartPath, remote] = args;
  if (!remote.startsWith("oci://")) throw new Error('scheme prefix missing from remote (e.g. "oci://")');
  if (!existsSync(chartPath)) throw new Error(`${chartPath}: no such file`);
  if (statSync(chartPath).isDirectory())
    throw new Error("cannot push directory, must provide chart archive (.tgz)");
  const tgz = readFileSync(chartPath);
  const chart = readChartArchive(tgz, chartPath);
  const target = remote.slice("oci://".length).replace(/\/+$/, "");
  const slash = target.indexOf("/");
  const host = slash < 0 ? target : target.slice(0, slash);
  const prefix = slash < 0 ? "" : target.slice(slash + 1);
  const repository = prefix ? `${prefix}/${chart.name}` : chart.name;
  const tag = String(chart.metadata.version).replaceAll("+", "_");
  const client = registryClient(host, flags);

  const config = chartConfigJson(chart.metadata);
  const blobs = [
    { mediaType: HELM_CONFIG, bytes: config },
    { mediaType: HELM_CHART, bytes: tgz },
  ];
  if (existsSync(`${chartPath}.prov`))
    blobs.push({ mediaType: HELM_PROV, bytes: readFileSync(`${chartPath}.prov`) });
  const descriptors = [];
  for (const blob of blobs) {
    const digest = sha256Digest(blob.bytes);
    if (!(await client.blobExists(repository, digest))) await client.putBlob(repository, digest, blob.bytes);
    descriptors.push({ mediaType: blob.mediaType, digest, size: blob.bytes.length });
  }
  const created = statSync(chartPath)
    .mtime.toISOString()
    .replace(/\.\d{3}Z$/, "Z");
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: descriptors[0],
    layers: descriptors.slice(1),
    annotations: chartAnnotations(chart.metadata, created),
  };
  const bytes = Buffer.from(JSON.stringify(manifest), "utf8");
  const digest = await client.putManifest(repository, tag, bytes, MEDIA_TYPES.ociManifest);
  process.stdout.write(`Pushed: ${host}/${repository}:${tag}\nDigest: ${digest}\n`);
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function registryLogin(args, flags) {
  const host = args[0];
  if (host.includes("://") || host.includes("/")) {
    throw new Error(`helm registry login takes a host only, got "${host}"`);
  }
  const user = flags.get("--username")?.[0] ?? "";
  if (!flags.has("--password-stdin")) {
    throw new ContractViolation(
      "helm registry login without --password-stdin: the stand-in contract takes passwords on stdin only",
    );
  }
  const password = (await readStdin()).replace(/\r?\n$/, "");
  if (user === "" || password === "") throw new Error("username and password are required");
  const url = `${flags.has("--plain-http") ? "http" : "https"}://${host}/v2/`;
  let response;
  try {
    response = await fetch(url, {
      headers: {
        "user-agent": USER_AGENT,
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
      },
    });
  } catch (error) {
    throw new Error(`Get "${url}": ${error.cause?.message ?? error.message}`);
  }
  await response.body?.cancel();
  if (response.status !== 200) {
    throw new Error(`login attempt to ${url} failed with status: ${response.status} ${response.statusText}`);
  }
  helmStoreCredentials(helmRegistryConfigPath(flags.get("--registry-config")?.[0]), host, user, password);
  process.stderr.write("Login Succeeded\n");
}

// ---- helm template: plain substitutions only ---------------------------------------------

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mergeValues(base, overlay) {
  const out = { ...base };
  for (const [key, value] of Object.entries(overlay ?? {})) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeValues(out[key], value) : value;
  }
  return out;
}

/** `--set a.b=c,d=e` for scalar values (helm's strvals typing: bools, integers, null). */
function parseSet(text) {
  const out = {};
  for (const pair of text.split(/(?<!\\),/)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`failed parsing --set data: key "${pair}" has no value`);
    const path = pair.slice(0, eq);
    if (/[[\]]/.test(path))
      throw new ContractViolation(`--set list syntax "${path}" is not in the stand-in contract`);
    const raw = pair.slice(eq + 1).replaceAll("\\,", ",");
    let value = raw;
    if (raw === "true" || raw === "false") value = raw === "true";
    else if (raw === "null") value = null;
    else if (/^-?(0|[1-9]\d*)$/.test(raw)) value = Number(raw);
    const keys = path.split(".");
    let node = out;
    for (const key of keys.slice(0, -1)) {
      node[key] = isPlainObject(node[key]) ? node[key] : {};
      node = node[key];
    }
    node[keys.at(-1)] = value;
  }
  return out;
}

const SUBSTITUTION = /^\.(Values|Release|Chart)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/;

function renderTemplate(text, file, scope) {
  return text.replace(/\{\{(.*?)\}\}/gs, (whole, inner) => {
    const expression = inner.trim();
    const match = SUBSTITUTION.exec(expression);
    if (!match || inner.startsWith("-") || inner.endsWith("-")) {
      throw new ContractViolation(
        `template construct "${whole}" in ${file} is outside the helm stand-in, which renders only plain {{ .Values.x }}, {{ .Release.Name }}, {{ .Chart.Name }} substitutions (no Go templates)`,
      );
    }
    let node = scope[match[1]];
    for (const key of match[2].slice(1).split(".")) node = isPlainObject(node) ? node[key] : undefined;
    if (node === undefined || node === null) return "";
    if (typeof node === "object") {
      throw new ContractViolation(
        `${expression} in ${file} is a map or list; the helm stand-in renders scalars only`,
      );
    }
    return String(node);
  });
}

async function template(args, flags) {
  const [releaseName, chartPath] = args;
  if (!existsSync(chartPath) || statSync(chartPath).isDirectory()) {
    throw new ContractViolation(
      `helm template takes a chart .tgz in the stand-in contract; got "${chartPath}"`,
    );
  }
  const chart = readChartArchive(readFileSync(chartPath), chartPath);
  let values = parseYaml(chart.files.get("values.yaml")?.toString("utf8") ?? "") ?? {};
  for (const file of flags.get("--values") ?? [])
    values = mergeValues(values, parseYaml(readFileSync(file, "utf8")) ?? {});
  for (const set of flags.get("--set") ?? []) values = mergeValues(values, parseSet(set));
  const scope = {
    Values: values,
    Release: {
      Name: releaseName,
      Namespace: flags.get("--namespace")?.[0] ?? "default",
      Service: "Helm",
      IsInstall: true,
      IsUpgrade: false,
    },
    Chart: {
      Name: chart.metadata.name,
      Version: String(chart.metadata.version),
      AppVersion: chart.metadata.appVersion === undefined ? "" : String(chart.metadata.appVersion),
    },
  };
  const templates = [...chart.files.keys()]
    .filter((p) => p.startsWith("templates/") && !basename(p).startsWith("_") && basename(p) !== "NOTES.txt")
    .sort();
  let output = "";
  for (const path of templates) {
    const rendered = renderTemplate(chart.files.get(path).toString("utf8"), path, scope);
    for (const document of rendered.split(/^---[ \t]*$/m)) {
      const content = document.trim();
      if (content === "") continue;
      output += `---\n# Source: ${chart.name}/${path}\n${content}\n`;
    }
  }
  process.stdout.write(output);
}

function version(flags) {
  if (flags.has("--short")) {
    process.stdout.write(`${VERSION}+gstandin\n`);
    return;
  }
  process.stdout.write(
    `version.BuildInfo{Version:"${VERSION}", GitCommit:"stand-in (ecr-mirror test harness), not the real helm", GitTreeState:"stand-in", GoVersion:"none"}\n`,
  );
}

export function main(argv) {
  return runStandIn(TOOL, contract, argv, {
    pull: ({ args, flags }) => pull(args, flags),
    push: ({ args, flags }) => push(args, flags),
    "registry login": ({ args, flags }) => registryLogin(args, flags),
    template: ({ args, flags }) => template(args, flags),
    version: ({ flags }) => version(flags),
  });
}
