/**
 * The files `ecr-mirror init` writes into a new repository: a starter mirror list (schema comment, one entry,
 * every other form commented), the caller of the reusable workflow, and the IAM policies (./iam.ts). Pure: the
 * settings in, paths and contents out; what is not given stays a placeholder the user replaces.
 */
import { type PolicySettings, partitionOf, rolePolicy, trustPolicy } from "./iam.js";

/** Where the project lives, as every user-facing address names it (the release process keeps it in step). */
export const PROJECT = new URL("https://github.com/ecr-mirror/ecr-mirror").pathname.slice(1);
/** The release the caller workflow uses: the major tag the release workflow moves. */
export const RELEASE_REF = "v1";
export const SCHEMA_URL = `https://raw.githubusercontent.com/${PROJECT}/${RELEASE_REF}/schema/mirrors.schema.json`;

export const PLACEHOLDERS = {
  account: "ACCOUNT_ID",
  region: "REGION",
  repo: "OWNER/REPO",
  kmsKey: "arn:aws:kms:REGION:ACCOUNT_ID:key/KEY_ID",
} as const;

export interface StarterSettings {
  account: string | null;
  region: string | null;
  repo: string | null;
  /** The KMS key the repositories are encrypted with (an ARN, key id or alias), or null for AES256. */
  kmsKey: string | null;
  /** The entry the list starts with (the node configurator's image). */
  firstImage: string;
}

export interface StarterFile {
  path: string;
  content: string;
}

export const LIST_FILE = "mirrors.yaml";
export const WORKFLOW_FILE = ".github/workflows/mirror.yml";

/** The files init writes, in the order it reports them. */
export function starterFiles(s: StarterSettings): StarterFile[] {
  const policy: PolicySettings = {
    account: s.account ?? PLACEHOLDERS.account,
    region: s.region ?? PLACEHOLDERS.region,
    repo: s.repo ?? PLACEHOLDERS.repo,
    prefixes: ["mirrors", "charts"],
    kmsKeys: s.kmsKey === null ? [] : [kmsKeyArn(s)],
  };
  const json = (doc: unknown) => `${JSON.stringify(doc, null, 2)}\n`;
  return [
    { path: LIST_FILE, content: starterList(s) },
    { path: WORKFLOW_FILE, content: callerWorkflow(policy) },
    { path: "iam/plan-role-policy.json", content: json(rolePolicy("plan", policy)) },
    { path: "iam/plan-trust-policy.json", content: json(trustPolicy("plan", policy)) },
    { path: "iam/sync-role-policy.json", content: json(rolePolicy("sync", policy)) },
    { path: "iam/sync-trust-policy.json", content: json(trustPolicy("sync", policy)) },
    { path: "iam/node-role-policy.json", content: json(rolePolicy("node", policy)) },
  ];
}

/** The placeholders a file set still holds, for the closing message. */
export function placeholdersLeft(s: StarterSettings): string[] {
  const left: string[] = [];
  if (s.account === null) left.push(`${PLACEHOLDERS.account} (--account)`);
  if (s.region === null) left.push(`${PLACEHOLDERS.region} (--region)`);
  if (s.repo === null) left.push(`${PLACEHOLDERS.repo} (--repo)`);
  if (s.kmsKey !== null && !s.kmsKey.startsWith("arn:")) left.push("KEY_ID (--kms-key with the key's ARN)");
  return left;
}

/** A key ARN IAM can name: the ARN as given, else one with the key id (an alias cannot be a policy resource). */
function kmsKeyArn(s: StarterSettings): string {
  const key = s.kmsKey!;
  if (key.startsWith("arn:")) return key;
  const region = s.region ?? PLACEHOLDERS.region;
  const id = /^[0-9a-f-]{36}$/.test(key) ? key : "KEY_ID";
  return `arn:${partitionOf(region)}:kms:${region}:${s.account ?? PLACEHOLDERS.account}:key/${id}`;
}

function starterList(s: StarterSettings): string {
  const region = s.region
    ? `  region: ${s.region}\n`
    : "  # region: eu-west-1             # else the workflow's aws-region input, or AWS_REGION\n";
  const account = s.account
    ? `  accountId: "${s.account}"         # checked against the credentials\n`
    : '  # accountId: "123456789012"     # optional (quoted); discovered from the credentials\n';
  const encryption = s.kmsKey
    ? `    encryption: { type: KMS, kmsKey: ${JSON.stringify(s.kmsKey)} }\n`
    : "    # encryption: { type: KMS, kmsKey: alias/ecr }   # default AES256; KMS needs iam/sync-role-policy.json's KMS statement\n";
  return `# yaml-language-server: $schema=${SCHEMA_URL}
#
# The mirror list: what ecr-mirror keeps in ECR. Pods keep their image names: docker.io/library/redis:7.4 is
# pulled from <registry>/mirrors/library/redis:7.4. Check it with \`ecr-mirror validate\`, add to it with
# \`ecr-mirror add REF\`.
version: 1

target:
${region}${account}  imagePrefix: mirrors                # default
  chartPrefix: charts                 # default
  prune: false                        # default: tags the list no longer names are kept in ECR
  repositorySettings:                 # applied when ecr-mirror creates a repository
    scanOnPush: true
    # imageTagMutability: IMMUTABLE_WITH_EXCLUSION   # MUTABLE (default), IMMUTABLE, *_WITH_EXCLUSION
    # imageTagMutabilityExclusionFilters: ["latest"]
${encryption}
images:
  - ${s.firstImage}      # the node configurator's image
  # - redis:7.4                                   # a plain reference: docker.io/library/redis:7.4
  # - quay.io/prometheus/node-exporter:v1.8.2     # another registry: mirrors/quay.io/prometheus/node-exporter
  # - ghcr.io/org/app@sha256:<64 hex>             # pinned to a digest
  # - source: docker.io/library/busybox           # one source, several tags
  #   tags: ["1.37", "1.36"]
  #   platforms: [linux/amd64, linux/arm64]       # only the platforms your nodes run

# charts:
#   - source: https://kubernetes.github.io/ingress-nginx    # an HTTP chart repository
#     name: ingress-nginx
#     versions: ["4.11.3"]
#   - source: oci://ghcr.io/prometheus-community/charts/prometheus-node-exporter   # an OCI chart
#     versions: ["4.39.0"]
`;
}

function callerWorkflow(p: PolicySettings): string {
  const role = (name: string) => `arn:${partitionOf(p.region)}:iam::${p.account}:role/${name}`;
  return `# Plan on pull requests that change the mirror list, sync on merge and nightly (ecr-mirror's reusable workflow).
on:
  pull_request: { paths: [${LIST_FILE}] }
  push: { branches: [main], paths: [${LIST_FILE}] }
  schedule: [{ cron: "17 3 * * *" }]
  workflow_dispatch:
jobs:
  mirror:
    uses: ${PROJECT}/.github/workflows/mirror.yml@${RELEASE_REF}
    permissions: { contents: write, pull-requests: write, id-token: write }
    with:
      aws-region: ${p.region}
      plan-role-arn: ${role("ecr-mirror-plan")}
      sync-role-arn: ${role("ecr-mirror-sync")}
    secrets:
      docker-hub-username: \${{ secrets.DOCKER_HUB_USERNAME }}
      docker-hub-token: \${{ secrets.DOCKER_HUB_TOKEN }}
`;
}
