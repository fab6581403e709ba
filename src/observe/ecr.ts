/**
 * What an ECR registry holds, through `@aws-sdk/client-ecr`: the repositories under the managed
 * prefixes (DescribeRepositories paged over the registry: one call per 1000 repositories, instead
 * of asking by name, where one missing name fails the whole call) and their tags with digests and
 * storage status (DescribeImages, TAGGED, every status, 1000 images a page), both through the SDK's
 * paginators, with bounded concurrency and the SDK's adaptive retries.
 *
 * Why DescribeImages and not ListImages: since ECR's archive storage class, both return only ACTIVE
 * images unless `filter.imageStatus` says otherwise (API_ListImagesFilter, API_DescribeImagesFilter),
 * so an archived tag looks absent; ListImages with `imageStatus: ANY` lists it, but its image ids carry
 * no status, while DescribeImages' ImageDetail has `imageStatus` (API_ImageDetail). One DescribeImages
 * walk per repository says both what is there and what is archived, at the call count ListImages had.
 */
import {
  BatchGetImageCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  type ECRClientConfig,
  GetLifecyclePolicyCommand,
  GetRepositoryPolicyCommand,
  LifecyclePolicyNotFoundException,
  ListTagsForResourceCommand,
  paginateDescribeImages,
  paginateDescribeRepositories,
  type Repository,
  RepositoryNotFoundException,
  RepositoryPolicyNotFoundException,
} from "@aws-sdk/client-ecr";
import { MirrorError } from "../errors.js";
import type { ListProblem, TagMutability } from "../list/model.js";
import { mapWithConcurrency } from "../pool.js";
import type { ArchivedStatus, ObservedRepository, ObservedSettings, ObservedTarget } from "./model.js";

export class ObserveError extends MirrorError {
  constructor(message: string, hint?: string, problems?: readonly ListProblem[]) {
    super(message, { hint, ...(problems ? { problems } : {}) });
  }
}

/** Attempts the SDK makes for one ECR call (its adaptive mode: backoff plus a client-side rate limiter). */
export const ECR_MAX_ATTEMPTS = 5;
/** Connecting to the ECR endpoint, in milliseconds. */
export const ECR_CONNECTION_TIMEOUT_MS = 10_000;
/** One ECR call, request and response, in milliseconds (a page of 1000 images answers in well under a second). */
export const ECR_REQUEST_TIMEOUT_MS = 60_000;

/**
 * An ECR client and the only retry layer for ECR calls: the SDK's adaptive retries (throttling and
 * 5xx), `ECR_MAX_ATTEMPTS` attempts, each bounded by a connection and a request timeout so a
 * stalled endpoint fails in bounded time. The endpoint comes from AWS_ENDPOINT_URL_ECR when set.
 */
export function createEcrClient(region: string, config: ECRClientConfig = {}): ECRClient {
  return new ECRClient({
    region,
    retryMode: "adaptive",
    maxAttempts: ECR_MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: ECR_CONNECTION_TIMEOUT_MS,
      requestTimeout: ECR_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...config,
  });
}

interface SdkMetadata {
  $metadata?: { httpStatusCode?: number; attempts?: number; totalRetryDelay?: number };
}

/** An ECR call that failed after the SDK's retries; keeps `$metadata` so no outer layer retries it again. */
export class EcrCallError extends ObserveError {
  override name = "EcrCallError";
  constructor(
    message: string,
    hint: string | undefined,
    readonly $metadata: NonNullable<SdkMetadata["$metadata"]>,
  ) {
    super(message, hint);
  }
}

