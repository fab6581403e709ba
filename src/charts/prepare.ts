/**
 * The chart part of planning, before the planner runs: version ranges resolved into concrete versions,
 * then, for charts with `images: true`, their images discovered and added to the list. A list without
 * ranges and without `images: true` costs nothing here: no request, no process. Neither does a chart
 * version the chart images record (./record.ts) already holds with the same values.
 */
import type { ChartEntry, MirrorList, Upstream } from "../list/model.js";
import { ObserveError } from "../observe/ecr.js";
import type { PlanWarning } from "../plan/model.js";
import type { RequestCounts } from "../registry/distribution.js";
import { RegistrySchemes } from "../registry/scheme.js";
import { type ChartDiscovery, type ChartImagesRecord, recordedDiscovery } from "../render/chart-images.js";
import {
  credentialFor,
  openCredentialSession,
  type RegistryCredential,
  type SecretMask,
} from "../tools/credentials.js";
import { chartFetchAddress } from "../tools/fetch-address.js";
import { Helm } from "../tools/helm.js";
import { type InstallOptions, installHelm } from "../tools/install.js";
import type { InvocationCounter, ToolLimits } from "../tools/runner.js";
import {
  type ChartRenderer,
  createHelmChartRenderer,
  mergeChartDiscoveries,
  renderChartImages,
} from "./discover.js";
import { createChartVersionLister } from "./repository.js";
import { resolveChartVersions } from "./resolve.js";

export interface ChartPreparationOptions {
  upstreamCredentials: readonly RegistryCredential[];
  fetch?: typeof fetch;
  /** Renders charts for image discovery; by default helm, installed through the tool cache on first use. */
  renderer?: ChartRenderer;
  /** For the default renderer. */
  mask?: SecretMask;
  helm?: InstallOptions;
  /** An already installed helm (a test's stand-in, the sync's own copy). */
  helmBinary?: string | null;
  /** Bounds on every helm process (stall timeout, overall limit). */
  toolLimits?: ToolLimits;
  tempRoot?: string;
  counter?: InvocationCounter;
  log?: (line: string) => void;
  /**
   * The chart images record of an earlier run (`chart-images.json`): a chart version whose source, name,
   * version and values match is not downloaded or rendered; its recorded images are used.
   */
  known?: ChartImagesRecord | null;
  /** What each registry answered on in this run (crane's scheme rule; helm needs it as --plain-http). */
  schemes?: RegistrySchemes;
}

export interface PreparedCharts {
  list: MirrorList;
  warnings: PlanWarning[];
  /** Upstream requests made (`index`, `tags-list`, `token`). */
  counts: RequestCounts;
  /** What discovery found per chart version with `images: true` (recorded or rendered now): the next record. */
  discovered: ChartDiscovery[];
  /** Chart versions rendered by this run (the others came from the record). */
  rendered: number;
}

/** Whether the list needs chart preparation at all. */
export function needsChartPreparation(list: MirrorList): boolean {
  return (list.chartRanges?.length ?? 0) > 0 || list.charts.some((c) => c.images !== null);
}

/**
 * Resolves ranges and discovers chart images. Throws an `ObserveError` listing every range that could
 * not be resolved (an unreachable index, an unknown chart, no matching version): nothing runs then.
 */
export async function prepareCharts(
  list: MirrorList,
  options: ChartPreparationOptions,
): Promise<PreparedCharts> {
  const counts: RequestCounts = {};
  if (!needsChartPreparation(list)) return { list, warnings: [], counts, discovered: [], rendered: 0 };
  const schemes = options.schemes ?? new RegistrySchemes(options.fetch);
  const lister = createChartVersionLister({
    upstreams: list.upstreams,
    credentials: options.upstreamCredentials,
    counts,
    schemes,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const resolved = await resolveChartVersions(list, lister);
  if (resolved.problems.length > 0) {
    throw new ObserveError(
      "chart version ranges could not be resolved:",
      "fix the versionRange entries named above, or list exact versions",
      resolved.problems,
    );
  }
  const warnings = [...resolved.warnings];
  const wanted = resolved.list.charts.filter((c) => c.images !== null);
  const recorded: ChartDiscovery[] = [];
  const missed: ChartEntry[] = [];
  for (const chart of wanted) {
    const hit = recordedDiscovery(options.known ?? null, chart);
    if (hit) recorded.push(hit);
    else missed.push(chart);
  }
  const finish = (found: ChartDiscovery[], failures?: Map<ChartEntry, PlanWarning>): PreparedCharts => {
    const merged = mergeChartDiscoveries(resolved.list, [...recorded, ...found], failures);
    return {
      list: merged.list,
      warnings: [...warnings, ...merged.warnings],
      counts,
      discovered: [...recorded, ...found],
      rendered: missed.length,
    };
  };
  // Every chart version is in the record (or none has images: true): no helm, no download, no process.
  if (missed.length === 0) return finish([]);
  if (recorded.length > 0)
    options.log?.(
      `Chart images: ${recorded.length} chart version(s) from the record, ${missed.length} to render`,
    );

  const rendered = options.renderer
    ? await renderChartImages(missed, options.renderer)
    : await renderWithHelm(missed, resolved.list.upstreams, { ...options, schemes });
  return finish(rendered.found, rendered.failures);
}

/** Renders the charts with helm (installed through the tool cache unless given), logged in to their OCI upstreams. */
async function renderWithHelm(missed: ChartEntry[], upstreams: Upstream[], options: ChartPreparationOptions) {
  const mask = options.mask;
  if (!mask) throw new Error("prepareCharts needs a SecretMask to run helm");
  const binary =
    options.helmBinary ??
    (await installHelm({ ...options.helm, ...(options.log ? { log: options.log } : {}) })).path;
  const session = await openCredentialSession({
    credentials: options.upstreamCredentials,
    mask,
    ...(options.tempRoot ? { tempRoot: options.tempRoot } : {}),
  });
  try {
    const helm = new Helm({
      binary,
      env: session.helmEnv(),
      registryConfig: session.helmRegistryConfig,
      ...(options.toolLimits ? { limits: options.toolLimits } : {}),
      redact: (t) => mask.redact(t),
      ...(options.counter ? { counter: options.counter } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    // helm reads registry credentials from its own config: log in to the OCI upstreams that have some.
    const schemes = options.schemes ?? new RegistrySchemes(options.fetch);
    const hosts = new Set<string>();
    for (const chart of missed) {
      if (chart.kind === "oci") hosts.add(chartFetchAddress(chart.source, upstreams).registry);
    }
    for (const host of hosts) {
      const credential = credentialFor(host, options.upstreamCredentials);
      if (credential)
        await helm.registryLogin(host, credential.username, credential.password, {
          plainHttp: (await schemes.resolve(host)) === "http",
        });
    }
    const renderer = createHelmChartRenderer({
      helm,
      upstreams: upstreams,
      workDir: session.dir,
      schemes,
    });
    return await renderChartImages(missed, renderer);
  } finally {
    await session.dispose();
  }
}
