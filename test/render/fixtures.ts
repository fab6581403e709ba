// Mirror lists built by hand for the render tests (the list parser is tested on its own).
import type { MirrorList, Upstream } from "../../src/list/model.js";
import { DEFAULT_REPOSITORY_SETTINGS } from "../../src/list/parse.js";

export const ECR_REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
export const CONFIGURATOR = {
  repository: "mirrors/public.ecr.aws/aws-cli/aws-cli",
  digest: `sha256:${"ab".repeat(32)}`,
};

export function upstream(host: string, prefix: string, extra: Partial<Upstream> = {}): Upstream {
  return { host, prefix, endpoint: null, redirect: true, fallback: false, location: null, ...extra };
}

export function mirrorList(upstreams: Upstream[], registry: string | null = ECR_REGISTRY): MirrorList {
  return {
    file: "mirror.yaml",
    target: {
      type: "ecr",
      region: null,
      accountId: null,
      registry,
      imagePrefix: "mirrors",
      chartPrefix: "charts",
      prune: false,
      maxDeletions: 20,
      pruneLocation: null,
      repositorySettings: { ...DEFAULT_REPOSITORY_SETTINGS },
    },
    upstreams,
    images: [],
    charts: [],
  };
}

export const standardList = () =>
  mirrorList([
    upstream("quay.io", "mirrors/quay.io"),
    upstream("docker.io", "mirrors"),
    upstream("public.ecr.aws", "mirrors/public.ecr.aws"),
  ]);
