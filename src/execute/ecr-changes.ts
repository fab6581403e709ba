/**
 * The changes ecr-mirror makes through ECR's API: create a repository with the list's settings (tag
 * mutability and its exclusion filters, scan on push, encryption, resource tags, then the lifecycle and
 * repository policies), restore archived tags (UpdateImageStorageClass to STANDARD, then read back), and
 * remove pruned tags with BatchDeleteImage (per-id failures reported, not thrown), and, with
 * `target.reconcileSettings`, bring existing repositories' settings to the list's (then read back).
 * Otherwise existing repositories' settings are never changed.
 */
import {
  BatchDeleteImageCommand,
  CreateRepositoryCommand,
  type CreateRepositoryCommandInput,
  DeleteLifecyclePolicyCommand,
  DeleteRepositoryPolicyCommand,
  type ECRClient,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  PutLifecyclePolicyCommand,
  SetRepositoryPolicyCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateImageStorageClassCommand,
} from "@aws-sdk/client-ecr";
import { MirrorError } from "../errors.js";
import type { RepositorySettings } from "../list/model.js";
import { EcrObserver, explainAwsError } from "../observe/ecr.js";
import type { ReconcileSettingsStep, RestoreStep, SettingChange } from "../plan/model.js";
import { changeText, settingChanges } from "../plan/settings.js";
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

/** The ECR calls that carry out one setting change of `repository` (its ARN for the resource tags). */
async function applySettingChange(
  client: ECRClient,
  repositoryName: string,
  repositoryArn: string,
  change: SettingChange,
): Promise<void> {
  const send = async (operation: string, call: () => Promise<unknown>) => {
    await call().catch((e: unknown) => {
      throw explainAwsError(e, `ecr:${operation} on ${repositoryName}`);
    });
  };
  switch (change.setting) {
    case "imageTagMutability": {
      const filters = change.to.filters.map((filter) => ({ filterType: "WILDCARD" as const, filter }));
      return send("PutImageTagMutability", () =>
        client.send(
          new PutImageTagMutabilityCommand({
            repositoryName,
            imageTagMutability: change.to.mode,
            ...(filters.length > 0 ? { imageTagMutabilityExclusionFilters: filters } : {}),
          }),
        ),
      );
    }
    case "scanOnPush":
      return send("PutImageScanningConfiguration", () =>
        client.send(
          new PutImageScanningConfigurationCommand({
            repositoryName,
            imageScanningConfiguration: { scanOnPush: change.to },
          }),
        ),
      );
    case "lifecyclePolicy": {
      const text = change.to;
      return text === null
        ? send("DeleteLifecyclePolicy", () =>
            client.send(new DeleteLifecyclePolicyCommand({ repositoryName })),
          )
        : send("PutLifecyclePolicy", () =>
            client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: text })),
          );
    }
    case "repositoryPolicy": {
      const text = change.to;
      return text === null
        ? send("DeleteRepositoryPolicy", () =>
            client.send(new DeleteRepositoryPolicyCommand({ repositoryName })),
          )
        : send("SetRepositoryPolicy", () =>
            client.send(new SetRepositoryPolicyCommand({ repositoryName, policyText: text })),
          );
    }
    case "tags": {
      const { from, to } = change;
      const removed = Object.keys(from).filter((k) => !(k in to));
      const set = Object.entries(to).filter(([k, v]) => from[k] !== v);
      if (removed.length > 0)
        await send("UntagResource", () =>
          client.send(new UntagResourceCommand({ resourceArn: repositoryArn, tagKeys: removed })),
        );
      if (set.length > 0)
        await send("TagResource", () =>
          client.send(
            new TagResourceCommand({
              resourceArn: repositoryArn,
              tags: set.map(([Key, Value]) => ({ Key, Value })),
            }),
          ),
        );
    }
  }
}

/**
 * Brings an existing repository's settings to the list's: each change of the step through its ECR call, then the
 * settings read back (DescribeRepositories, GetLifecyclePolicy, GetRepositoryPolicy, ListTagsForResource) and
 * compared with the list again; throws naming what still differs.
 */
export async function reconcileEcrSettings(
  client: ECRClient,
  step: ReconcileSettingsStep,
  settings: RepositorySettings,
): Promise<void> {
  const observer = new EcrObserver(client);
  const found = await observer.repository(step.repository);
  if (!found?.repositoryArn) throw new MirrorError(`repository ${step.repository} is gone`);
  for (const change of step.changes)
    await applySettingChange(client, step.repository, found.repositoryArn, change);
  const after = await observer.repositoryWithSettings(step.repository);
  if (!after) throw new MirrorError(`repository ${step.repository} is gone after its settings were changed`);
  const left = settingChanges(after, settings);
  if (left.length > 0)
    throw new MirrorError(
      `${step.repository} still differs from the list after its settings were changed: ${left.map(changeText).join("; ")}`,
      { hint: "another job or person changes this repository's settings at the same time: rerun the sync" },
    );
}

/** The ECR side of `ExecuteDeps`. */
export function ecrTargetChanges(
  client: ECRClient,
): Pick<ExecuteDeps, "createRepository" | "deleteTags" | "restore" | "verifyRestore" | "reconcileSettings"> {
  return {
    createRepository: (name, settings) => createEcrRepository(client, name, settings),
    reconcileSettings: (step, settings) => reconcileEcrSettings(client, step, settings),
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
  "createRepository" | "deleteTags" | "restore" | "verifyRestore" | "reconcileSettings"
> = {
  createRepository: async () => "exists",
  reconcileSettings: async (step) => {
    throw new Error(`reconciling the settings of ${step.repository}: repository settings are ECR's only`);
  },
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
