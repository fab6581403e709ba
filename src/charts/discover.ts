/**
 * Images inside charts (`images: true`): each such chart version is rendered (`ChartRenderer`), its image
 * references collected (./images.ts) and added to the mirror list as image entries marked with the chart
 * they came from, mapped to target repositories exactly as the list maps its own images. The merge is
 * pure; rendering sits behind `ChartRenderer` (helm, through src/tools/helm.ts).
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ChartEntry, ChartOrigin, ImageEntry, MirrorList, Upstream } from "../list/model.js";
import { imageEntryFor } from "../list/parse.js";
import { referenceName } from "../list/reference.js";
import type { PlanWarning } from "../plan/model.js";
import type { RegistrySchemes } from "../registry/scheme.js";
import type { ChartDiscovery } from "../render/chart-images.js";
import { chartFetchAddress } from "../tools/fetch-address.js";
import type { Helm } from "../tools/helm.js";
import { CHART_LIMITS, type ChartMetadata, readChartMetadata } from "./archive.js";
import { imagesFromManifests } from "./images.js";

export interface RenderedChart {
  /** `helm template` output. */
  manifests: string;
  metadata: Pick<ChartMetadata, "annotations">;
}

export interface ChartRenderer {
  render(chart: ChartEntry): Promise<RenderedChart>;
}

export interface ChartImages {
  chart: ChartEntry;
  /** Normalised references found in the chart. */
  images: string[];
}

function originOf(chart: ChartEntry): ChartOrigin {
  return { name: chart.name, version: chart.version, repository: chart.repository };
}

function imageKey(entry: ImageEntry): string {
  return `${entry.repository}${entry.reference.tag !== null ? `:${entry.reference.tag}` : `@${entry.reference.digest}`}`;
}

/** The list as images from charts are added to it: entries by key, repository owners, the upstreams. */
interface Growing {
  list: MirrorList;
  images: ImageEntry[];
  upstreams: Upstream[];
  byKey: Map<string, ImageEntry>;
  owners: Map<string, string>;
  warnings: PlanWarning[];
}

/** One image reference found in `chart`: added, merged into the entry that has it, or a warning. */
function addChartImage(g: Growing, chart: ChartEntry, origin: ChartOrigin, reference: string): void {
  const mapped = imageEntryFor(
    reference,
    { ...g.list, upstreams: g.upstreams, images: g.images },
    chart.location,
  );
  if (!mapped.ok) {
    g.warnings.push({
      message: `chart ${chart.name} ${chart.version} uses ${reference}, which is not mirrored: ${mapped.error}`,
      ...(mapped.hint ? { hint: mapped.hint } : {}),
      location: chart.location,
    });
    return;
  }
  const entry = mapped.entry;
  const owner = g.owners.get(entry.repository);
  if (owner !== undefined && owner !== referenceName(entry.reference)) {
    g.warnings.push({
      message: `chart ${chart.name} ${chart.version} uses ${reference}, which would land in ${entry.repository} where ${owner} lands; it is not mirrored`,
      hint: "give one of the upstreams its own prefix under upstreams:",
      location: chart.location,
    });
    return;
  }
  const key = imageKey(entry);
  const existing = g.byKey.get(key);
  if (!existing) {
    const added: ImageEntry = { ...entry, fromCharts: [origin] };
    g.images.push(added);
    g.byKey.set(key, added);
    g.owners.set(added.repository, referenceName(added.reference));
    g.upstreams = mapped.upstreams;
    return;
  }
  if (existing.reference.digest !== entry.reference.digest) {
    g.warnings.push({
      message: `chart ${chart.name} ${chart.version} pins ${key} to ${entry.reference.digest ?? "no digest"}, but it is already mirrored as ${existing.source}; that one is kept`,
      location: chart.location,
    });
  } else if (existing.configurator) {
    // ecr-mirror added it for the DaemonSet; a chart pulls it by its own name, so its host is redirected.
    delete existing.configurator;
    existing.fromCharts = [origin];
  } else if (
    existing.fromCharts &&
    !existing.fromCharts.some((o) => o.repository === origin.repository && o.version === origin.version)
  ) {
    existing.fromCharts = [...existing.fromCharts, origin];
  }
}

/**
 * Adds the images found in charts to the list. An image the list names itself stays as it is; one found in
 * several charts is one entry naming every chart. Images that cannot land in the target, or would land in a
 * repository another image owns, are warnings (the chart itself is still mirrored).
 */
