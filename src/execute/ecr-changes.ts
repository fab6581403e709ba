/**
 * The changes ecr-mirror makes through ECR's API: create a repository with the list's settings (tag
 * mutability and its exclusion filters, scan on push, encryption, resource tags, then the lifecycle and
 * repository policies), restore archived tags (UpdateImageStorageClass to STANDARD, then read back), and
 * remove pruned tags with BatchDeleteImage (per-id failures reported, not thrown).
 * Existing repositories are never changed.
 */
import {
  BatchDeleteImageCommand,
  CreateRepositoryCommand,
  type CreateRepositoryCommandInput,
  type ECRClient,
  PutLifecyclePolicyCommand,
  SetRepositoryPolicyCommand,
  UpdateImageStorageClassCommand,
} from "@aws-sdk/client-ecr";
import { MirrorError } from "../errors.js";
import type { RepositorySettings } from "../list/model.js";
import { EcrObserver, explainAwsError } from "../observe/ecr.js";
import type { RestoreStep } from "../plan/model.js";
import { DigestMismatch, type ExecuteDeps, type RestoreResult } from "./execute.js";

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

/**
 * Restores an archived tag's image to the standard storage class (UpdateImageStorageClass, by the digest the
 * plan saw, so the image the tag held is the one restored). ECR answers ACTIVATING: the image is pullable once
 * it is ACTIVE, typically within 20 minutes (userguide/restore-image.html).
 */
export async function restoreEcrImage(client: ECRClient, step: RestoreStep): Promise<RestoreResult> {
  const answer = await client
    .send(
      new UpdateImageStorageClassCommand({
        repositoryName: step.repository,
        imageId: step.targetDigest ? { imageDigest: step.targetDigest } : { imageTag: step.tag },
        targetStorageClass: "STANDARD",
      }),
    )
    .catch((e: unknown) => {
      throw explainAwsError(e, `ecr:UpdateImageStorageClass on ${step.repository}:${step.tag}`);
    });
  return { digest: answer.imageId?.imageDigest ?? null, status: answer.imageStatus ?? null };
}

/**
 * Reads a restored tag back with the same DescribeImages walk observation uses (every status): the tag must hold
 * the plan's digest, and its image must be ACTIVATING or ACTIVE. Resolves the digest.
 */
export async function verifyEcrRestore(
  client: ECRClient,
  step: RestoreStep,
  restored: RestoreResult,
): Promise<string> {
  const target = `${step.repository}:${step.tag}`;
  if (restored.status !== null && restored.status !== "ACTIVATING" && restored.status !== "ACTIVE")
    throw new MirrorError(`ECR left ${target} ${restored.status} after the restore`);
  const found = await new EcrObserver(client).tags(step.repository);
  const digest = found?.tags.get(step.tag);
  if (!found || digest === undefined) throw new MirrorError(`${target} is gone after the restore`);
  const expected = step.targetDigest ?? restored.digest;
  if (expected !== null && digest !== expected) throw new DigestMismatch(target, digest, expected);
  if (found.archived.get(step.tag) === "ARCHIVED")
    throw new MirrorError(`${target} is still ARCHIVED after the restore`, {
      hint: "ECR accepted UpdateImageStorageClass but did not start the restore: run the sync again",
    });
  return digest;
}

/** The ECR side of `ExecuteDeps`. */
export function ecrTargetChanges(
  client: ECRClient,
): Pick<ExecuteDeps, "createRepository" | "deleteTags" | "restore" | "verifyRestore"> {
  return {
    createRepository: (name, settings) => createEcrRepository(client, name, settings),
    restore: (step) => restoreEcrImage(client, step),
    verifyRestore: (step, restored) => verifyEcrRestore(client, step, restored),
    deleteTags: (repository, tags) => deleteEcrTags(client, repository, tags),
  };
}

/**
 * Any OCI registry (`type: oci`, `crane registry serve`): repositories come into being with the first push,
 * nothing is archived (the planner never restores there), and ecr-mirror does not delete there (pruning is
 * ECR-only).
 */
export const ociTargetChanges: Pick<
  ExecuteDeps,
  "createRepository" | "deleteTags" | "restore" | "verifyRestore"
> = {
  createRepository: async () => "exists",
  restore: async (step) => {
    throw new Error(`restoring ${step.repository}:${step.tag}: the archive storage class is ECR's only`);
  },
  verifyRestore: async (step) => {
    throw new Error(`restoring ${step.repository}:${step.tag}: the archive storage class is ECR's only`);
  },
  deleteTags: async (repository) => {
    throw new Error(`pruning ${repository}: deleting tags is supported on ECR targets only`);
  },
};
