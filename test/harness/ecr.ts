// A local Amazon ECR for process-level tests: an API endpoint speaking ECR's JSON 1.1 protocol
// (reached through the real @aws-sdk/client-ecr via `endpoint` / AWS_ENDPOINT_URL_ECR) and a
// registry gate in front of a real distribution registry that enforces what ECR enforces: Basic
// auth as `AWS` with the GetAuthorizationToken password, pushes and pulls only for repositories
// created through the API, and tag immutability. The API answers from the registry's storage, so
// what a tool pushed through the gate is what ListImages sees. Signatures are not checked.
//
// The storage class (ECR's archive, 2025) is modelled per image (digest), from the API reference and the
// user guide:
// - ListImages and DescribeImages return only ACTIVE images unless `filter.imageStatus` says ARCHIVED,
//   ACTIVATING or ANY (API_ListImagesFilter, API_DescribeImagesFilter:
//   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ListImagesFilter.html); ListImages'
//   image ids carry no status, DescribeImages' ImageDetail has `imageStatus`, `lastArchivedAt` and
//   `lastActivatedAt` (API_ImageDetail).
// - UpdateImageStorageClass moves one image to ARCHIVE or back to STANDARD and answers the image's status
//   after the call; a restore goes through ACTIVATING ("typically up to 20 minutes") before ACTIVE, and the
//   image cannot be pulled until it is done (API_UpdateImageStorageClass; userguide/restore-image.html).
//   Here a restore completes `restoreDelayMs` after the call (default 0: the call answers ACTIVATING, the
//   next read sees ACTIVE), or when a test calls `completeRestores()`.
// - An archived image cannot be pulled: "Requests to pull the archived image will fail with a 404 error"
//   (userguide/archive-image.html). The gate answers 404 MANIFEST_UNKNOWN to a manifest GET or HEAD of an
//   ARCHIVED or ACTIVATING image; BatchGetImage reports it per id as ImageNotFound (the failure code for
//   this case is not documented).
// - Pushing an archived image again restores it at once (userguide/restore-image.html: "When you push an
//   image that is currently archived, that image will be immediately restored"); the tag stays the tag, so
//   an immutable repository refuses the push as for any existing tag (ImageTagAlreadyExistsException,
//   TAG_INVALID on the registry API; userguide/image-tag-mutability.html).
// - Lifecycle rules that archive are stored, not evaluated: `archive()` archives an image as one would.
// Not documented, so chosen here: UpdateImageStorageClass to STANDARD on an image that is not ARCHIVED,
// and to ARCHIVE on one that is not ACTIVE, fail with ImageStorageClassUpdateNotSupportedException.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ECRClient } from "@aws-sdk/client-ecr";
import { type Guard, type GuardAnswer, type RunningProxy, startProxy } from "./counting-proxy.js";
import type { RunningRegistry } from "./registry.js";
import { RegistryStorage, type StoredManifest } from "./registry-storage.js";

export type TagMutability = "MUTABLE" | "IMMUTABLE" | "MUTABLE_WITH_EXCLUSION" | "IMMUTABLE_WITH_EXCLUSION";

export interface ExclusionFilter {
  filterType: "WILDCARD";
  filter: string;
}

/** One repository's settings as the local ECR keeps them. */
export interface EcrRepositoryState {
  repositoryName: string;
  repositoryArn: string;
  createdAt: Date;
  imageTagMutability: TagMutability;
  imageTagMutabilityExclusionFilters: ExclusionFilter[];
  imageScanningConfiguration: { scanOnPush: boolean };
  encryptionConfiguration: { encryptionType: string; kmsKey?: string };
  tags: { Key: string; Value: string }[];
  lifecyclePolicyText?: string;
  policyText?: string;
}

export interface EcrOptions {
  /** The real registry behind the gate (must not require auth itself). */
  registry: RunningRegistry;
  accountId?: string;
  region?: string;
  /** Milliseconds an UpdateImageStorageClass restore stays ACTIVATING (default 0: ACTIVE at the next read). */
  restoreDelayMs?: number;
  /** The account setting BLOB_MOUNTING at start (default DISABLED, as in a new account); PutAccountSetting changes it. */
  blobMounting?: "ENABLED" | "DISABLED";
  /**
   * PutImage calls a second (manifest PUTs through the gate) before the gate answers 429 TOOMANYREQUESTS, as ECR
   * throttles at its quota: a token bucket refilled at this rate holding one second's worth (AWS throttles API
   * calls with token buckets; the burst ECR allows is not documented). Default: no limit.
   */
  putImageRate?: number;
}

/** An image's storage status, as DescribeImages' `imageStatus` says it. */
export type ImageStatus = "ACTIVE" | "ARCHIVED" | "ACTIVATING";

