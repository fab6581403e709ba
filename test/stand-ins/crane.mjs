// STAND-IN for crane (google/go-containerregistry), for ecr-mirror's tests only. It speaks the
// command lines listed in ./contract.json and moves real bytes between real registries over the
// Distribution API. See ./README.md for what only the real binary (GitHub workflow) proves.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContractViolation, loadContract, runStandIn } from "./lib/contract.mjs";
import { dockerConfigPath, findCredentials, storeCredentials } from "./lib/credentials.mjs";
import {
  childForPlatform,
  eachLimited,
  isIndex,
  MEDIA_TYPES,
  parsePlatform,
  platformSatisfies,
  RegistryClient,
  sha256Digest,
} from "./lib/distribution.mjs";
import { craneSchemes, formatReference, parseReference, parseRepository } from "./lib/reference.mjs";

const TOOL = "crane";
const contract = loadContract(TOOL);
const VERSION = contract.emulates.replace(/^crane /, "");
const USER_AGENT = `crane-stand-in/${VERSION} (ecr-mirror test harness)`;

/** crane logs through Go's `log` package: a timestamp, then the message, on stderr. */
function logLine(message) {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  process.stderr.write(`${stamp} ${message}\n`);
}

function clientFor(registry, options) {
  return new RegistryClient({
    schemes: craneSchemes(registry, options.insecure),
    registry,
    credentials: findCredentials(dockerConfigPath(), registry),
    userAgent: USER_AGENT,
    log: options.verbose ? logLine : undefined,
  });
}

function referenceTarget(ref) {
  return ref.digest ?? ref.tag;
}

/**
 * The manifest `ref` names, narrowed to the --platform child when it is an index (childByPlatform). A single image
 * is taken as it is, whatever its platform: pkg/crane/copy.go Copy calls desc.Image(), which resolves only an index
 * (pkg/v1/remote/descriptor.go Image), and pkg/crane/digest.go Digest returns a non-index's own digest.
 */
async function resolveManifest(client, ref, platform) {
  const manifest = await client.getManifest(ref.repository, referenceTarget(ref));
  if (!platform || !isIndex(manifest.mediaType)) return manifest;
  const child = childForPlatform(manifest.json, platform, formatReference(ref));
  return client.getManifest(ref.repository, child.digest);
}

async function copyBlobs(src, srcRepo, dst, dstRepo, manifestJson, jobs) {
  const descriptors = [manifestJson.config, ...(manifestJson.layers ?? [])].filter(Boolean);
  await eachLimited(descriptors, jobs, async (descriptor) => {
    if (descriptor.urls?.length) return; // foreign layer: crane does not push it either
    if (await dst.blobExists(dstRepo, descriptor.digest)) return;
    const sameRegistry = src.base === dst.base;
    if (sameRegistry && srcRepo !== dstRepo) {
      const bytes = await src.getBlob(srcRepo, descriptor.digest);
      await dst.putBlob(dstRepo, descriptor.digest, bytes, srcRepo);
    } else {
      await dst.putBlob(dstRepo, descriptor.digest, await src.getBlob(srcRepo, descriptor.digest));
    }
    logLine(`pushed blob: ${descriptor.digest}`);
  });
}

/** Copies a manifest (and, for an index, every child) by digest, then the manifest itself under `dstTarget`. */
async function copyManifest(src, srcRepo, dst, dstRepo, manifest, dstTarget, jobs) {
  if (isIndex(manifest.mediaType)) {
    for (const child of manifest.json.manifests ?? []) {
      const childManifest = await src.getManifest(srcRepo, child.digest);
      await copyManifest(src, srcRepo, dst, dstRepo, childManifest, child.digest, jobs);
    }
  } else {
    await copyBlobs(src, srcRepo, dst, dstRepo, manifest.json, jobs);
  }
  const written = await dst.putManifest(dstRepo, dstTarget, manifest.bytes, manifest.mediaType);
  if (written !== manifest.digest) {
    throw new Error(
      `${dstRepo}:${dstTarget}: the registry stored digest ${written}, expected ${manifest.digest}`,
    );
  }
  if (manifest.json.subject?.digest) await commitSubjectReferrers(dst, dstRepo, manifest);
  return written;
}

