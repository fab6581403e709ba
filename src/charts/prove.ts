/**
 * Before a pull request merges, the plan proves each chart version it would copy exists upstream: the
 * repository's `index.yaml` lists it (one GET per repository), or the OCI registry holds its tag (one manifest
 * HEAD). What could not be asked (an unreachable index) is not called missing: the plan warns, the copy finds out.
 */
import type { ChartEntry, Upstream } from "../list/model.js";
import { chartSource } from "../plan/plan.js";
import { DistributionClient, type RequestCounts } from "../registry/distribution.js";
import type { RegistrySchemes } from "../registry/scheme.js";
import { credentialFor, type RegistryCredential } from "../tools/credentials.js";
import { chartFetchAddress } from "../tools/fetch-address.js";
import { createChartVersionLister } from "./repository.js";

export interface ChartProof {
  /** Chart step source (`chartSource`) -> why the upstream does not have it. */
  missing: Map<string, string>;
  /** Chart step source -> why it could not be asked (not proof that it is missing: the plan warns). */
  unreachable: Map<string, string>;
  counts: RequestCounts;
}

export async function missingChartVersions(
  charts: readonly ChartEntry[],
  upstreams: readonly Upstream[],
  credentials: readonly RegistryCredential[],
  options: { fetch?: typeof fetch; schemes?: RegistrySchemes } = {},
): Promise<ChartProof> {
  const counts: RequestCounts = {};
  const missing = new Map<string, string>();
  const unreachable = new Map<string, string>();
  const lister = createChartVersionLister({
    upstreams,
    credentials,
    counts,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.schemes ? { schemes: options.schemes } : {}),
  });
  for (const chart of charts) {
    try {
      const why = chart.kind === "http" ? await notInIndex(chart, lister) : await notInRegistry(chart);
      if (why) missing.set(chartSource(chart), why);
    } catch (e) {
      unreachable.set(chartSource(chart), ((e as Error).message ?? String(e)).split("\n")[0]!);
    }
  }
  return { missing, unreachable, counts };

  async function notInRegistry(chart: ChartEntry): Promise<string | null> {
    const address = chartFetchAddress(chart.source, upstreams);
    const slash = address.reference.indexOf("/");
    const registry = address.reference.slice(0, slash);
    const repository = address.reference.slice(slash + 1);
    const credential = credentialFor(registry, credentials);
    const client = new DistributionClient({
      baseUrl: `https://${registry}`,
      auth: credential ? { username: credential.username, password: credential.password } : null,
      counts,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.schemes ? { schemes: options.schemes } : {}),
    });
    const digest = await client.headManifest(repository, chart.tag);
    return digest ? null : `${client.describe(repository)} has no tag ${chart.tag} (404)`;
  }
}

async function notInIndex(
  chart: ChartEntry,
  lister: ReturnType<typeof createChartVersionLister>,
): Promise<string | null> {
  const versions = await lister.repositoryVersions(chart.source, chart.name);
  if (versions === null) return `the repository's index.yaml lists no chart ${chart.name}`;
  return versions.includes(chart.version)
    ? null
    : `the repository's index.yaml has no ${chart.name} ${chart.version} (it has ${versions.slice(0, 5).join(", ")}${versions.length > 5 ? ", …" : ""})`;
}
