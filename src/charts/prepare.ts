/**
 * The chart part of planning, before the planner runs: version ranges resolved into concrete versions,
 * then, for charts with `images: true`, their images discovered and added to the list. A list without
 * ranges and without `images: true` costs nothing here: no request, no process.
 */
import type { MirrorList } from "../list/model.js";
import type { RequestCounts } from "../observe/distribution.js";
import { ObserveError } from "../observe/ecr.js";
import type { PlanWarning } from "../plan/model.js";
import { formatProblem } from "../report/problems.js";
import {
  credentialFor,
  openCredentialSession,
  type RegistryCredential,
  type SecretMask,
} from "../tools/credentials.js";
import { chartFetchAddress } from "../tools/fetch-address.js";
import { Helm } from "../tools/helm.js";
import { type InstallOptions, installHelm } from "../tools/install.js";
import type { InvocationCounter } from "../tools/runner.js";
import { type ChartRenderer, createHelmChartRenderer, discoverChartImages } from "./discover.js";
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
  tempRoot?: string;
  counter?: InvocationCounter;
  log?: (line: string) => void;
}

export interface PreparedCharts {
  list: MirrorList;
  warnings: PlanWarning[];
  /** Upstream requests made (`index`, `tags-list`, `token`). */
  counts: RequestCounts;
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
  if (!needsChartPreparation(list)) return { list, warnings: [], counts };
  const lister = createChartVersionLister({
    upstreams: list.upstreams,
    credentials: options.upstreamCredentials,
    counts,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const resolved = await resolveChartVersions(list, lister);
  if (resolved.problems.length > 0) {
    throw new ObserveError(
      `chart version ranges could not be resolved:\n${resolved.problems.map(formatProblem).join("\n")}`,
      "fix the versionRange entries named above, or list exact versions",
    );
  }
  const warnings = [...resolved.warnings];
  if (!resolved.list.charts.some((c) => c.images !== null)) return { list: resolved.list, warnings, counts };

  if (options.renderer) {
    const discovered = await discoverChartImages(resolved.list, options.renderer);
    return { list: discovered.list, warnings: [...warnings, ...discovered.warnings], counts };
  }
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
      redact: (t) => mask.redact(t),
      ...(options.counter ? { counter: options.counter } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    // helm reads registry credentials from its own config: log in to the OCI upstreams that have some.
    const hosts = new Map<string, boolean>();
    for (const chart of resolved.list.charts) {
      if (chart.images === null || chart.kind !== "oci") continue;
      const address = chartFetchAddress(chart.source, resolved.list.upstreams);
      hosts.set(address.registry, address.plainHttp);
    }
    for (const [host, plainHttp] of hosts) {
      const credential = credentialFor(host, options.upstreamCredentials);
      if (credential) await helm.registryLogin(host, credential.username, credential.password, { plainHttp });
    }
    const renderer = createHelmChartRenderer({
      helm,
      upstreams: resolved.list.upstreams,
      workDir: session.dir,
    });
    const discovered = await discoverChartImages(resolved.list, renderer);
    return { list: discovered.list, warnings: [...warnings, ...discovered.warnings], counts };
  } finally {
    await session.dispose();
  }
}