/**
 * go-containerregistry pkg/v1/remote/write.go commitManifest -> commitSubjectReferrers: after PUTting a manifest with
 * a `subject`, GET /v2/<repo>/referrers/<subject> (Accept: OCI index); 200 = the registry keeps the list itself;
 * 404 or 400 = no referrers API, so the fallback tag `sha256-<hex>` (pkg/v1/remote/referrers.go fallbackTag) is read
 * (404: start an empty OCI index), must be a schemaVersion 2 OCI index ("fallback tag manifest is not an OCI image
 * index: …"), gets the descriptor {mediaType, size, digest, artifactType: the config's media type} unless it is
 * there ("fallback tag … already had referrer"), sorted by digest, and is PUT back under the tag.
 */
async function commitSubjectReferrers(dst, repository, manifest) {
  const subject = manifest.json.subject.digest;
  const api = await dst.request("GET", `/v2/${repository}/referrers/${subject}`, {
    headers: { accept: MEDIA_TYPES.ociIndex },
    expect: [200, 400, 404],
  });
  await api.body?.cancel();
  if (api.status === 200) return;
  const tag = subject.replace(":", "-");
  const current = await dst.request("GET", `/v2/${repository}/manifests/${tag}`, {
    headers: { accept: MEDIA_TYPES.ociIndex },
    expect: [200, 404],
  });
  let index;
  const add = ordered(
    {
      mediaType: manifest.json.mediaType ?? "",
      size: manifest.bytes.length,
      digest: manifest.digest,
      artifactType: manifest.json.config?.mediaType || undefined,
    },
    DESCRIPTOR_FIELDS,
  );
  if (current.status === 404) {
    await current.body?.cancel();
    index = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [add] };
  } else {
    index = JSON.parse(Buffer.from(await current.arrayBuffer()).toString("utf8"));
    if (index.schemaVersion !== 2)
      throw new Error(`fallback tag manifest is not a schema version 2: ${index.schemaVersion}`);
    if (index.mediaType !== MEDIA_TYPES.ociIndex)
      throw new Error(`fallback tag manifest is not an OCI image index: ${index.mediaType}`);
    index.manifests = (index.manifests ?? []).map((m) => ordered(m, DESCRIPTOR_FIELDS));
    if (index.manifests.some((m) => m.digest === manifest.digest)) {
      logLine(`fallback tag ${tag} already had referrer`);
      return;
    }
    index.manifests.push(add);
  }
  index.manifests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  logLine(`updating fallback tag ${tag} with new referrer`);
  const bytes = Buffer.from(JSON.stringify(ordered(index, INDEX_FIELDS)));
  await dst.putManifest(repository, tag, bytes, MEDIA_TYPES.ociIndex);
}

async function copy(args, options) {
  const [srcText, dstText] = args;
  const srcRef = parseReference(srcText);
  const dstRef = parseReference(dstText);
  const src = clientFor(srcRef.registry, options);
  const dst = clientFor(dstRef.registry, options);
  logLine(`Copying from ${srcText} to ${dstText}`);
  const manifest = await resolveManifest(src, srcRef, options.platform);
  const jobs = Number(options.jobs ?? 4);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`invalid --jobs ${options.jobs}`);
  const target = dstRef.digest ?? dstRef.tag;
  if (dstRef.digest && dstRef.digest !== manifest.digest) {
    throw new Error(`digest mismatch: ${dstText} names ${dstRef.digest}, the source is ${manifest.digest}`);
  }
  // go-containerregistry pkg/v1/remote/write.go (manifestExists): a HEAD of the target first; when it already
  // holds this digest, crane prints `existing manifest: TAG@DIGEST` (a digest reference: `existing manifest:
  // DIGEST`), pushes nothing and prints no `digest:` line.
  if ((await headDigest(dst, dstRef.repository, target)) === manifest.digest) {
    logLine(`existing manifest: ${dstRef.digest ? manifest.digest : `${dstRef.tag}@${manifest.digest}`}`);
    return;
  }
  const digest = await copyManifest(src, srcRef.repository, dst, dstRef.repository, manifest, target, jobs);
  logLine(`${formatReference(dstRef)}: digest: ${digest} size: ${manifest.bytes.length}`);
}

