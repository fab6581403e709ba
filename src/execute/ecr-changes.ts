/**
 * The changes ecr-mirror makes through ECR's API: create a repository with the list's settings (tag
 * mutability and its exclusion filters, scan on push, encryption, resource tags, then the lifecycle and
 * repository policies), and remove pruned tags with BatchDeleteImage (per-id failures reported, not thrown).
 * Existing repositories are never changed.
 */
import {
  BatchDeleteImageCommand,
  CreateRepositoryCommand,
  type CreateRepositoryCommandInput,
  type ECRClient,
  PutLifecyclePolicyCommand,
  SetRepositoryPolicyCommand,
} from "@aws-sdk/client-ecr";
import type { RepositorySettings } from "../list/model.js";
import { explainAwsError } from "../observe/ecr.js";
import type { ExecuteDeps } from "./execute.js";

/** The CreateRepository request for `name` with the list's settings. Pure, so it is table-tested. */
export function createRepositoryInput(
  name: string,
  settings: RepositorySettings,
): CreateRepositoryCommandInput {
  const input: CreateRepositoryCommandInput = {
    repositoryName: name,
    imageTagMutability: settings.imageTagMutability,
    imageScanningConfiguration: { scanOnPush: settings.scanOnPush },
    encryptionConfiguration: {
      encryptionType: settings.encryption.type,
      ...(settings.encryption.kmsKey ? { kmsKey: settings.encryption.kmsKey } : {}),
    },
  };
  if (settings.imageTagMutability.endsWith("_WITH_EXCLUSION")) {
    input.imageTagMutabilityExclusionFilters = settings.imageTagMutabilityExclusionFilters.map((filter) => ({
      filterType: "WILDCARD",
      filter,
    }));
  }
  const tags = Object.entries(settings.tags);
  if (tags.length > 0) input.tags = tags.map(([Key, Value]) => ({ Key, Value }));
  return input;
}

function isAlreadyExists(error: unknown): boolean {
  return (error as { name?: string } | null)?.name === "RepositoryAlreadyExistsException";
}

/**
 * Creates the repository and applies its policies. `exists` when it was already there (its settings are
 * left as they are: ecr-mirror never changes a repository it did not just create).
 */
export async function createEcrRepository(
  client: ECRClient,
  name: string,
  settings: RepositorySettings,
): Promise<"created" | "exists"> {
  try {
    await client.send(new CreateRepositoryCommand(createRepositoryInput(name, settings)));
  } catch (error) {
    if (isAlreadyExists(error)) return "exists";
    throw explainAwsError(error, `ecr:CreateRepository on ${name}`);
  }
  if (settings.lifecyclePolicy) {
    await client
      .send(
        new PutLifecyclePolicyCommand({
          repositoryName: name,
          lifecyclePolicyText: settings.lifecyclePolicy,
        }),
      )
      .catch((e: unknown) => {
        throw explainAwsError(e, `ecr:PutLifecyclePolicy on ${name}`);
      });
  }
  if (settings.repositoryPolicy) {
    await client
      .send(new SetRepositoryPolicyCommand({ repositoryName: name, policyText: settings.repositoryPolicy }))
      .catch((e: unknown) => {
        throw explainAwsError(e, `ecr:SetRepositoryPolicy on ${name}`);
      });
  }
  return "created";
}

/** BatchDeleteImage accepts at most 100 image ids a call. */
export const DELETE_BATCH = 100;

/** Removes `tags` from `repository`; resolves the tags ECR could not remove, with its failure code and reason. */
export async function deleteEcrTags(
  client: ECRClient,
  repository: string,
  tags: readonly string[],
): Promise<{ tag: string; reason: string }[]> {
  const failed: { tag: string; reason: string }[] = [];
  for (let i = 0; i < tags.length; i += DELETE_BATCH) {
    const batch = tags.slice(i, i + DELETE_BATCH);
    const response = await client
      .send(
        new BatchDeleteImageCommand({
          repositoryName: repository,
          imageIds: batch.map((imageTag) => ({ imageTag })),
        }),
      )
      .catch((e: unknown) => {
        throw explainAwsError(e, `ecr:BatchDeleteImage on ${repository}`);
      });
    for (const f of response.failures ?? []) {
      const tag = f.imageId?.imageTag;
      if (!tag) continue;
      // An id already gone is what pruning wanted.
      if (f.failureCode === "ImageNotFound") continue;
      failed.push({ tag, reason: `${f.failureCode ?? "failure"}: ${f.failureReason ?? ""}`.trim() });
    }
  }
  return failed;
}

/** The ECR side of `ExecuteDeps`. */
export function ecrTargetChanges(client: ECRClient): Pick<ExecuteDeps, "createRepository" | "deleteTags"> {
  return {
    createRepository: (name, settings) => createEcrRepository(client, name, settings),
    deleteTags: (repository, tags) => deleteEcrTags(client, repository, tags),
  };
}

/**
 * Any OCI registry (`type: oci`, `crane registry serve`): repositories come into being with the first push, and
 * ecr-mirror does not delete there (pruning is ECR-only).
 */
export const ociTargetChanges: Pick<ExecuteDeps, "createRepository" | "deleteTags"> = {
  createRepository: async () => "exists",
  deleteTags: async (repository) => {
    throw new Error(`pruning ${repository}: deleting tags is supported on ECR targets only`);
  },
};
