// Node-side rendering: from the mirror list and the target, the files that make EKS nodes pull
// `docker.io/...` (and every other redirected upstream) from the mirror. Pure and deterministic:
// the same input gives byte-identical files, so a commit-back happens only on a real change.
import { stringify as stringifyYaml } from "yaml";
import type { MirrorList, Upstream } from "../list/model.js";
import { isValidDomain } from "../list/reference.js";
import {
  CHART_IMAGES_FILE,
  CHART_IMAGES_RECORD_VERSION,
  type ChartImagesRecord,
  formatChartImagesRecord,
  recordForList,
} from "./chart-images.js";
import { hostsDirectoryName, type Mirror, mirrorEndpoint, renderHostsToml } from "./hosts-toml.js";
import { type HostsTemplate, NAME, nodeObjects } from "./kubernetes.js";
import { renderNodeadmConfig } from "./node-config.js";
import { renderReadme } from "./readme.js";

/** The upstream image the DaemonSet runs (it must contain the AWS CLI and a POSIX shell). */
export const CONFIGURATOR_SOURCE = "public.ecr.aws/aws-cli/aws-cli";

/** The configurator image mirrored by default (a published AWS CLI v2 tag; override with configurator-image). */
export const DEFAULT_CONFIGURATOR_IMAGE = `${CONFIGURATOR_SOURCE}:2.15.62`;

/** Where the configurator image lands in the target (deep-path nesting under the image prefix). */
export function configuratorRepository(imagePrefix: string): string {
  return `${imagePrefix.replace(/\/+$/, "")}/${CONFIGURATOR_SOURCE}`;
}

export interface NodeRenderInput {
  /**
   * The mirror registry, `host[:port]` (HTTPS) or `http://host[:port]` (a plain-HTTP test
   * registry); null takes `target.registry` from the list.
   */
  registry: string | null;
  /** AWS region for the token; null takes `target.region`, then the region in an ECR host name. */
  region: string | null;
  /** The configurator image in the mirror, pinned by the digest the sync observed (or the list's). */
  configuratorImage: { repository: string; digest: string } | null;
  /** Render the startup taint (NodeConfig) and its removal (DaemonSet RBAC). Default false. */
  startupTaint?: boolean;
  /**
   * What image discovery found in the list's charts (the plan's record). Written as `chart-images.json`
   * when a chart has `images: true`, restricted to the chart versions the list still names; so the next
   * run does not render them again.
   */
  chartImages?: ChartImagesRecord | null;
}

export interface RenderedFile {
  /** Relative to the output folder, `/`-separated. */
  path: string;
  content: string;
  /** File mode, when not the default 0644. */
  mode?: number;
}

export interface RenderProblem {
  message: string;
  hint: string;
}

export type NodeRenderResult = { ok: true; files: RenderedFile[] } | { ok: false; problems: RenderProblem[] };

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ECR_HOST = /\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com|api\.aws)(?:\.cn)?(?::\d+)?$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;

/** The mirror's `host[:port]`; a scheme written before it changes nothing (the scheme rule is the host's). */
function parseMirror(registry: string): Mirror | null {
  const match = /^(?:https?:\/\/)?([^/]+)\/?$/.exec(registry.trim());
  if (!match || !isValidDomain(match[1]!)) return null;
  return { host: match[1]! };
}