export interface LocalEcr {
  /** ECR API endpoint: the SDK's `endpoint`, or AWS_ENDPOINT_URL_ECR for a process. */
  apiUrl: string;
  /** The gate's `127.0.0.1:PORT`: the registry part of image references. */
  registryHost: string;
  /** `http://127.0.0.1:PORT`, what GetAuthorizationToken's proxyEndpoint says. */
  proxyEndpoint: string;
  /** The registry password (user `AWS`). */
  password: string;
  /** base64("AWS:" + password), as in authorizationData. */
  token: string;
  accountId: string;
  region: string;
  /** API calls so far by operation name (failed and injected-failure calls included). */
  calls: Record<string, number>;
  /** Gate requests by kind, plus refusals by reason (a refused request counts under both). */
  gateCounts(): ReturnType<RunningProxy["counts"]>;
  /** Every gate request with its status and whether it carried valid auth. */
  gateRequests(): ReturnType<RunningProxy["requests"]>;
  /** Clears `calls` and the gate's counts. */
  resetCounts(): void;
  /** Environment a child process needs to reach this ECR with the SDK (dummy credentials). */
  env(): Record<string, string>;
  /** An SDK client for this endpoint (region and throwaway credentials set). */
  client(): ECRClient;
  /**
   * The next `times` calls of `operation` fail with `errorType` (e.g. "ThrottlingException",
   * "ServerException"), or, with "stall", are accepted and never answered.
   */
  failNext(operation: string, errorType: string, times?: number): void;
  /** Snapshot of the repositories and their settings. */
  repositories(): EcrRepositoryState[];
  /**
   * Archives the image a tag (or digest) names, as a lifecycle rule with an archive action would; resolves its
   * digest. Throws when the repository or image does not exist.
   */
  archive(repository: string, reference: string): string;
  /** The storage status of the image a tag (or digest) names, or undefined when there is no such image. */
  imageStatus(repository: string, reference: string): ImageStatus | undefined;
  /** Every restore still ACTIVATING becomes ACTIVE now. */
  completeRestores(): void;
  stop(): Promise<void>;
}

const TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921.";
const REPOSITORY_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const EXCLUSION_FILTER = /^[0-9a-zA-Z._*-]{1,128}$/;
const MUTABILITIES: TagMutability[] = [
  "MUTABLE",
  "IMMUTABLE",
  "MUTABLE_WITH_EXCLUSION",
  "IMMUTABLE_WITH_EXCLUSION",
];
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const IMAGE_STATUS_FILTERS = ["ACTIVE", "ARCHIVED", "ACTIVATING", "ANY"];

/** One image's storage class state; an image without one is ACTIVE. */
interface StorageState {
  status: ImageStatus;
  lastArchivedAt?: number;
  lastActivatedAt?: number;
  /** While ACTIVATING: when the restore completes (epoch milliseconds). */
  activeAt?: number;
}

/** Which statuses `filter.imageStatus` selects (ListImages, DescribeImages): ACTIVE unless it says otherwise. */
function statusFilter(input: Record<string, unknown>): (status: ImageStatus) => boolean {
  const wanted = (input.filter as { imageStatus?: string } | undefined)?.imageStatus ?? "ACTIVE";
  if (!IMAGE_STATUS_FILTERS.includes(wanted)) {
    throw new EcrError(
      "ValidationException",
      `1 validation error detected: Value '${wanted}' at 'filter.imageStatus' failed to satisfy constraint: Member must satisfy enum value set: [${IMAGE_STATUS_FILTERS.join(", ")}]`,
    );
  }
  return (status) => wanted === "ANY" || wanted === status;
}

/** An ECR error answer: `__type` is what the SDK maps to its exception class. */
class EcrError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/** Status an injected error type is answered with. */
function statusFor(errorType: string): number {
  if (errorType === "ServerException" || errorType === "InternalFailure") return 500;
  if (errorType === "ServiceUnavailableException") return 503;
  return 400;
}

function wildcardMatches(pattern: string, tag: string): boolean {
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`).test(tag);
}

/** Whether ECR refuses to overwrite `tag` under the repository's mutability mode and filters. */
export function isTagImmutable(
  tag: string,
  mode: TagMutability,
  filters: readonly ExclusionFilter[],
): boolean {
  const excluded = filters.some((f) => wildcardMatches(f.filter, tag));
  switch (mode) {
    case "MUTABLE":
      return false;
    case "IMMUTABLE":
      return true;
    case "IMMUTABLE_WITH_EXCLUSION":
      return !excluded;
    case "MUTABLE_WITH_EXCLUSION":
      return excluded;
  }
}

interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

const seconds = (ms: number) => ms / 1000;

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64");
}

function readPage(nextToken: unknown): number {
  if (nextToken === undefined || nextToken === null) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(String(nextToken), "base64").toString("utf8")) as {
      offset: number;
    };
    if (Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new EcrError(
    "InvalidParameterException",
    "Invalid parameter at 'nextToken' failed to satisfy constraint",
  );
}

function maxResultsOf(value: unknown, fallback: number, limit = 1000): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > limit) {
    throw new EcrError(
      "InvalidParameterException",
      `Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and ${limit}'`,
    );
  }
  return value as number;
}

function paged<T>(items: T[], input: { maxResults?: unknown; nextToken?: unknown }, fallback: number) {
  const start = readPage(input.nextToken);
  const size = maxResultsOf(input.maxResults, fallback);
  const page = items.slice(start, start + size);
  const nextToken = start + size < items.length ? pageToken(start + size) : undefined;
  return { page, nextToken };
}

function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: string };
    return parsed.mediaType;
  } catch {
    return undefined;
  }
}

function imageSize(bytes: Buffer): number {
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as {
      config?: { size?: number };
      layers?: { size?: number }[];
    };
    return (parsed.config?.size ?? 0) + (parsed.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0);
  } catch {
    return bytes.length;
  }
}