/** The digest `repository:reference` holds, or null when the registry answers 404 (crane: not there). */
async function headDigest(client, repository, reference) {
  try {
    return await client.headManifest(repository, reference);
  } catch (error) {
    if (error.status === 404 || error.status === 403) return null; // a 403 too, in newer releases
    throw error;
  }
}

/** Go's encoding/json field order for the descriptor and platform structs of pkg/v1 (manifest.go, platform.go). */
const DESCRIPTOR_FIELDS = [
  "mediaType",
  "size",
  "digest",
  "data",
  "urls",
  "annotations",
  "platform",
  "artifactType",
];
const PLATFORM_FIELDS = ["architecture", "os", "os.version", "os.features", "variant", "features"];
const INDEX_FIELDS = ["schemaVersion", "mediaType", "manifests", "annotations", "subject", "artifactType"];

function ordered(object, fields) {
  const out = {};
  for (const field of fields) if (object[field] !== undefined) out[field] = object[field];
  return out;
}

/**
 * `crane index filter IMAGE --platform P... [-t TAG]` (cmd/crane/cmd/index.go NewCmdIndexFilter, filterIndex,
 * satisfiesPlatforms): keeps EVERY child that satisfies one of the platforms (v1.Platform.Satisfies; children
 * without a platform go), writes them and the new index, prints REPO@DIGEST. Each --platform value is one platform
 * (cmd/crane/cmd/util.go platformsValue.Set parses the whole value; its help text's `[,<platform>]` is not
 * implemented): `--platform linux/amd64,linux/arm64` keeps nothing and writes an index with `"manifests":null`
 * (mutate.RemoveManifests leaves a nil slice).
 */
async function indexFilter(args, flags, options) {
  const srcRef = parseReference(args[0]);
  const platforms = (flags.get("--platform") ?? []).map(parsePlatform);
  if (platforms.length === 0) throw new Error("crane index filter: at least one --platform is required");
  const dstText = flags.get("--tag")?.[0] ?? args[0];
  const dstRef = parseReference(dstText);
  const src = clientFor(srcRef.registry, options);
  const dst = clientFor(dstRef.registry, options);
  const base = await src.getManifest(srcRef.repository, referenceTarget(srcRef));
  if (!isIndex(base.mediaType)) {
    throw new Error(`expected ${args[0]} to be an index, got "${base.mediaType}"`);
  }
  const kept = (base.json.manifests ?? []).filter(
    (m) => m.platform && platforms.some((p) => platformSatisfies(m.platform, p)),
  );
  const jobs = Number(options.jobs ?? 4);
  for (const child of kept) {
    const childManifest = await src.getManifest(srcRef.repository, child.digest);
    await copyManifest(src, srcRef.repository, dst, dstRef.repository, childManifest, child.digest, jobs);
  }
  const index = ordered(
    {
      ...base.json,
      manifests:
        kept.length === 0
          ? null
          : kept.map((m) =>
              ordered({ ...m, platform: ordered(m.platform, PLATFORM_FIELDS) }, DESCRIPTOR_FIELDS),
            ),
    },
    INDEX_FIELDS,
  );
  const bytes = Buffer.from(JSON.stringify(index));
  const digest = sha256Digest(bytes);
  const target = dstRef.digest ? digest : dstRef.tag;
  const written = await dst.putManifest(dstRef.repository, target, bytes, base.mediaType);
  if (written !== digest)
    throw new Error(`${dstText}: the registry stored digest ${written}, expected ${digest}`);
  logLine(`${formatReference(dstRef)}: digest: ${digest} size: ${bytes.length}`);
  process.stdout.write(`${dstRef.registry}/${dstRef.repository}@${digest}\n`);
}

async function digest(args, options) {
  const ref = parseReference(args[0]);
  const client = clientFor(ref.registry, options);
  if (options.platform) {
    const manifest = await resolveManifest(client, ref, options.platform);
    process.stdout.write(`${manifest.digest}\n`);
    return;
  }
  process.stdout.write(`${await client.headManifest(ref.repository, referenceTarget(ref))}\n`);
}

