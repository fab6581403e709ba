// Mirror lists built by hand for the render tests (the list parser is tested on its own).
import type { ImageEntry, MirrorList, Upstream } from "../../src/list/model.js";
import { DEFAULT_REPOSITORY_SETTINGS } from "../../src/list/parse.js";

export const ECR_REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
export const CONFIGURATOR = {
  repository: "mirrors/public.ecr.aws/aws-cli/aws-cli",
  digest: `sha256:${"ab".repeat(32)}`,
};

export function upstream(host: string, prefix: string, extra: Partial<Upstream> = {}): Upstream {
  return { host, prefix, endpoint: null, redirect: true, fallback: false, location: null, ...extra };
}

/** One image of `upstream` (`<host>/org/app:1`): nodes redirect only the hosts the list's images use. */
function imageOf(u: Upstream, line: number): ImageEntry {
  const path = u.host === "docker.io" ? "library/app" : "org/app";
  return {
    source: `${u.host}/${path}:1`,
    reference: { domain: u.host, path, tag: "1", digest: null },
    repository: `${u.prefix}/${path}`,
    platforms: [],
    location: { file: "mirror.yaml", line, column: 5 },
  };
}

/** A list naming one image of each upstream. */
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
      reconcileSettings: false,
      pruneLocation: null,
      repositorySettings: { ...DEFAULT_REPOSITORY_SETTINGS },
    },
    upstreams,
    images: upstreams.map((u, i) => imageOf(u, i + 2)),
    charts: [],
  };
}

export const standardList = () =>
  mirrorList([
    upstream("quay.io", "mirrors/quay.io"),
    upstream("docker.io", "mirrors"),
    upstream("public.ecr.aws", "mirrors/public.ecr.aws"),
  ]);