function childDigests(bytes: Buffer): string[] {
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as { manifests?: { digest?: string }[] };
    return (parsed.manifests ?? []).flatMap((m) => (m.digest ? [m.digest] : []));
  } catch {
    return [];
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new EcrError("SerializationException", "Request body is not valid JSON");
  }
}

/** Starts the ECR API endpoint and the registry gate in front of `opts.registry`. */
export async function startEcr(opts: EcrOptions): Promise<LocalEcr> {
  const accountId = opts.accountId ?? "123456789012";
  const region = opts.region ?? "us-east-1";
  const password = randomBytes(24).toString("base64url");
  const token = Buffer.from(`AWS:${password}`).toString("base64");
  const storage = new RegistryStorage(opts.registry.dir);
  const repos = new Map<string, EcrRepositoryState>();
  const calls: Record<string, number> = {};
  const injected = new Map<string, { errorType: string; times: number }>();
  const restoreDelayMs = opts.restoreDelayMs ?? 0;
  // Account settings (API_GetAccountSetting / API_PutAccountSetting): BLOB_MOUNTING is ENABLED or DISABLED.
  const accountSettings = new Map<string, string>([["BLOB_MOUNTING", opts.blobMounting ?? "DISABLED"]]);
  const putBucket = { tokens: opts.putImageRate ?? 0, at: performance.now() };
  const storageStates = new Map<string, StorageState>();
  const stateKey = (repository: string, digest: string) => `${repository}@${digest}`;
  /** The image's storage state now (a restore whose time has come is ACTIVE). */
  const stateOf = (repository: string, digest: string): StorageState => {
    const state = storageStates.get(stateKey(repository, digest));
    if (!state) return { status: "ACTIVE" };
    if (state.status === "ACTIVATING" && state.activeAt !== undefined && Date.now() >= state.activeAt) {
      state.status = "ACTIVE";
      state.lastActivatedAt = state.activeAt;
      delete state.activeAt;
    }
    return state;
  };
  const setState = (repository: string, digest: string, state: StorageState) =>
    storageStates.set(stateKey(repository, digest), state);
  const digestOf = (repository: string, reference: string) =>
    DIGEST.test(reference) ? reference : storage.tagDigest(repository, reference);

  // ---- the registry gate ----------------------------------------------------------------------
  const gateGuard: Guard = (req, { kind, repository, reference }) => {
    const authorized = req.headers.authorization === `Basic ${token}`;
    const refuse = (answer: GuardAnswer) => ({ authorized, answer });
    if (!authorized) {
      return refuse({
        refusal: "unauthorized",
        status: 401,
        headers: { "www-authenticate": `Basic realm="${gateUrl}/",service="ecr.amazonaws.com"` },
        // Status and challenge as ECR sends them; the exact body wording is not documented.
        body: { errors: [{ code: "UNAUTHORIZED", message: "Not Authorized" }] },
      });
    }
    if (kind === "catalog") {
      // ECR does not serve the catalog API; repositories are listed through DescribeRepositories.
      return refuse({
        refusal: "unsupported",
        status: 405,
        body: { errors: [{ code: "UNSUPPORTED", message: "The operation is unsupported." }] },
      });
    }
    if (repository !== undefined && !repos.has(repository)) {
      return refuse({
        refusal: "name-unknown",
        status: 404,
        body: {
          errors: [
            {
              code: "NAME_UNKNOWN",
              message: `The repository with name '${repository}' does not exist in the registry with id '${accountId}'`,
            },
          ],
        },
      });
    }
    if ((kind === "manifest-get" || kind === "manifest-head") && repository !== undefined && reference) {
      const digest = digestOf(repository, reference);
      const status = digest ? stateOf(repository, digest).status : "ACTIVE";
      if (status !== "ACTIVE") {
        // userguide/archive-image.html: a pull of an archived image fails with a 404 (restoring: until done).
        return refuse({
          refusal: "archived",
          status: 404,
          body: {
            errors: [
              {
                code: "MANIFEST_UNKNOWN",
                message: `The image '${reference}' in repository '${repository}' is ${status === "ARCHIVED" ? "archived" : "being restored from the archive"} and cannot be pulled.`,
              },
            ],
          },
        });
      }
    }
    if (kind === "blob-upload" && req.method === "POST" && repository !== undefined) {
      // Cross-repository mount (ECR since 2026-01): only with the account setting BLOB_MOUNTING ENABLED and the
      // same encryption type and KMS key on both repositories; otherwise ECR starts an upload session (202)
      // and the client uploads. Modelled by forwarding the POST without `mount`/`from`.
      const query = new URLSearchParams((req.url ?? "").split("?")[1] ?? "");
      const from = query.get("from");
      if (query.has("mount")) {
        const source = from === null ? undefined : repos.get(from);
        const target = repos.get(repository)!;
        const same =
          source !== undefined &&
          source.encryptionConfiguration.encryptionType === target.encryptionConfiguration.encryptionType &&
          (source.encryptionConfiguration.kmsKey ?? null) === (target.encryptionConfiguration.kmsKey ?? null);
        if (accountSettings.get("BLOB_MOUNTING") !== "ENABLED" || !same) {
          return { authorized, forwardPath: `/v2/${repository}/blobs/uploads/` };
        }
      }
    }
    if (kind === "manifest-put" && opts.putImageRate !== undefined) {
      // PutImage's quota: a token bucket of `putImageRate` tokens refilled at `putImageRate` a second.
      const now = performance.now();
      const rate = opts.putImageRate;
      putBucket.tokens = Math.min(rate, putBucket.tokens + ((now - putBucket.at) * rate) / 1000);
      putBucket.at = now;
      if (putBucket.tokens < 1) {
        return refuse({
          refusal: "throttled",
          status: 429,
          body: { errors: [{ code: "TOOMANYREQUESTS", message: "Rate exceeded" }] },
        });
      }
      putBucket.tokens -= 1;
    }
    if (
      kind === "manifest-put" &&
      repository !== undefined &&
      reference !== undefined &&
      !DIGEST.test(reference)
    ) {
      const repo = repos.get(repository)!;
      const exists = storage.tagDigest(repository, reference) !== undefined;
      // ECR refuses any manifest PUT to an existing immutable tag, even with the same digest
      // (aws/containers-roadmap#2179 and #2380, kaniko PR osscontainertools/kaniko#204).
      if (
        exists &&
        isTagImmutable(reference, repo.imageTagMutability, repo.imageTagMutabilityExclusionFilters)
      ) {
        return refuse({
          refusal: "tag-invalid",
          status: 400,
          body: {
            errors: [
              {
                code: "TAG_INVALID",
                message: `The image tag '${reference}' already exists in the '${repository}' repository and cannot be overwritten because the tag is immutable.`,
              },
            ],
          },
        });
      }
    }
    if (kind === "manifest-put" && repository !== undefined) {
      // Pushing an archived image again restores it at once (userguide/restore-image.html).
      return {
        authorized,
        after: (status, headers) => {
          const pushed = headers["docker-content-digest"];
          if (status !== 201 || typeof pushed !== "string") return;
          const state = storageStates.get(stateKey(repository, pushed));
          if (state && state.status !== "ACTIVE") {
            const { lastArchivedAt } = state;
            setState(repository, pushed, { status: "ACTIVE", lastArchivedAt, lastActivatedAt: Date.now() });
          }
        },
      };
    }
    return { authorized };
  };
  const gate = await startProxy(opts.registry.url, gateGuard);
  const gateUrl = gate.url;

  // ---- the API ----------------------------------------------------------------------------------
  const repositoryArn = (name: string) => `arn:aws:ecr:${region}:${accountId}:repository/${name}`;
  const notFound = (name: string) =>
    new EcrError(
      "RepositoryNotFoundException",
      `The repository with name '${name}' does not exist in the registry with id '${accountId}'`,
    );
  const repoOf = (input: Record<string, unknown>): EcrRepositoryState => {
    const name = String(input.repositoryName ?? "");
    const repo = repos.get(name);
    if (!repo) throw notFound(name);
    return repo;
  };
  const describe = (repo: EcrRepositoryState) => ({
    repositoryArn: repo.repositoryArn,
    registryId: accountId,
    repositoryName: repo.repositoryName,
    repositoryUri: `${gate.host}/${repo.repositoryName}`,
    createdAt: seconds(repo.createdAt.getTime()),
    imageTagMutability: repo.imageTagMutability,
    ...(repo.imageTagMutabilityExclusionFilters.length > 0
      ? { imageTagMutabilityExclusionFilters: repo.imageTagMutabilityExclusionFilters }
      : {}),
    imageScanningConfiguration: repo.imageScanningConfiguration,
    encryptionConfiguration: repo.encryptionConfiguration,
  });
  const mutabilityOf = (input: Record<string, unknown>) => {
    const mode = (input.imageTagMutability ?? "MUTABLE") as TagMutability;
    if (!MUTABILITIES.includes(mode)) {
      throw new EcrError("InvalidParameterException", `Invalid parameter at 'imageTagMutability': '${mode}'`);
    }
    const filters = (input.imageTagMutabilityExclusionFilters ?? []) as ExclusionFilter[];
    const withExclusion = mode.endsWith("_WITH_EXCLUSION");
    if (withExclusion && filters.length === 0) {
      throw new EcrError("InvalidParameterException", `Exclusion filters are required for ${mode}`);
    }
    if (!withExclusion && filters.length > 0) {
      throw new EcrError("InvalidParameterException", `Exclusion filters are not allowed for ${mode}`);
    }
    for (const f of filters) {
      if (f.filterType !== "WILDCARD" || !EXCLUSION_FILTER.test(f.filter ?? "")) {
        throw new EcrError(
          "InvalidParameterException",
          `Invalid image tag mutability exclusion filter '${f.filter}'`,
        );
      }
    }
    return { imageTagMutability: mode, imageTagMutabilityExclusionFilters: filters.map((f) => ({ ...f })) };
  };
  const imageNotFound = (repo: EcrRepositoryState, id: ImageId) =>
    `The image with imageId {imageDigest:'${id.imageDigest ?? "null"}', imageTag:'${id.imageTag ?? "null"}'} does not exist within the repository with name '${repo.repositoryName}' in the registry with id '${accountId}'`;
  /** Resolves an image id against storage: the manifest, or the failure ECR reports per id. */
  const resolve = (id: ImageId, manifests: StoredManifest[]) => {
    if (!id.imageDigest && !id.imageTag) {
      return { failureCode: "MissingDigestAndTag", failureReason: "Missing image digest and image tag" };
    }
    const byTag = id.imageTag ? manifests.find((m) => m.tags.includes(id.imageTag!)) : undefined;
    const byDigest = id.imageDigest ? manifests.find((m) => m.digest === id.imageDigest) : undefined;
    if (id.imageTag && id.imageDigest && byTag && byTag.digest !== id.imageDigest) {
      return { failureCode: "ImageTagDoesNotMatchDigest", failureReason: "Image tag does not match digest" };
    }
    const manifest = id.imageTag ? byTag : byDigest;
    if (!manifest) return { failureCode: "ImageNotFound", failureReason: "Requested image not found" };
    return { manifest };
  };

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    GetAccountSetting: (input) => {
      const name = String(input.name ?? "");
      const value = accountSettings.get(name);
      if (value === undefined)
        throw new EcrError("InvalidParameterException", `Invalid parameter at 'name': '${name}'`);
      return { name, value };
    },
    PutAccountSetting: (input) => {
      const name = String(input.name ?? "");
      const value = String(input.value ?? "");
      if (name !== "BLOB_MOUNTING" || (value !== "ENABLED" && value !== "DISABLED")) {
        throw new EcrError(
          "InvalidParameterException",
          `Invalid parameter: setting '${name}' cannot take the value '${value}'`,
        );
      }
      accountSettings.set(name, value);
      return { name, value };
    },
    GetAuthorizationToken: () => ({
      authorizationData: [
        {
          authorizationToken: token,
          expiresAt: seconds(Date.now() + 12 * 3600_000),
          proxyEndpoint: gateUrl,
        },
      ],
    }),

    CreateRepository: (input) => {
      const name = String(input.repositoryName ?? "");
      if (name.length < 2 || name.length > 256 || !REPOSITORY_NAME.test(name)) {
        throw new EcrError(
          "InvalidParameterException",
          `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''`,
        );
      }
      if (repos.has(name)) {
        throw new EcrError(
          "RepositoryAlreadyExistsException",
          `The repository with name '${name}' already exists in the registry with id '${accountId}'`,
        );
      }
      const scanning = input.imageScanningConfiguration as { scanOnPush?: boolean } | undefined;
      const encryption = input.encryptionConfiguration as
        | { encryptionType: string; kmsKey?: string }
        | undefined;
      const repo: EcrRepositoryState = {
        repositoryName: name,
        repositoryArn: repositoryArn(name),
        createdAt: new Date(),
        ...mutabilityOf(input),
        imageScanningConfiguration: { scanOnPush: scanning?.scanOnPush ?? false },
        encryptionConfiguration: encryption ? { ...encryption } : { encryptionType: "AES256" },
        tags: ((input.tags ?? []) as { Key: string; Value: string }[]).map((t) => ({ ...t })),
      };
      repos.set(name, repo);
      return { repository: describe(repo) };
    },

    DescribeRepositories: (input) => {
      const names = input.repositoryNames as string[] | undefined;
      if (names && names.length > 0) {
        if (input.maxResults !== undefined || input.nextToken !== undefined) {
          throw new EcrError(
            "InvalidParameterException",
            "maxResults and nextToken cannot be used together with repositoryNames",
          );
        }
        if (names.length > 100) {
          throw new EcrError("InvalidParameterException", "repositoryNames accepts at most 100 names");
        }
        const missing = names.find((n) => !repos.has(n));
        if (missing !== undefined) throw notFound(missing);
        return { repositories: names.map((n) => describe(repos.get(n)!)) };
      }
      const all = [...repos.values()].sort((a, b) => a.repositoryName.localeCompare(b.repositoryName));
      const { page, nextToken } = paged(all, input, 100);
      return { repositories: page.map(describe), ...(nextToken ? { nextToken } : {}) };
    },

    DeleteRepository: (input) => {
      const repo = repoOf(input);
      if (storage.manifests(repo.repositoryName).length > 0 && input.force !== true) {
        throw new EcrError(
          "RepositoryNotEmptyException",
          `The repository with name '${repo.repositoryName}' in registry with id '${accountId}' cannot be deleted because it still contains images`,
        );
      }
      storage.removeRepository(repo.repositoryName);
      repos.delete(repo.repositoryName);
      for (const key of [...storageStates.keys()])
        if (key.startsWith(`${repo.repositoryName}@`)) storageStates.delete(key);
      return { repository: describe(repo) };
    },

    ListImages: (input) => {
      const repo = repoOf(input);
      const status = (input.filter as { tagStatus?: string } | undefined)?.tagStatus ?? "ANY";
      const selects = statusFilter(input);
      const ids: ImageId[] = [];
      for (const m of storage.manifests(repo.repositoryName)) {
        if (!selects(stateOf(repo.repositoryName, m.digest).status)) continue;
        if (m.tags.length === 0) {
          if (status !== "TAGGED") ids.push({ imageDigest: m.digest });
        } else if (status !== "UNTAGGED") {
          for (const tag of m.tags) ids.push({ imageDigest: m.digest, imageTag: tag });
        }
      }
      const { page, nextToken } = paged(ids, input, 100);
      return { imageIds: page, ...(nextToken ? { nextToken } : {}) };
    },

    DescribeImages: (input) => {
      const repo = repoOf(input);
      const manifests = storage.manifests(repo.repositoryName);
      const detail = (m: StoredManifest) => {
        const bytes = storage.blob(m.digest) ?? Buffer.alloc(0);
        const mediaType = mediaTypeOf(bytes);
        const state = stateOf(repo.repositoryName, m.digest);
        return {
          registryId: accountId,
          repositoryName: repo.repositoryName,
          imageDigest: m.digest,
          ...(m.tags.length > 0 ? { imageTags: m.tags } : {}),
          imageSizeInBytes: imageSize(bytes),
          imagePushedAt: seconds(m.pushedAt),
          ...(mediaType ? { imageManifestMediaType: mediaType } : {}),
          imageStatus: state.status,
          ...(state.lastArchivedAt !== undefined ? { lastArchivedAt: seconds(state.lastArchivedAt) } : {}),
          ...(state.lastActivatedAt !== undefined ? { lastActivatedAt: seconds(state.lastActivatedAt) } : {}),
        };
      };
      const ids = input.imageIds as ImageId[] | undefined;
      // Asked by id, an image is described whatever its status (how filter.imageStatus combines with
      // imageIds is not documented; the product does not rely on it).
      if (ids && ids.length > 0) {
        const details = ids.map((id) => {
          const found = resolve(id, manifests);
          if (!("manifest" in found) || !found.manifest) {
            throw new EcrError("ImageNotFoundException", imageNotFound(repo, id));
          }
          return detail(found.manifest);
        });
        return { imageDetails: details };
      }
      const status = (input.filter as { tagStatus?: string } | undefined)?.tagStatus ?? "ANY";
      const selects = statusFilter(input);
      const selected = manifests.filter(
        (m) =>
          selects(stateOf(repo.repositoryName, m.digest).status) &&
          (status === "TAGGED" ? m.tags.length > 0 : status === "UNTAGGED" ? m.tags.length === 0 : true),
      );
      const { page, nextToken } = paged(selected, input, 100);
      return { imageDetails: page.map(detail), ...(nextToken ? { nextToken } : {}) };
    },

    BatchGetImage: (input) => {
      const repo = repoOf(input);
      const manifests = storage.manifests(repo.repositoryName);
      const images: unknown[] = [];
      const failures: unknown[] = [];
      for (const id of (input.imageIds ?? []) as ImageId[]) {
        const found = resolve(id, manifests);
        // An archived (or still restoring) image cannot be pulled: reported like a missing one.
        const pullable =
          "manifest" in found &&
          found.manifest &&
          stateOf(repo.repositoryName, found.manifest.digest).status === "ACTIVE";
        const bytes = pullable && found.manifest ? storage.blob(found.manifest.digest) : undefined;
        if (!("manifest" in found) || !found.manifest || !bytes) {
          const failure =
            "manifest" in found
              ? { failureCode: "ImageNotFound", failureReason: "Requested image not found" }
              : found;
          failures.push({ imageId: id, ...failure });
          continue;
        }
        const mediaType = mediaTypeOf(bytes);
        images.push({
          registryId: accountId,
          repositoryName: repo.repositoryName,
          imageId: { imageDigest: found.manifest.digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
          imageManifest: bytes.toString("utf8"),
          ...(mediaType ? { imageManifestMediaType: mediaType } : {}),
        });
      }
      return { images, failures };
    },

    BatchDeleteImage: async (input) => {
      const repo = repoOf(input);
      const ids = (input.imageIds ?? []) as ImageId[];
      const deleted: ImageId[] = [];
      const failures: unknown[] = [];
      const deletingDigests = new Set(
        ids.filter((id) => id.imageDigest && !id.imageTag).map((id) => id.imageDigest),
      );
      for (const id of ids) {
        const manifests = storage.manifests(repo.repositoryName);
        const found = resolve(id, manifests);
        if (!("manifest" in found) || !found.manifest) {
          failures.push({ imageId: id, ...found });
          continue;
        }
        const { manifest } = found;
        // Removing a tag leaves the image while other tags remain; the last tag takes the image.
        if (id.imageTag && manifest.tags.length > 1) {
          storage.removeTag(repo.repositoryName, id.imageTag);
          deleted.push({ imageDigest: manifest.digest, imageTag: id.imageTag });
          continue;
        }
        const referencedBy = manifests.find(
          (m) =>
            m.digest !== manifest.digest &&
            !deletingDigests.has(m.digest) &&
            childDigests(storage.blob(m.digest) ?? Buffer.alloc(0)).includes(manifest.digest),
        );
        if (referencedBy) {
          failures.push({
            imageId: id,
            failureCode: "ImageReferencedByManifestList",
            failureReason: `Requested image referenced by manifest list: [${referencedBy.digest}]`,
          });
          continue;
        }
        const response = await fetch(
          `${opts.registry.url}/v2/${repo.repositoryName}/manifests/${manifest.digest}`,
          {
            method: "DELETE",
          },
        );
        await response.body?.cancel();
        if (response.status !== 202) {
          throw new EcrError("ServerException", `registry refused the delete: HTTP ${response.status}`, 500);
        }
        storageStates.delete(stateKey(repo.repositoryName, manifest.digest));
        if (manifest.tags.length === 0) deleted.push({ imageDigest: manifest.digest });
        for (const tag of manifest.tags) deleted.push({ imageDigest: manifest.digest, imageTag: tag });
      }
      return { imageIds: deleted, failures };
    },

    // API_UpdateImageStorageClass: errors ImageNotFoundException, ImageStorageClassUpdateNotSupportedException,
    // InvalidParameterException, RepositoryNotFoundException, ServerException, ValidationException.
    UpdateImageStorageClass: (input) => {
      const repo = repoOf(input);
      const target = input.targetStorageClass;
      if (target !== "STANDARD" && target !== "ARCHIVE") {
        throw new EcrError(
          "ValidationException",
          `1 validation error detected: Value '${String(target)}' at 'targetStorageClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, ARCHIVE]`,
        );
      }
      const id = (input.imageId ?? {}) as ImageId;
      const found = resolve(id, storage.manifests(repo.repositoryName));
      if (!("manifest" in found) || !found.manifest) {
        if (found.failureCode === "ImageNotFound")
          throw new EcrError("ImageNotFoundException", imageNotFound(repo, id));
        throw new EcrError("InvalidParameterException", found.failureReason);
      }
      const digest = found.manifest.digest;
      const state = stateOf(repo.repositoryName, digest);
      const refuse = () =>
        new EcrError(
          "ImageStorageClassUpdateNotSupportedException",
          `The image with digest '${digest}' is ${state.status}; it cannot be moved to the ${target} storage class`,
        );
      let status: ImageStatus;
      if (target === "ARCHIVE") {
        if (state.status !== "ACTIVE") throw refuse();
        status = "ARCHIVED";
        setState(repo.repositoryName, digest, { ...state, status, lastArchivedAt: Date.now() });
      } else {
        if (state.status !== "ARCHIVED") throw refuse();
        status = "ACTIVATING";
        setState(repo.repositoryName, digest, { ...state, status, activeAt: Date.now() + restoreDelayMs });
      }
      return {
        registryId: accountId,
        repositoryName: repo.repositoryName,
        imageId: { imageDigest: digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
        imageStatus: status,
      };
    },

    PutLifecyclePolicy: (input) => {
      const repo = repoOf(input);
      repo.lifecyclePolicyText = String(input.lifecyclePolicyText ?? "");
      return {
        registryId: accountId,
        repositoryName: repo.repositoryName,
        lifecyclePolicyText: repo.lifecyclePolicyText,
      };
    },
    GetLifecyclePolicy: (input) => {
      const repo = repoOf(input);
      if (repo.lifecyclePolicyText === undefined) {
        throw new EcrError(
          "LifecyclePolicyNotFoundException",
          `Lifecycle policy does not exist for the repository with name '${repo.repositoryName}' in the registry with id '${accountId}'`,
        );
      }
      return {
        registryId: accountId,
        repositoryName: repo.repositoryName,
        lifecyclePolicyText: repo.lifecyclePolicyText,
      };
    },
    // API_DeleteLifecyclePolicy: answers the deleted policy; LifecyclePolicyNotFoundException when there is none.
    DeleteLifecyclePolicy: (input) => {
      const repo = repoOf(input);
      const text = repo.lifecyclePolicyText;
      if (text === undefined) {
        throw new EcrError(
          "LifecyclePolicyNotFoundException",
          `Lifecycle policy does not exist for the repository with name '${repo.repositoryName}' in the registry with id '${accountId}'`,
        );
      }
      delete repo.lifecyclePolicyText;
      return {
        registryId: accountId,
        repositoryName: repo.repositoryName,
        lifecyclePolicyText: text,
        lastEvaluatedAt: seconds(Date.now()),
      };
    },
    // API_DeleteRepositoryPolicy: answers the deleted policy; RepositoryPolicyNotFoundException when there is none.
    DeleteRepositoryPolicy: (input) => {
      const repo = repoOf(input);
      const text = repo.policyText;
      if (text === undefined) {
        throw new EcrError(
          "RepositoryPolicyNotFoundException",
          `Repository policy does not exist for the repository with name '${repo.repositoryName}' in the registry with id '${accountId}'`,
        );
      }
      delete repo.policyText;
      return { registryId: accountId, repositoryName: repo.repositoryName, policyText: text };
    },
    SetRepositoryPolicy: (input) => {
      const repo = repoOf(input);
      repo.policyText = String(input.policyText ?? "");
      return { registryId: accountId, repositoryName: repo.repositoryName, policyText: repo.policyText };
    },
    GetRepositoryPolicy: (input) => {
      const repo = repoOf(input);
      if (repo.policyText === undefined) {
        throw new EcrError(
          "RepositoryPolicyNotFoundException",
          `Repository policy does not exist for the repository with name '${repo.repositoryName}' in the registry with id '${accountId}'`,
        );
      }
      return { registryId: accountId, repositoryName: repo.repositoryName, policyText: repo.policyText };
    },
    PutImageTagMutability: (input) => {
      const repo = repoOf(input);
      Object.assign(repo, mutabilityOf(input));
      return {
        registryId: accountId,
        repositoryName: repo.repositoryName,
        imageTagMutability: repo.imageTagMutability,
        ...(repo.imageTagMutabilityExclusionFilters.length > 0
          ? { imageTagMutabilityExclusionFilters: repo.imageTagMutabilityExclusionFilters }
          : {}),
      };
    },
    PutImageScanningConfiguration: (input) => {
      const repo = repoOf(input);
      const scanning = input.imageScanningConfiguration as { scanOnPush?: boolean } | undefined;
      repo.imageScanningConfiguration = { scanOnPush: scanning?.scanOnPush ?? false };
      return {
        registryId: accountId,
        repositoryName: repo.repositoryName,
        imageScanningConfiguration: repo.imageScanningConfiguration,
      };
    },
    TagResource: (input) => {
      const repo = repoByArn(String(input.resourceArn ?? ""));
      for (const tag of (input.tags ?? []) as { Key: string; Value: string }[]) {
        repo.tags = repo.tags.filter((t) => t.Key !== tag.Key).concat({ Key: tag.Key, Value: tag.Value });
      }
      return {};
    },
    // API_UntagResource: removes the named keys (a key the resource lacks is no error); empty answer.
    UntagResource: (input) => {
      const repo = repoByArn(String(input.resourceArn ?? ""));
      const keys = (input.tagKeys ?? []) as string[];
      repo.tags = repo.tags.filter((t) => !keys.includes(t.Key));
      return {};
    },
    ListTagsForResource: (input) => ({ tags: repoByArn(String(input.resourceArn ?? "")).tags }),
  };
  const repoByArn = (arn: string): EcrRepositoryState => {
    const repo = [...repos.values()].find((r) => r.repositoryArn === arn);
    if (!repo) throw notFound(arn.split(":repository/")[1] ?? arn);
    return repo;
  };

  const answer = (res: ServerResponse, status: number, body: unknown, errorType?: string) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": randomBytes(16).toString("hex"),
      ...(errorType ? { "x-amzn-errortype": errorType } : {}),
    });
    res.end(text);
  };

  const api = createServer((req, res) => {
    const target = String(req.headers["x-amz-target"] ?? "");
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    (async () => {
      const input = await readJson(req);
      // A regional endpoint refuses a request signed for another region, as ECR's does (SigV4's
      // credential scope is <date>/<region>/ecr/aws4_request).
      const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/ecr\//.exec(String(req.headers.authorization ?? ""));
      if (scope && scope[1] !== region)
        throw new EcrError(
          "InvalidSignatureException",
          `Credential should be scoped to a valid region. (signed for ${scope[1]}, this endpoint is ${region})`,
          403,
        );
      calls[operation] = (calls[operation] ?? 0) + 1;
      const injection = injected.get(operation);
      if (injection && injection.times > 0) {
        injection.times -= 1;
        if (injection.errorType === "stall") return new Promise<never>(() => {}); // never answered
        throw new EcrError(
          injection.errorType,
          `Injected ${injection.errorType} for ${operation}`,
          statusFor(injection.errorType),
        );
      }
      const handler = operations[operation];
      if (!handler) throw new EcrError("UnknownOperationException", `Unknown operation ${target}`);
      return handler(input);
    })().then(
      (output) => answer(res, 200, output ?? {}),
      (error: unknown) => {
        if (error instanceof EcrError)
          answer(res, error.status, { __type: error.type, message: error.message }, error.type);
        else answer(res, 500, { __type: "ServerException", message: String(error) }, "ServerException");
      },
    );
  });
  api.keepAliveTimeout = 1000;
  await new Promise<void>((done, fail) => {
    api.once("error", fail);
    api.listen(0, "127.0.0.1", () => done());
  });
  const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  return {
    apiUrl,
    registryHost: gate.host,
    proxyEndpoint: gateUrl,
    password,
    token,
    accountId,
    region,
    calls,
    gateCounts: () => gate.counts(),
    gateRequests: () => gate.requests(),
    resetCounts() {
      for (const key of Object.keys(calls)) delete calls[key];
      gate.resetCounts();
    },
    client: () =>
      new ECRClient({ endpoint: apiUrl, region, credentials: { accessKeyId: "x", secretAccessKey: "x" } }),
    env: () => ({
      AWS_ENDPOINT_URL_ECR: apiUrl,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: "AKIDLOCALECRTEST",
      AWS_SECRET_ACCESS_KEY: "local-ecr-test-secret",
      AWS_EC2_METADATA_DISABLED: "true",
    }),
    failNext(operation, errorType, times = 1) {
      injected.set(operation, { errorType, times });
    },
    repositories: () =>
      [...repos.values()]
        .map((r) => structuredClone(r))
        .sort((a, b) => a.repositoryName.localeCompare(b.repositoryName)),
    archive(repository, reference) {
      if (!repos.has(repository)) throw new Error(`archive: no repository ${repository}`);
      const digest = digestOf(repository, reference);
      if (!digest || !storage.manifests(repository).some((m) => m.digest === digest))
        throw new Error(`archive: no image ${repository}:${reference}`);
      const { lastActivatedAt } = stateOf(repository, digest);
      setState(repository, digest, { status: "ARCHIVED", lastArchivedAt: Date.now(), lastActivatedAt });
      return digest;
    },
    imageStatus(repository, reference) {
      const digest = digestOf(repository, reference);
      if (!digest || !storage.manifests(repository).some((m) => m.digest === digest)) return undefined;
      return stateOf(repository, digest).status;
    },
    completeRestores() {
      for (const state of storageStates.values()) {
        if (state.status !== "ACTIVATING") continue;
        state.status = "ACTIVE";
        state.lastActivatedAt = Date.now();
        delete state.activeAt;
      }
    },
    async stop() {
      await Promise.all([
        gate.stop(),
        new Promise<void>((done) => {
          api.close(() => done());
          api.closeAllConnections();
        }),
      ]);
    },
  };
}
