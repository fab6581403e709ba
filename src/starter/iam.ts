/**
 * The IAM policies ecr-mirror needs, written once: `ecr-mirror init` writes them as files and the README
 * shows them. Every ECR action here is one the product calls, through the AWS SDK (`call` names the SDK
 * operation; test/starter/iam.test.ts checks the list against every ECR command src/ imports, both ways) or
 * through the registry API, where crane and helm push and the layer mounts go (`call: null`, with why).
 * Pure: text in, documents out.
 */

export type Role = "plan" | "sync" | "node";

/** Whether an action is granted on the registry (`*`: ECR has no resource for it) or on the mirror's repositories. */
type Scope = "registry" | "repositories";

export interface EcrPermission {
  action: `ecr:${string}`;
  /** The AWS SDK operation ecr-mirror sends for it, or null for a registry-API action (the push and pull protocol). */
  call: string | null;
  roles: readonly Role[];
  scope: Scope;
  why: string;
}

/** Every ECR action ecr-mirror (or a node pulling from the mirror) performs, and the roles that need it. */
export const ECR_PERMISSIONS: readonly EcrPermission[] = [
  {
    action: "ecr:GetAuthorizationToken",
    call: "GetAuthorizationToken",
    roles: ["plan", "sync", "node"],
    scope: "registry",
    why: "the registry address and the token crane, helm and the nodes log in with",
  },
  {
    action: "ecr:DescribeRepositories",
    call: "DescribeRepositories",
    roles: ["plan", "sync"],
    scope: "registry",
    why: "which repositories exist (paged over the whole registry, so it is granted on *)",
  },
  {
    action: "ecr:DescribeImages",
    call: "DescribeImages",
    roles: ["plan", "sync"],
    scope: "repositories",
    why: "which tags each repository holds, with their digests and storage class",
  },
  {
    action: "ecr:BatchGetImage",
    call: "BatchGetImage",
    roles: ["plan", "sync", "node"],
    scope: "repositories",
    why: "a mirrored manifest (platform subsets, verification); nodes pull manifests with it",
  },
  {
    action: "ecr:GetDownloadUrlForLayer",
    call: null,
    roles: ["sync", "node"],
    scope: "repositories",
    why: "layer reads: mounting a shared layer from another repository, and pulls on the nodes",
  },
  {
    action: "ecr:BatchCheckLayerAvailability",
    call: null,
    roles: ["sync"],
    scope: "repositories",
    why: "crane and helm ask whether a layer is already there before uploading it",
  },
  {
    action: "ecr:GetLifecyclePolicy",
    call: "GetLifecyclePolicy",
    roles: ["plan", "sync"],
    scope: "repositories",
    why: "target.reconcileSettings: the lifecycle policy a repository has",
  },
  {
    action: "ecr:GetRepositoryPolicy",
    call: "GetRepositoryPolicy",
    roles: ["plan", "sync"],
    scope: "repositories",
    why: "target.reconcileSettings: the repository policy a repository has",
  },
  {
    action: "ecr:ListTagsForResource",
    call: "ListTagsForResource",
    roles: ["plan", "sync"],
    scope: "repositories",
    why: "target.reconcileSettings: the resource tags a repository has",
  },
  {
    action: "ecr:GetAccountSetting",
    call: "GetAccountSetting",
    roles: ["sync"],
    scope: "registry",
    why: "whether BLOB_MOUNTING is on (without it, mounts are tried and may cost one refused request each)",
  },
  {
    action: "ecr:CreateRepository",
    call: "CreateRepository",
    roles: ["sync"],
    scope: "repositories",
    why: "a repository for each new source, with the list's repositorySettings",
  },
  {
    action: "ecr:TagResource",
    call: "TagResource",
    roles: ["sync"],
    scope: "repositories",
    why: "repositorySettings.tags, on creation and when reconciling",
  },
  {
    action: "ecr:UntagResource",
    call: "UntagResource",
    roles: ["sync"],
    scope: "repositories",
    why: "target.reconcileSettings: tags the list no longer names",
  },
  {
    action: "ecr:PutImageTagMutability",
    call: "PutImageTagMutability",
    roles: ["sync"],
    scope: "repositories",
    why: "target.reconcileSettings: imageTagMutability and its exclusion filters",
  },
  {
    action: "ecr:PutImageScanningConfiguration",
    call: "PutImageScanningConfiguration",
    roles: ["sync"],
    scope: "repositories",
    why: "target.reconcileSettings: scanOnPush",
  },
  {
    action: "ecr:PutLifecyclePolicy",
    call: "PutLifecyclePolicy",
    roles: ["sync"],
    scope: "repositories",
    why: "repositorySettings.lifecyclePolicy, on creation and when reconciling",
  },
  {
    action: "ecr:DeleteLifecyclePolicy",
    call: "DeleteLifecyclePolicy",
    roles: ["sync"],
    scope: "repositories",
    why: "target.reconcileSettings: a lifecycle policy the list no longer names",
  },
  {
    action: "ecr:SetRepositoryPolicy",
    call: "SetRepositoryPolicy",
    roles: ["sync"],
    scope: "repositories",
    why: "repositorySettings.repositoryPolicy, on creation and when reconciling",
  },
  {
    action: "ecr:DeleteRepositoryPolicy",
    call: "DeleteRepositoryPolicy",
    roles: ["sync"],
    scope: "repositories",
    why: "target.reconcileSettings: a repository policy the list no longer names",
  },
  {
    action: "ecr:UpdateImageStorageClass",
    call: "UpdateImageStorageClass",
    roles: ["sync"],
    scope: "repositories",
    why: "restoring archived tags (without it only those steps fail, naming the permission)",
  },
  {
    action: "ecr:BatchDeleteImage",
    call: "BatchDeleteImage",
    roles: ["sync"],
    scope: "repositories",
    why: "target.prune: tags the list no longer names",
  },
  {
    action: "ecr:InitiateLayerUpload",
    call: null,
    roles: ["sync"],
    scope: "repositories",
    why: "crane and helm push: a layer upload (and the mount of a shared layer)",
  },
  {
    action: "ecr:UploadLayerPart",
    call: null,
    roles: ["sync"],
    scope: "repositories",
    why: "crane and helm push: layer bytes",
  },
  {
    action: "ecr:CompleteLayerUpload",
    call: null,
    roles: ["sync"],
    scope: "repositories",
    why: "crane and helm push: the end of a layer upload",
  },
  {
    action: "ecr:PutImage",
    call: null,
    roles: ["sync"],
    scope: "repositories",
    why: "crane and helm push: the manifest (the tag)",
  },
];