async function manifest(args, options) {
  const ref = parseReference(args[0]);
  const client = clientFor(ref.registry, options);
  const found = await resolveManifest(client, ref, options.platform);
  process.stdout.write(found.bytes);
}

async function ls(args, options) {
  const repo = parseRepository(args[0]);
  const client = clientFor(repo.registry, options);
  for (const tag of await client.listTags(repo.repository)) process.stdout.write(`${tag}\n`);
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function authLogin(args, flags) {
  const server = args[0];
  const user = flags.get("--username")?.[0] ?? "";
  if (!flags.has("--password-stdin")) {
    throw new ContractViolation(
      "crane auth login without --password-stdin: the stand-in contract takes passwords on stdin only",
    );
  }
  const password = (await readStdin()).replace(/\n$/, "").replace(/\r$/, "");
  if (user === "" || password === "") throw new Error("username and password required");
  const registry = server === "docker.io" ? "index.docker.io" : server;
  const key = registry === "index.docker.io" ? "https://index.docker.io/v1/" : registry;
  const path = dockerConfigPath();
  storeCredentials(path, key, user, password);
  logLine(`logged in via ${path}`);
}

async function freePort(host) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(address.port));
    });
  });
}

/** `crane registry serve`: docker-registry in the foreground until SIGTERM/SIGINT. */
async function registryServe(flags, invocation) {
  let address = flags.get("--address")?.[0] ?? `:${process.env.PORT || "0"}`;
  const colon = address.lastIndexOf(":");
  let host = address.slice(0, colon) || "0.0.0.0";
  if (host.startsWith("[")) host = host.slice(1, -1);
  let port = Number(address.slice(colon + 1));
  if (!port) port = await freePort(host);
  address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const work = mkdtempSync(join(tmpdir(), "crane-stand-in-registry-"));
  const storage = flags.get("--disk")?.[0] ?? join(work, "storage");
  const config = join(work, "config.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${JSON.stringify(storage)}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${JSON.stringify(address)}`,
      "  secret: crane-stand-in",
      "",
    ].join("\n"),
  );
  if (flags.has("--disk")) logLine(`storing blobs in ${storage}`);
  const child = spawn("/usr/bin/docker-registry", ["serve", config], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  let stopping = false;
  const stop = (signal) => {
    stopping = true;
    logLine("shutting down...");
    child.kill(signal);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  const probeHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const probe = `http://${probeHost.includes(":") ? `[${probeHost}]` : probeHost}:${port}/v2/`;
  const ready = (async () => {
    for (let i = 0; i < 400; i++) {
      try {
        const response = await fetch(probe);
        await response.body?.cancel();
        return true;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    return false;
  })();
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  const first = await Promise.race([ready, exited.then(() => "exited")]);
  if (first === true) logLine(`serving on port ${port}`);
  const code = await exited;
  rmSync(work, { recursive: true, force: true });
  const exitCode = stopping ? 0 : (code ?? 1);
  if (!stopping) process.stderr.write(`Error: docker-registry exited with ${code}\n`);
  invocation.finish(exitCode);
  process.exit(exitCode);
}

/** The flags every image subcommand reads. */
function imageOptions({ command, flags }) {
  return {
    insecure: flags.has("--insecure"),
    verbose: flags.has("--verbose"),
    // cmd/crane/cmd/util.go parsePlatform: "all" (the default) is no platform.
    platform:
      flags.has("--platform") && command !== "index filter" && flags.get("--platform")[0] !== "all"
        ? parsePlatform(flags.get("--platform")[0])
        : null,
    jobs: flags.get("--jobs")?.[0],
  };
}

export function main(argv) {
  return runStandIn(TOOL, contract, argv, {
    copy: (p) => copy(p.args, imageOptions(p)),
    "index filter": (p) => indexFilter(p.args, p.flags, imageOptions(p)),
    digest: (p) => digest(p.args, imageOptions(p)),
    manifest: (p) => manifest(p.args, imageOptions(p)),
    ls: (p) => ls(p.args, imageOptions(p)),
    "auth login": (p) => authLogin(p.args, p.flags),
    "registry serve": (p, invocation) => registryServe(p.flags, invocation),
    version: () => {
      process.stdout.write(`stand-in (ecr-mirror test harness) for crane ${VERSION}\n`);
    },
  });
}
