// The IAM policies against what runs actually do: a plan and a sync against the local ECR (the real SDK, a
// real registry behind ECR's gate, the crane and helm stand-ins) that create, copy, reconcile every setting,
// restore an archived tag and prune. Every API call and every registry request they make must be allowed by the
// role that runs them (src/starter/iam.ts): the plan role for the plan, the sync role for the sync.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { connectTarget, planRun, syncRun } from "../../src/run.js";
import { actionsFor } from "../../src/starter/iam.js";
import { SecretMask } from "../../src/tools/credentials.js";
import type { ProxiedRequest } from "../harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { setEnv } from "../harness/env.js";
import { pushImage } from "../harness/images.js";
import { validList } from "../harness/list.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let root: string;
let restoreEnv: (() => void) | undefined;

const POLICY = `{ Version: "2012-10-17", Statement: [{ Sid: pull, Effect: Allow, Principal: { AWS: "arn:aws:iam::210987654321:root" }, Action: ["ecr:BatchGetImage"] }] }`;
const KEEP_10 = `{ rules: [{ rulePriority: 1, selection: { tagStatus: any, countType: imageCountMoreThan, countNumber: 10 }, action: { type: expire } }] }`;

function mirrorList(settings: string, images: string[]): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
  prune: true
  reconcileSettings: true
  repositorySettings:
${settings}
upstreams:
  docker.io: { endpoint: "${upstream.url}" }
images:
${images.map((i) => `  - ${i}`).join("\n")}
`;
  return validList(text);
}

const connect = (list: MirrorList) =>
  connectTarget(list, { mask: new SecretMask(() => {}), ecrClient: ecr.client() });

async function sync(list: MirrorList) {
  return syncRun(list, await connect(list), {
    resync: "digest",
    upstreamCredentials: [],
    mask: new SecretMask(() => {}),
    log: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
    helm: { version: STAND_IN_TOOL_VERSIONS.helm },
  });
}

/** The IAM action ECR authorises a registry request with (the registry API's mapping in the ECR user guide). */
function registryAction(r: ProxiedRequest): string | null {
  if (r.kind === "ping") return null; // authorised by the GetAuthorizationToken token alone
  if (r.kind === "blob-upload")
    return { POST: "ecr:InitiateLayerUpload", PATCH: "ecr:UploadLayerPart", PUT: "ecr:CompleteLayerUpload" }[
      r.method
    ] as string;
  const actions: Record<string, string> = {
    "manifest-head": "ecr:BatchGetImage",
    "manifest-get": "ecr:BatchGetImage",
    "manifest-put": "ecr:PutImage",
    "manifest-delete": "ecr:BatchDeleteImage",
    "blob-head": "ecr:BatchCheckLayerAvailability",
    "blob-get": "ecr:GetDownloadUrlForLayer",
    "tags-list": "ecr:ListImages",
    catalog: "ecr:DescribeRepositories",
  };
  return actions[r.kind] ?? `unknown ${r.method} ${r.path}`;
}

/** What the run since the last reset needed: its API calls and its registry requests, as IAM actions. */
function actionsUsed(): string[] {
  const api = Object.keys(ecr.calls).map((op) => `ecr:${op}`);
  const registry = ecr.gateRequests().flatMap((r) => registryAction(r) ?? []);
  return [...new Set([...api, ...registry])].sort();
}

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing, blobMounting: "ENABLED" });
  root = await mkdtemp(join(tmpdir(), "iam-run-"));
  for (const tool of ["crane", "helm"] as const) await plantToolCache(join(root, "tool-cache"), tool);
  restoreEnv = setEnv({ RUNNER_TOOL_CACHE: join(root, "tool-cache"), RUNNER_TEMP: root });
  for (const [repo, tag] of [
    ["library/redis", "7.0"],
    ["library/redis", "7.2"],
    ["library/nginx", "1.27"],
    ["library/busybox", "1.37"],
  ] as const)
    await pushImage(upstream.url, repo, tag, { seed: `iam-${repo}-${tag}` });
  // The state the next runs start from: two repositories with a lifecycle policy, a repository policy and tags.
  const first = await sync(
    mirrorList(
      `    imageTagMutability: IMMUTABLE\n    lifecyclePolicy: ${KEEP_10}\n    repositoryPolicy: ${POLICY}\n    tags: { team: platform, legacy: "yes" }`,
      ["redis:7.0", "redis:7.2", "nginx:1.27"],
    ),
  );
  expect(first.report.counts).toMatchObject({ created: 2, copied: 3, failed: 0 });
  ecr.archive("mirrors/library/redis", "7.0");
}, 120_000);

afterAll(async () => {
  restoreEnv?.();
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

/** The next list: every setting changed or dropped, redis:7.2 dropped (pruned), busybox new, redis:7.0 archived. */
const next = () =>
  mirrorList("    imageTagMutability: MUTABLE\n    scanOnPush: true\n    tags: { team: mirrors }", [
    "redis:7.0",
    "nginx:1.27",
    "busybox:1.37",
  ]);

describe("the roles allow what the runs do", () => {
  it("a plan needs only the plan role's actions", async () => {
    ecr.resetCounts();
    const target = await connect(next());
    const { plan } = await planRun(next(), target, {
      resync: "digest",
      upstreamCredentials: [],
      proveCopies: true,
    });
    expect(plan.summary).toMatchObject({ "reconcile-settings": 2, restore: 1, copy: 1, delete: 1 });
    const used = actionsUsed();
    expect(used).toContain("ecr:GetRepositoryPolicy");
    expect(used.filter((a) => !actionsFor("plan").includes(a))).toEqual([]);
  });

  it("a sync that creates, copies, reconciles, restores and prunes needs only the sync role's actions", async () => {
    ecr.resetCounts();
    const result = await sync(next());
    expect(result.report.counts).toMatchObject({ created: 1, copied: 1, restored: 1, deleted: 1, failed: 0 });
    const used = actionsUsed();
    // The run did exercise the writes the sync role exists for.
    for (const action of [
      "ecr:CreateRepository",
      "ecr:UntagResource",
      "ecr:DeleteLifecyclePolicy",
      "ecr:DeleteRepositoryPolicy",
      "ecr:PutImageTagMutability",
      "ecr:UpdateImageStorageClass",
      "ecr:BatchDeleteImage",
      "ecr:PutImage",
      "ecr:InitiateLayerUpload",
    ])
      expect(used).toContain(action);
    expect(used.filter((a) => !actionsFor("sync").includes(a))).toEqual([]);
  });
});