/**
 * What the sync role needs on a customer-managed KMS key when repositorySettings.encryption is KMS or
 * KMS_DSSE: ECR checks the key (DescribeKey) and creates grants on it when it creates a repository
 * (CreateGrant, RetireGrant when the repository goes), and encrypts and decrypts layers through it; each only
 * through ECR in the target region (`kms:ViaService`).
 */
export const KMS_ACTIONS = [
  "kms:DescribeKey",
  "kms:CreateGrant",
  "kms:RetireGrant",
  "kms:GenerateDataKey",
  "kms:Decrypt",
] as const;

/** GitHub's OIDC issuer, as the trust policies name it. */
export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

export interface PolicySettings {
  /** The 12-digit account id, or a placeholder. */
  account: string;
  /** The region, or a placeholder. */
  region: string;
  /** `owner/name` of the repository that runs the workflow, or a placeholder. */
  repo: string;
  /** Repository prefixes ecr-mirror writes under (the list's imagePrefix and chartPrefix). */
  prefixes: readonly string[];
  /** KMS key ARNs (or a placeholder) when the list encrypts with KMS; empty otherwise. */
  kmsKeys: readonly string[];
  /** The branch syncs run on (default main). */
  branch?: string;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Record<string, unknown>[];
}

/** `aws`, `aws-us-gov` or `aws-cn`, from the region (a placeholder region gives `aws`). */
export function partitionOf(region: string): string {
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  if (region.startsWith("cn-")) return "aws-cn";
  return "aws";
}

/** The actions a role needs, in the table's order. */
export function actionsFor(role: Role, scope?: Scope): string[] {
  return ECR_PERMISSIONS.filter(
    (p) => p.roles.includes(role) && (scope === undefined || p.scope === scope),
  ).map((p) => p.action);
}

/** The permissions policy of a role: registry-wide actions on `*`, the rest on the mirror's repositories only. */
export function rolePolicy(role: Role, s: PolicySettings): PolicyDocument {
  const partition = partitionOf(s.region);
  const repositories = s.prefixes.map(
    (p) => `arn:${partition}:ecr:${s.region}:${s.account}:repository/${p}/*`,
  );
  const statements: Record<string, unknown>[] = [
    { Sid: "EcrRegistry", Effect: "Allow", Action: actionsFor(role, "registry"), Resource: "*" },
    {
      Sid: role === "node" ? "EcrPull" : "EcrMirrorRepositories",
      Effect: "Allow",
      Action: actionsFor(role, "repositories"),
      Resource: role === "node" ? "*" : repositories,
    },
  ];
  if (role === "sync" && s.kmsKeys.length > 0) {
    statements.push({
      Sid: "KmsForEcrEncryption",
      Effect: "Allow",
      Action: [...KMS_ACTIONS],
      Resource: [...s.kmsKeys],
      Condition: { StringEquals: { "kms:ViaService": `ecr.${s.region}.amazonaws.com` } },
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * The trust policy of the plan role (pull requests: `repo:OWNER/NAME:pull_request`) or the sync role (the
 * default branch: `repo:OWNER/NAME:ref:refs/heads/main`), for GitHub's OIDC provider in the account.
 */
export function trustPolicy(role: "plan" | "sync", s: PolicySettings): PolicyDocument {
  const subject =
    role === "plan" ? `repo:${s.repo}:pull_request` : `repo:${s.repo}:ref:refs/heads/${s.branch ?? "main"}`;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "GitHubActions",
        Effect: "Allow",
        Principal: {
          Federated: `arn:${partitionOf(s.region)}:iam::${s.account}:oidc-provider/${GITHUB_OIDC_HOST}`,
        },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com",
            [`${GITHUB_OIDC_HOST}:sub`]: subject,
          },
        },
      },
    ],
  };
}