export function addChartImages(
  list: MirrorList,
  found: readonly ChartImages[],
): { list: MirrorList; warnings: PlanWarning[] } {
  const images = list.images.map((i) => ({ ...i }));
  const g: Growing = {
    list,
    images,
    upstreams: list.upstreams,
    byKey: new Map(images.map((i) => [imageKey(i), i])),
    owners: new Map(images.map((i) => [i.repository, referenceName(i.reference)])),
    warnings: [],
  };
  for (const { chart, images: references } of found) {
    const origin = originOf(chart);
    for (const reference of references) addChartImage(g, chart, origin, reference);
  }
  return { list: { ...list, images, upstreams: g.upstreams }, warnings: g.warnings };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Renders each chart version and reads the images it uses, sorted (so the plan does not depend on the order
 * helm prints manifests in). A chart that cannot be rendered is a warning naming it and has no discovery: the
 * chart is still mirrored, its images are not.
 */
export async function renderChartImages(
  charts: readonly ChartEntry[],
  renderer: ChartRenderer,
): Promise<{ found: ChartDiscovery[]; failures: Map<ChartEntry, PlanWarning> }> {
  const found: ChartDiscovery[] = [];
  const failures = new Map<ChartEntry, PlanWarning>();
  for (const chart of charts) {
    let rendered: RenderedChart;
    try {
      rendered = await renderer.render(chart);
    } catch (e) {
      failures.set(chart, {
        message: `could not render chart ${chart.name} ${chart.version} to discover its images: ${(e as Error).message}`,
        hint: "check values: in the mirror list (charts often require some); the chart itself is still mirrored",
        location: chart.location,
      });
      continue;
    }
    const discovered = imagesFromManifests(rendered.manifests, {
      name: chart.name,
      version: chart.version,
      annotations: rendered.metadata.annotations,
    });
    found.push({
      chart,
      images: [...discovered.images].sort(compare),
      warnings: discovered.warnings.map((w) => w.message),
    });
  }
  return { found, failures };
}

/**
 * Adds what discovery found (rendered now or recorded) to the list, in the list's chart order, with the
 * discovery warnings and render failures of each chart version in that order too: the plan is the same
 * whichever way the images were learned.
 */
export function mergeChartDiscoveries(
  list: MirrorList,
  found: readonly ChartDiscovery[],
  failures: ReadonlyMap<ChartEntry, PlanWarning> = new Map(),
): { list: MirrorList; warnings: PlanWarning[] } {
  const warnings: PlanWarning[] = [];
  const ordered: ChartDiscovery[] = [];
  for (const chart of list.charts.filter((c) => c.images !== null)) {
    const failure = failures.get(chart);
    if (failure) warnings.push(failure);
    const discovery = found.find((f) => f.chart === chart);
    if (!discovery) continue;
    for (const message of discovery.warnings) warnings.push({ message, location: chart.location });
    ordered.push(discovery);
  }
  const merged = addChartImages(list, ordered);
  return { list: merged.list, warnings: [...warnings, ...merged.warnings] };
}

export interface HelmChartRendererOptions {
  helm: Helm;
  upstreams: readonly Upstream[];
  /** A private folder (the credential session's) for archives and values files. */
  workDir: string;
  /** What each registry answered on in this run (crane's scheme rule): helm gets --plain-http from it. */
  schemes: RegistrySchemes;
}

/** The archive `helm pull` wrote for the chart version (named as helm names it). */
async function pullChart(
  helm: Helm,
  chart: ChartEntry,
  dir: string,
  options: HelmChartRendererOptions,
): Promise<string> {
  if (chart.kind === "http") return helm.pullFromRepository(chart.source, chart.name, chart.version, dir);
  const address = chartFetchAddress(chart.source, options.upstreams);
  return helm.pullFromRegistry(address.ociReference, chart.version, dir, {
    plainHttp: (await options.schemes.resolve(address.registry)) === "http",
  });
}

/** `helm pull` the chart version, read its Chart.yaml, `helm template` it with the list's values. */
export function createHelmChartRenderer(options: HelmChartRendererOptions): ChartRenderer {
  const { helm } = options;
  return {
    async render(chart) {
      const dir = await mkdtemp(join(options.workDir, "ecr-mirror-render-"));
      try {
        const path = await pullChart(helm, chart, dir, options);
        const { size } = await stat(path);
        if (size > CHART_LIMITS.maxArchiveBytes)
          throw new Error(
            `${basename(path)} is ${size} bytes, more than ${CHART_LIMITS.maxArchiveBytes}; not read`,
          );
        const metadata = readChartMetadata(await readFile(path));
        const values = chart.images?.values ?? {};
        let valuesFile: string | null = null;
        if (Object.keys(values).length > 0) {
          valuesFile = join(dir, "values.json"); // JSON is YAML
          await writeFile(valuesFile, JSON.stringify(values), { mode: 0o600 });
        }
        const manifests = await helm.template(chart.name, path, valuesFile);
        return { manifests, metadata };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