/** The redirected upstreams with their hosts.toml folders, sorted; what keeps one from rendering goes to `problems`. */
function redirectedUpstreams(
  list: MirrorList,
  problems: RenderProblem[],
): { upstream: Upstream; directory: string }[] {
  const upstreams = list.upstreams
    .filter((u) => u.redirect)
    .map((u) => ({ upstream: u, directory: hostsDirectoryName(u.host) }))
    .sort((a, b) => (a.directory < b.directory ? -1 : a.directory > b.directory ? 1 : 0));
  if (upstreams.length === 0) {
    problems.push({
      message: "No upstream registry is redirected, so there is no hosts.toml to render.",
      hint: "Add images to the mirror list, or set redirect on an upstream.",
    });
  }
  for (const { upstream } of upstreams) {
    if (!upstream.prefix.replace(/\//g, "")) {
      problems.push({
        message: `The upstream ${upstream.host} has an empty target prefix.`,
        hint: "Nodes need a repository prefix for it, e.g. mirrors or mirrors/quay.io.",
      });
    }
  }
  const keys = new Map<string, string>();
  for (const { upstream, directory } of upstreams) {
    const key = directory.replace(/[^-._a-zA-Z0-9]/g, "_");
    const other = keys.get(key);
    if (!CONFIGMAP_KEY.test(key) || (other !== undefined && other !== upstream.host)) {
      problems.push({
        message: `The upstream ${upstream.host} cannot be told apart from ${other ?? "another upstream"} in a ConfigMap key.`,
        hint: "Redirect only one of them.",
      });
    }
    keys.set(key, upstream.host);
  }
  return upstreams;
}

export function renderNodeConfig(list: MirrorList, input: NodeRenderInput): NodeRenderResult {
  const problems: RenderProblem[] = [];

  const registry = input.registry ?? list.target.registry;
  const mirror = registry ? parseMirror(registry) : null;
  if (!registry) {
    problems.push({
      message: "The mirror registry's address is unknown.",
      hint: "Set target.registry in the mirror list, or run a sync first: it learns the address from ECR (proxyEndpoint).",
    });
  } else if (!mirror) {
    problems.push({
      message: `The mirror registry "${registry}" is not a host[:port] (optionally with http:// or https://).`,
      hint: "Give the registry's address only, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com.",
    });
  }

  const region =
    input.region ?? list.target.region ?? (mirror ? ECR_HOST.exec(mirror.host)?.[1] : null) ?? null;
  if (!region) {
    problems.push({
      message: "The AWS region for the registry token is unknown.",
      hint: "Set target.region in the mirror list (the registry's host name does not carry one).",
    });
  }

  const configurator = input.configuratorImage;
  if (!configurator) {
    problems.push({
      message: `The configurator image's digest is unknown, and the DaemonSet runs it pinned by digest.`,
      hint: `Run a sync first (it mirrors ${CONFIGURATOR_SOURCE} to ${configuratorRepository(list.target.imagePrefix)} and records the digest), or pin it by digest in the mirror list.`,
    });
  } else if (!DIGEST.test(configurator.digest)) {
    problems.push({
      message: `The configurator image digest "${configurator.digest}" is not sha256:<64 hex digits>.`,
      hint: "Use the digest the registry reports for the mirrored image.",
    });
  }

  const upstreams = redirectedUpstreams(list, problems);

  if (problems.length > 0 || !mirror || !region || !configurator || !registry) {
    return { ok: false, problems };
  }

  const templates: HostsTemplate[] = upstreams.map(({ upstream, directory }) => ({
    directory,
    key: directory.replace(/[^-._a-zA-Z0-9]/g, "_"),
    content: renderHostsToml(upstream, mirror),
  }));
  const image = `${mirror.host}/${configurator.repository}@${configurator.digest}`;
  const startupTaint = input.startupTaint ?? false;
  const manifests = nodeObjects({ image, region, templates, startupTaint })
    .map((object) => stringifyYaml(object, { lineWidth: 0 }))
    .join("---\n");

  const files: RenderedFile[] = [
    ...templates.map((t) => ({ path: `hosts/${t.directory}/hosts.toml`, content: t.content })),
    {
      path: `${NAME}.yaml`,
      content: `# Generated by ecr-mirror. Do not edit: re-render instead.\n${manifests}`,
    },
    { path: "nodeconfig.yaml", content: renderNodeadmConfig(startupTaint) },
    {
      path: "README.md",
      content: renderReadme({
        registry: mirror.host,
        region,
        image,
        redirects: upstreams.map(({ upstream, directory }) => ({
          host: upstream.host,
          directory,
          endpoint: mirrorEndpoint(mirror, upstream),
          fallback: upstream.fallback,
        })),
        startupTaint,
      }),
    },
  ];
  if (list.charts.some((c) => c.images !== null) || (list.chartRanges ?? []).some((r) => r.images !== null)) {
    const record = input.chartImages ?? { version: CHART_IMAGES_RECORD_VERSION, charts: [] };
    files.push({ path: CHART_IMAGES_FILE, content: formatChartImagesRecord(recordForList(list, record)) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ok: true, files };
}
