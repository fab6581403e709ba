// Reproducible test images and charts, built in code with fixed bytes and pushed over the
// Distribution API. Same inputs give the same digests, so tests can name what they expect.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { stringify as toYaml } from "yaml";

export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  helmConfig: "application/vnd.cncf.helm.config.v1+json",
  helmChart: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
} as const;

/** What distribution needs to serve OCI manifests (without it, 404 for OCI content). */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(", ");

export interface RegistryAuth {
  user: string;
  password: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Deterministic JSON bytes (the order the object literal gives, no whitespace). */
function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

// ---------------------------------------------------------------------------------------------
// Deterministic tar and gzip

export interface TarFile {
  path: string;
  content: string | Uint8Array;
  mode?: number;
}

function tarHeader(path: string, size: number, mode: number, type: "0" | "5"): Buffer {
  if (Buffer.byteLength(path) > 100) throw new Error(`tar path longer than 100 bytes: ${path}`);
  const header = Buffer.alloc(512, 0);
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  header.write(path, 0, 100, "utf8");
  header.write(octal(mode, 8), 100, 8, "ascii");
  header.write(octal(0, 8), 108, 8, "ascii"); // uid
  header.write(octal(0, 8), 116, 8, "ascii"); // gid
  header.write(octal(size, 12), 124, 12, "ascii");
  header.write(octal(0, 12), 136, 12, "ascii"); // mtime: the epoch, always
  header.write("        ", 148, 8, "ascii"); // checksum placeholder
  header.write(type, 156, 1, "ascii");
  header.write("ustar\u000000", 257, 8, "ascii");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
  return header;
}

/**
 * A ustar archive with fixed metadata (mtime 0, uid/gid 0, no user names), entries sorted by path
 * and parent directories added: the same files always give the same bytes.
 */
export function deterministicTar(files: TarFile[]): Buffer {
  const directories = new Set<string>();
  for (const file of files) {
    const parts = file.path.split("/");
    for (let i = 1; i < parts.length; i++) directories.add(`${parts.slice(0, i).join("/")}/`);
  }
  const entries = [
    ...[...directories].map((path) => ({ path, dir: true as const, content: Buffer.alloc(0), mode: 0o755 })),
    ...files.map((f) => ({
      path: f.path,
      dir: false as const,
      content: Buffer.from(f.content),
      mode: f.mode ?? 0o644,
    })),
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    blocks.push(tarHeader(entry.path, entry.content.length, entry.mode, entry.dir ? "5" : "0"));
    if (!entry.dir && entry.content.length > 0) {
      blocks.push(entry.content, Buffer.alloc((512 - (entry.content.length % 512)) % 512, 0));
    }
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}

/** gzip with a zero mtime and no file name (what `gzip -n` writes): deterministic for a given zlib. */
export function deterministicGzip(bytes: Uint8Array): Buffer {
  return gzipSync(bytes, { level: 9 });
}

// ---------------------------------------------------------------------------------------------
// Images built in memory

export interface Blob {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface BuiltImage {
  platform: string;
  config: Blob;
  layers: Blob[];
  manifest: ImageManifest;
  manifestBytes: Buffer;
  digest: string;
}

function splitPlatform(platform: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = platform.split("/");
  if (!os || !architecture) throw new Error(`platform must be os/arch[/variant]: ${platform}`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** One single-platform OCI image: one gzip layer holding a file named after the seed. */
export function buildImage(seed: string, platform = "linux/amd64"): BuiltImage {
  const p = splitPlatform(platform);
  const tar = deterministicTar([
    { path: "etc/ecr-mirror-test/seed", content: `${seed}\n` },
    { path: "etc/ecr-mirror-test/platform", content: `${platform}\n` },
  ]);
  const layerBytes = deterministicGzip(tar);
  const layer: Blob = {
    bytes: layerBytes,
    descriptor: {
      mediaType: MEDIA_TYPES.ociLayerGzip,
      digest: sha256Digest(layerBytes),
      size: layerBytes.length,
    },
  };
  const configBytes = jsonBytes({
    created: "1970-01-01T00:00:00Z",
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Labels: { seed } },
    rootfs: { type: "layers", diff_ids: [sha256Digest(tar)] },
    history: [{ created: "1970-01-01T00:00:00Z", created_by: `ecr-mirror test image ${seed}` }],
  });
  const config: Blob = {
    bytes: configBytes,
    descriptor: {
      mediaType: MEDIA_TYPES.ociConfig,
      digest: sha256Digest(configBytes),
      size: configBytes.length,
    },
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: config.descriptor,
    layers: [layer.descriptor],
  };
  const manifestBytes = jsonBytes(manifest);
  return { platform, config, layers: [layer], manifest, manifestBytes, digest: sha256Digest(manifestBytes) };
}

export interface BuiltIndex {
  images: BuiltImage[];
  index: ImageIndex;
  indexBytes: Buffer;
  digest: string;
}

/** An OCI image index with one image per platform (each built from the seed and its platform). */
export function buildIndex(seed: string, platforms: string[]): BuiltIndex {
  if (platforms.length === 0) throw new Error("an index needs at least one platform");
  const images = platforms.map((platform) => buildImage(seed, platform));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: images.map((image) => ({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: image.digest,
      size: image.manifestBytes.length,
      platform: splitPlatform(image.platform),
    })),
  };
  const indexBytes = jsonBytes(index);
  return { images, index, indexBytes, digest: sha256Digest(indexBytes) };
}

// ---------------------------------------------------------------------------------------------
// The Distribution API, client side

function headers(auth: RegistryAuth | undefined, extra: Record<string, string> = {}): Record<string, string> {
  const all: Record<string, string> = { "user-agent": "ecr-mirror-test-images", ...extra };
  if (auth) all.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}`;
  return all;
}

async function failure(what: string, response: Response): Promise<Error> {
  const body = await response.text().catch(() => "");
  return new Error(`${what}: HTTP ${response.status} ${body.slice(0, 300)}`);
}

/** Uploads a blob unless the repository has it (HEAD first); POST then PUT ?digest=. */
export async function pushBlob(
  registryUrl: string,
  repository: string,
  blob: { bytes: Uint8Array; digest: string },
  auth?: RegistryAuth,
): Promise<"exists" | "uploaded"> {
  const head = await fetch(`${registryUrl}/v2/${repository}/blobs/${blob.digest}`, {
    method: "HEAD",
    headers: headers(auth),
  });
  if (head.status === 200) return "exists";
  if (head.status !== 404) throw await failure(`HEAD blob ${blob.digest} in ${repository}`, head);
  const start = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, {
    method: "POST",
    headers: headers(auth),
  });
  if (start.status !== 202) throw await failure(`POST upload to ${repository}`, start);
  await start.body?.cancel();
  const location = start.headers.get("location");
  if (!location) throw new Error(`POST upload to ${repository}: no Location header`);
  const target = new URL(location, registryUrl);
  target.searchParams.set("digest", blob.digest);
  const put = await fetch(target, {
    method: "PUT",
    headers: headers(auth, { "content-type": "application/octet-stream" }),
    body: blob.bytes,
  });
  if (put.status !== 201) throw await failure(`PUT blob ${blob.digest} to ${repository}`, put);
  await put.body?.cancel();
  return "uploaded";
}

/** PUTs manifest bytes under a tag or digest and checks the digest the registry reports. */
export async function pushManifest(
  registryUrl: string,
  repository: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
  auth?: RegistryAuth,
): Promise<string> {
  const response = await fetch(`${registryUrl}/v2/${repository}/manifests/${reference}`, {
    method: "PUT",
    headers: headers(auth, { "content-type": mediaType }),
    body: bytes,
  });
  if (response.status !== 201) throw await failure(`PUT manifest ${repository}:${reference}`, response);
  await response.body?.cancel();
  const digest = sha256Digest(bytes);
  const reported = response.headers.get("docker-content-digest");
  if (reported && reported !== digest) throw new Error(`registry stored ${reported}, expected ${digest}`);
  return digest;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

/** GET a manifest with the OCI and Docker Accept headers; the digest is computed from the bytes. */
export async function getManifest(
  registryUrl: string,
  repository: string,
  reference: string,
  auth?: RegistryAuth,
): Promise<FetchedManifest> {
  const response = await fetch(`${registryUrl}/v2/${repository}/manifests/${reference}`, {
    headers: headers(auth, { accept: MANIFEST_ACCEPT }),
  });
  if (response.status !== 200) throw await failure(`GET manifest ${repository}:${reference}`, response);
  const bytes = Buffer.from(await response.arrayBuffer());
  const json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  const mediaType = (json.mediaType as string | undefined) ?? response.headers.get("content-type") ?? "";
  return { digest: sha256Digest(bytes), mediaType, bytes, json };
}

/** The digest a tag points at (HEAD, Docker-Content-Digest), or null when the tag does not exist. */
export async function tagDigest(
  registryUrl: string,
  repository: string,
  tag: string,
  auth?: RegistryAuth,
): Promise<string | null> {
  const response = await fetch(`${registryUrl}/v2/${repository}/manifests/${tag}`, {
    method: "HEAD",
    headers: headers(auth, { accept: MANIFEST_ACCEPT }),
  });
  if (response.status === 404) return null;
  if (response.status !== 200) throw await failure(`HEAD manifest ${repository}:${tag}`, response);
  return response.headers.get("docker-content-digest");
}

async function pushBuiltImage(
  registryUrl: string,
  repository: string,
  reference: string,
  image: BuiltImage,
  auth?: RegistryAuth,
): Promise<string> {
  for (const blob of [image.config, ...image.layers]) {
    await pushBlob(registryUrl, repository, { bytes: blob.bytes, digest: blob.descriptor.digest }, auth);
  }
  return pushManifest(
    registryUrl,
    repository,
    reference,
    image.manifestBytes,
    image.manifest.mediaType,
    auth,
  );
}

export interface PushImageOptions {
  seed: string;
  /** Defaults to linux/amd64. */
  platform?: string;
  auth?: RegistryAuth;
}

export interface PushedImage {
  digest: string;
  manifest: ImageManifest;
}

/** A single-platform image (linux/amd64 unless told) at `repository:tag`. */
export async function pushImage(
  registryUrl: string,
  repository: string,
  tag: string,
  opts: PushImageOptions,
): Promise<PushedImage> {
  const image = buildImage(opts.seed, opts.platform ?? "linux/amd64");
  const digest = await pushBuiltImage(registryUrl, repository, tag, image, opts.auth);
  return { digest, manifest: image.manifest };
}

export interface PushIndexOptions {
  platforms: string[];
  seed: string;
  auth?: RegistryAuth;
}

export interface PushedIndex {
  digest: string;
  index: ImageIndex;
  /** Platform string as given (`linux/arm64`) to that platform manifest's digest. */
  platforms: Record<string, string>;
}

/** An OCI image index at `repository:tag`, its platform manifests pushed first by digest. */
export async function pushIndex(
  registryUrl: string,
  repository: string,
  tag: string,
  opts: PushIndexOptions,
): Promise<PushedIndex> {
  const built = buildIndex(opts.seed, opts.platforms);
  const platforms: Record<string, string> = {};
  for (const image of built.images) {
    platforms[image.platform] = await pushBuiltImage(registryUrl, repository, image.digest, image, opts.auth);
  }
  const digest = await pushManifest(
    registryUrl,
    repository,
    tag,
    built.indexBytes,
    MEDIA_TYPES.ociIndex,
    opts.auth,
  );
  return { digest, index: built.index, platforms };
}

export interface IndexChildSpec {
  image: BuiltImage;
  /** The descriptor's platform as written (Docker Hub: `{ os: "linux", architecture: "arm64", variant: "v8" }`); null: none. */
  platform: { os: string; architecture: string; variant?: string } | null;
}

/**
 * An OCI index whose children are exactly `children`, in that order, each with the platform its descriptor carries
 * (or none, as older tools wrote): the shapes `pushIndex` does not make. Children are pushed first, by digest.
 */
export async function pushIndexOf(
  registryUrl: string,
  repository: string,
  tag: string,
  children: IndexChildSpec[],
  auth?: RegistryAuth,
): Promise<string> {
  for (const { image } of children) await pushBuiltImage(registryUrl, repository, image.digest, image, auth);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: children.map(({ image, platform }) => ({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: image.digest,
      size: image.manifestBytes.length,
      ...(platform ? { platform } : {}),
    })),
  };
  return pushManifest(registryUrl, repository, tag, jsonBytes(index), MEDIA_TYPES.ociIndex, auth);
}

export interface MoveTagOptions {
  /** A seed other than the one the tag was pushed with. */
  seed: string;
  /** Given: push an index with these platforms; else a single linux/amd64 image. */
  platforms?: string[];
  auth?: RegistryAuth;
}

export interface MovedTag {
  previous: string | null;
  digest: string;
  platforms: Record<string, string>;
}

/** Pushes new content under an existing tag: the same tag, a new digest (fails if it did not move). */
export async function moveTag(
  registryUrl: string,
  repository: string,
  tag: string,
  opts: MoveTagOptions,
): Promise<MovedTag> {
  const previous = await tagDigest(registryUrl, repository, tag, opts.auth);
  let pushed: MovedTag;
  if (opts.platforms) {
    const index = await pushIndex(registryUrl, repository, tag, {
      platforms: opts.platforms,
      seed: opts.seed,
      auth: opts.auth,
    });
    pushed = { previous, digest: index.digest, platforms: index.platforms };
  } else {
    const image = await pushImage(registryUrl, repository, tag, { seed: opts.seed, auth: opts.auth });
    pushed = { previous, digest: image.digest, platforms: { "linux/amd64": image.digest } };
  }
  if (pushed.digest === previous) {
    throw new Error(`moveTag: ${repository}:${tag} already had ${previous}; use a different seed`);
  }
  return pushed;
}

// ---------------------------------------------------------------------------------------------
// Helm charts

export interface ChartSpec {
  name: string;
  version: string;
  appVersion?: string;
  description?: string;
  /** values.yaml content as an object (serialised with the `yaml` package). */
  values?: Record<string, unknown>;
  /** File name under templates/ to its text. Defaults to one ConfigMap using .Values and .Release.Name. */
  templates?: Record<string, string>;
}

export const DEFAULT_TEMPLATES: Record<string, string> = {
  "configmap.yaml": [
    "apiVersion: v1",
    "kind: ConfigMap",
    "metadata:",
    "  name: {{ .Release.Name }}-config",
    "data:",
    '  greeting: "{{ .Values.greeting }}"',
    "",
  ].join("\n"),
};

/** A chart package as `helm package` lays it out (`<name>/Chart.yaml`, ...), with fixed bytes. */
export function makeChartTgz(spec: ChartSpec): Buffer {
  const chartYaml = toYaml({
    apiVersion: "v2",
    name: spec.name,
    description: spec.description ?? `ecr-mirror test chart ${spec.name}`,
    type: "application",
    version: spec.version,
    ...(spec.appVersion ? { appVersion: spec.appVersion } : {}),
  });
  const files: TarFile[] = [
    { path: `${spec.name}/Chart.yaml`, content: chartYaml },
    { path: `${spec.name}/values.yaml`, content: toYaml(spec.values ?? { greeting: "hello" }) },
  ];
  for (const [file, text] of Object.entries(spec.templates ?? DEFAULT_TEMPLATES)) {
    files.push({ path: `${spec.name}/templates/${file}`, content: text });
  }
  return deterministicGzip(deterministicTar(files));
}

export interface PushedChart {
  repository: string;
  tag: string;
  digest: string;
  chartDigest: string;
}

/**
 * Pushes a chart as helm stores it in an OCI registry: config = chart metadata JSON
 * (helm config media type), one layer = the tgz. Lands at `<prefix>/<name>:<version, + as _>`.
 * No `created` annotation, so the digest depends on the chart only.
 */
export async function pushChart(
  registryUrl: string,
  prefix: string,
  chart: { name: string; version: string; appVersion?: string; description?: string; tgz: Buffer },
  auth?: RegistryAuth,
): Promise<PushedChart> {
  const repository = prefix ? `${prefix}/${chart.name}` : chart.name;
  const tag = chart.version.replaceAll("+", "_");
  const configBytes = jsonBytes({
    name: chart.name,
    version: chart.version,
    ...(chart.description ? { description: chart.description } : {}),
    apiVersion: "v2",
    ...(chart.appVersion ? { appVersion: chart.appVersion } : {}),
    type: "application",
  });
  const config = { bytes: configBytes, digest: sha256Digest(configBytes) };
  const layer = { bytes: chart.tgz, digest: sha256Digest(chart.tgz) };
  await pushBlob(registryUrl, repository, config, auth);
  await pushBlob(registryUrl, repository, layer, auth);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.helmConfig, digest: config.digest, size: configBytes.length },
    layers: [{ mediaType: MEDIA_TYPES.helmChart, digest: layer.digest, size: chart.tgz.length }],
    annotations: {
      "org.opencontainers.image.title": chart.name,
      "org.opencontainers.image.version": chart.version,
    },
  };
  const digest = await pushManifest(
    registryUrl,
    repository,
    tag,
    jsonBytes(manifest),
    MEDIA_TYPES.ociManifest,
    auth,
  );
  return { repository, tag, digest, chartDigest: layer.digest };
}

// ---------------------------------------------------------------------------------------------
// An HTTP chart repository (index.yaml + packages) on 127.0.0.1

export interface RepoChart {
  name: string;
  version: string;
  appVersion?: string;
  tgz: Buffer;
  /** Served beside the package as `<file>.prov` when given. */
  prov?: string;
  /** The package's path in the repository (its URL in index.yaml); default `<name>-<version>.tgz`. */
  file?: string;
}

export interface ChartRepoRequest {
  method: string;
  path: string;
  status: number;
}

export interface RunningChartRepo {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  requests: ChartRepoRequest[];
  stop(): Promise<void>;
}

export interface ChartRepoOptions {
  /** Write absolute package URLs into index.yaml (as many public repositories do); default relative. */
  absoluteUrls?: boolean;
}

export function chartFileName(chart: { name: string; version: string; file?: string }): string {
  return chart.file ?? `${chart.name}-${chart.version}.tgz`;
}

/** Serves `index.yaml` and the packages; every request is recorded in `requests`. */
export async function startChartRepo(
  charts: RepoChart[],
  opts: ChartRepoOptions = {},
): Promise<RunningChartRepo> {
  const requests: ChartRepoRequest[] = [];
  const files = new Map<string, { body: Buffer; type: string }>();
  let url = "";
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = files.get(path);
    const status = file && (req.method === "GET" || req.method === "HEAD") ? 200 : 404;
    requests.push({ method: req.method ?? "", path, status });
    if (!file || status !== 200) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "content-length": file.body.length });
    res.end(req.method === "HEAD" ? undefined : file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const entries: Record<string, unknown[]> = {};
  for (const chart of charts) {
    const file = chartFileName(chart);
    files.set(`/${file}`, { body: chart.tgz, type: "application/x-tar" });
    if (chart.prov) files.set(`/${file}.prov`, { body: Buffer.from(chart.prov), type: "text/plain" });
    const list = entries[chart.name] ?? [];
    list.push({
      apiVersion: "v2",
      name: chart.name,
      version: chart.version,
      ...(chart.appVersion ? { appVersion: chart.appVersion } : {}),
      created: "1970-01-01T00:00:00Z",
      digest: createHash("sha256").update(chart.tgz).digest("hex"),
      urls: [opts.absoluteUrls ? `${url}/${file}` : file],
    });
    entries[chart.name] = list;
  }
  const index = toYaml({ apiVersion: "v1", entries, generated: "1970-01-01T00:00:00Z" });
  files.set("/index.yaml", { body: Buffer.from(index), type: "application/x-yaml" });

  return {
    url,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