/** Turns SDK failures a person can fix into one readable error. */
export function explainAwsError(e: unknown, action: string): Error {
  const name = (e as { name?: string }).name ?? "";
  const message = (e as Error).message ?? String(e);
  if (
    name === "AccessDeniedException" ||
    name === "UnrecognizedClientException" ||
    /not authorized/i.test(message)
  ) {
    return new ObserveError(
      `ECR denied ${action}: ${message}`,
      "the role needs ecr:GetAuthorizationToken, ecr:DescribeRepositories and ecr:DescribeImages to plan (AmazonEC2ContainerRegistryReadOnly has them), and ecr:CreateRepository, push, ecr:UpdateImageStorageClass (to restore archived tags) and ecr:BatchDeleteImage to sync; with target.reconcileSettings also ecr:GetLifecyclePolicy, ecr:GetRepositoryPolicy and ecr:ListTagsForResource to plan (also in AmazonEC2ContainerRegistryReadOnly) and ecr:PutImageTagMutability, ecr:PutImageScanningConfiguration, ecr:PutLifecyclePolicy, ecr:DeleteLifecyclePolicy, ecr:SetRepositoryPolicy, ecr:DeleteRepositoryPolicy, ecr:TagResource and ecr:UntagResource to sync",
    );
  }
  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(message)) {
    return new ObserveError(
      `no AWS credentials for ${action}: ${message}`,
      "configure credentials first, e.g. aws-actions/configure-aws-credentials with role-to-assume (OIDC)",
    );
  }
  const metadata = (e as SdkMetadata).$metadata;
  const status = metadata?.httpStatusCode;
  const attempts = metadata?.attempts ?? 1;
  const after = attempts > 1 ? ` after ${attempts} attempts` : "";
  if (
    /Throttl|TooManyRequests|RequestLimitExceeded/i.test(name) ||
    /rate exceeded/i.test(message) ||
    status === 429
  ) {
    return new EcrCallError(
      `ECR throttled ${action} (${message})${after}`,
      "another job is calling ECR in this account and region at the same time, or the list creates many repositories at once: rerun later, lower the concurrency, or ask AWS to raise the ECR API quota",
      metadata ?? {},
    );
  }
  if (typeof status === "number" && status >= 500) {
    return new EcrCallError(
      `ECR failed ${action} (${name}: ${message})${after}`,
      "ECR had a server error: rerun later",
      metadata ?? {},
    );
  }
  if (
    /TimeoutError|RequestTimeout/i.test(name) ||
    /timed? ?out|ETIMEDOUT|ECONNREFUSED|ECONNRESET/i.test(message)
  ) {
    return new EcrCallError(
      `ECR did not answer ${action} (${message})${after}`,
      `the ECR endpoint did not answer within ${ECR_CONNECTION_TIMEOUT_MS / 1000} s (connect) / ${ECR_REQUEST_TIMEOUT_MS / 1000} s (request): check the network path to ECR (VPC endpoint, proxy, AWS_ENDPOINT_URL_ECR)`,
      metadata ?? {},
    );
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** A DescribeRepositories entry's tag mutability and exclusion filters. */
function observedMutability(
  r: Repository,
): Pick<ObservedRepository, "imageTagMutability" | "imageTagMutabilityExclusionFilters"> {
  return {
    imageTagMutability: (r.imageTagMutability ?? "MUTABLE") as TagMutability,
    imageTagMutabilityExclusionFilters: (r.imageTagMutabilityExclusionFilters ?? [])
      .map((f) => f.filter ?? "")
      .filter(Boolean),
  };
}

export interface EcrObservation {
  target: ObservedTarget;
  /** ECR API calls made, by operation. */
  calls: Record<string, number>;
}

export class EcrObserver {
  readonly calls: Record<string, number> = {};

  constructor(
    private readonly client: ECRClient,
    private readonly concurrency = 8,
  ) {}

  private count(operation: string): void {
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
  }

  /** The SDK paginator's settings: 1000 a page, and every page request counted once as `operation`. */
  private paging(operation: string) {
    return {
      client: this.client,
      pageSize: 1000,
      withCommand: <C>(command: C): C => {
        this.count(operation);
        return command;
      },
    };
  }

  /** Every repository in the registry whose name `keep` accepts. */
  async repositories(keep: (name: string) => boolean): Promise<Repository[]> {
    const found: Repository[] = [];
    try {
      for await (const page of paginateDescribeRepositories(this.paging("DescribeRepositories"), {})) {
        for (const r of page.repositories ?? [])
          if (r.repositoryName && keep(r.repositoryName)) found.push(r);
      }
    } catch (e) {
      throw explainAwsError(e, "ecr:DescribeRepositories");
    }
    return found;
  }

  /**
   * Every tag of one repository with its digest, archived ones included, and the tags whose image is not
   * ACTIVE with its status; null when the repository disappeared meanwhile.
   */
  async tags(
    repositoryName: string,
  ): Promise<{ tags: Map<string, string>; archived: Map<string, ArchivedStatus> } | null> {
    const tags = new Map<string, string>();
    const archived = new Map<string, ArchivedStatus>();
    const pages = paginateDescribeImages(this.paging("DescribeImages"), {
      repositoryName,
      filter: { tagStatus: "TAGGED", imageStatus: "ANY" },
    });
    try {
      for await (const page of pages) {
        for (const image of page.imageDetails ?? []) {
          if (!image.imageDigest) continue;
          const status = image.imageStatus;
          for (const tag of image.imageTags ?? []) {
            tags.set(tag, image.imageDigest);
            if (status === "ARCHIVED" || status === "ACTIVATING") archived.set(tag, status);
          }
        }
      }
    } catch (e) {
      if (e instanceof RepositoryNotFoundException) return null;
      throw explainAwsError(e, `ecr:DescribeImages on ${repositoryName}`);
    }
    return { tags, archived };
  }

  /** The manifest a tag points at (BatchGetImage, which reports a missing image per id), or null. */
  async manifest(repositoryName: string, imageTag: string): Promise<Record<string, unknown> | null> {
    this.count("BatchGetImage");
    const answer = await this.client
      .send(
        new BatchGetImageCommand({
          repositoryName,
          imageIds: [{ imageTag }],
          acceptedMediaTypes: [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
          ],
        }),
      )
      .catch((e: unknown) => {
        throw explainAwsError(e, `ecr:BatchGetImage on ${repositoryName}`);
      });
    const text = answer.images?.[0]?.imageManifest;
    return text ? (JSON.parse(text) as Record<string, unknown>) : null;
  }

  /**
   * A repository's settings besides tag mutability: scan on push and encryption from its DescribeRepositories
   * entry (no call), then GetLifecyclePolicy, GetRepositoryPolicy and ListTagsForResource (three calls; a missing
   * policy is null).
   */
  async settings(repository: Repository): Promise<ObservedSettings> {
    const repositoryName = repository.repositoryName!;
    const call = async <T>(
      operation: string,
      send: () => Promise<T>,
      absent?: new (...a: never[]) => Error,
    ) => {
      this.count(operation);
      try {
        return await send();
      } catch (e) {
        if (absent && e instanceof absent) return null;
        throw explainAwsError(e, `ecr:${operation} on ${repositoryName}`);
      }
    };
    const [lifecycle, policy, tags] = await Promise.all([
      call(
        "GetLifecyclePolicy",
        () => this.client.send(new GetLifecyclePolicyCommand({ repositoryName })),
        LifecyclePolicyNotFoundException,
      ),
      call(
        "GetRepositoryPolicy",
        () => this.client.send(new GetRepositoryPolicyCommand({ repositoryName })),
        RepositoryPolicyNotFoundException,
      ),
      call("ListTagsForResource", () =>
        this.client.send(new ListTagsForResourceCommand({ resourceArn: repository.repositoryArn })),
      ),
    ]);
    return {
      scanOnPush: repository.imageScanningConfiguration?.scanOnPush ?? false,
      encryption: {
        type: repository.encryptionConfiguration?.encryptionType ?? "AES256",
        kmsKey: repository.encryptionConfiguration?.kmsKey ?? null,
      },
      lifecyclePolicy: lifecycle?.lifecyclePolicyText ?? null,
      repositoryPolicy: policy?.policyText ?? null,
      tags: Object.fromEntries((tags?.tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
    };
  }

  /** One repository's DescribeRepositories entry (asked by name), or null when it does not exist. */
  async repository(repositoryName: string): Promise<Repository | null> {
    this.count("DescribeRepositories");
    try {
      const answer = await this.client.send(
        new DescribeRepositoriesCommand({ repositoryNames: [repositoryName] }),
      );
      return answer.repositories?.[0] ?? null;
    } catch (e) {
      if (e instanceof RepositoryNotFoundException) return null;
      throw explainAwsError(e, `ecr:DescribeRepositories on ${repositoryName}`);
    }
  }

  /** One repository as observation sees it, settings included, without its tags; null when it does not exist. */
  async repositoryWithSettings(repositoryName: string): Promise<ObservedRepository | null> {
    const r = await this.repository(repositoryName);
    if (!r) return null;
    return {
      ...observedMutability(r),
      name: repositoryName,
      tags: new Map(),
      settings: await this.settings(r),
    };
  }

  /**
   * The repositories the list wants and, when pruning, every repository under the managed prefixes,
   * each with its tags: one DescribeRepositories page per 1000 repositories, one DescribeImages per repository
   * (per 1000 images), and for the repositories in `settingsOf` three more calls each (`settings`).
   */
  async observe(
    registry: string,
    wanted: ReadonlySet<string>,
    prunePrefixes: readonly string[],
    /** Repositories whose settings are read too (`target.reconcileSettings`: the ones the list names). */
    settingsOf: ReadonlySet<string> = new Set(),
  ): Promise<ObservedTarget> {
    const relevant = (name: string) =>
      wanted.has(name) || prunePrefixes.some((p) => name.startsWith(`${p}/`));
    const repos = await this.repositories(relevant);
    const observed = await mapWithConcurrency(
      repos,
      this.concurrency,
      async (r): Promise<ObservedRepository | null> => {
        const name = r.repositoryName!;
        const found = await this.tags(name);
        if (!found) return null;
        const { tags, archived } = found;
        const settings = settingsOf.has(name) ? await this.settings(r) : null;
        return {
          name,
          ...observedMutability(r),
          tags,
          ...(archived.size > 0 ? { archived } : {}),
          ...(settings ? { settings } : {}),
        };
      },
    );
    return { registry, repositories: new Map(observed.filter((o) => o !== null).map((o) => [o.name, o])) };
  }
}
