/**
 * The audit wired, for both entries: the pods read (a file, stdin, or the API through a kubeconfig), the target
 * observed when asked (the plan's observers: ECR DescribeImages), the chart images record, then the pure audit.
 */
import type { AuditResult } from "./audit/audit.js";
import { auditCluster } from "./audit/audit.js";
import { type PodImage, parsePodList } from "./audit/pods.js";
import { readChartImagesRecord } from "./charts/record.js";
import { MirrorError } from "./errors.js";
import type { MirrorList } from "./list/model.js";
import { fetchPodPages, readKubeconfig, readPodList } from "./observe/kubernetes.js";
import type { ObservedTarget } from "./observe/model.js";
import { targetTag } from "./plan/plan.js";
import { type ConnectSettings, connect } from "./run.js";
import type { SecretMask } from "./tools/credentials.js";

/** Where the pods come from: a file (`-`: stdin), or the API through a kubeconfig. */
export type PodSource = { pods: string } | { kubeconfig: string; context: string | null };

export interface AuditRun {
  list: MirrorList;
  /** The list file's text (where the lines to add go). */
  listText: string;
  source: PodSource;
  stdin: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
  /** How to reach the target; null: offline (`--no-target`), digests are not checked. */
  connect: ConnectSettings | null;
  /** References mirrored through charts (the chart images record), if known. */
  chartImages?: readonly string[];
  mask: SecretMask;
}

/** The pods, read and checked; a MirrorError (located for a bad pod list) when they cannot be. */
async function readPods(run: AuditRun): Promise<PodImage[]> {
  const pages =
    "pods" in run.source
      ? [
          {
            name: run.source.pods === "-" ? "stdin" : run.source.pods,
            text: await readPodList(run.source.pods, run.stdin),
          },
        ]
      : await apiPages(run.source, run.mask);
  const images: PodImage[] = [];
  for (const page of pages) {
    const parsed = parsePodList(page.text, page.name);
    if (!parsed.ok) {
      const p = parsed.problem;
      throw new MirrorError(p.message, {
        hint: p.hint,
        location: { file: p.file, line: p.line, column: p.column },
      });
    }
    for (const image of parsed.images) images.push(image);
  }
  return images;
}

async function apiPages(source: { kubeconfig: string; context: string | null }, mask: SecretMask) {
  const access = await readKubeconfig(source.kubeconfig, source.context, mask);
  const { url, pages } = await fetchPodPages(access);
  return pages.map((text) => ({ name: url, text }));
}

/** What the target holds of the list's repositories (every listed tag's digest), through the plan's observers. */
async function observeTarget(
  list: MirrorList,
  settings: ConnectSettings,
): Promise<{ registry: string; observed: ObservedTarget }> {
  const { target } = await connect(list, settings);
  const wanted = new Set(list.images.map((i) => i.repository));
  const needDigest = new Map<string, Set<string>>();
  for (const i of list.images)
    needDigest.set(i.repository, (needDigest.get(i.repository) ?? new Set()).add(targetTag(i)));
  return { registry: target.registry, observed: await target.observe(wanted, needDigest, [], new Set()) };
}

/** Reads the pods, observes the target when asked, and audits. */
export async function runAudit(run: AuditRun): Promise<AuditResult> {
  const images = await readPods(run);
  const target = run.connect ? await observeTarget(run.list, run.connect) : null;
  return auditCluster(images, run.list, {
    registry: target?.registry ?? run.list.target.registry,
    observed: target?.observed ?? null,
    listText: run.listText,
    ...(run.chartImages ? { chartImages: run.chartImages } : {}),
  });
}

/**
 * The references the list mirrors through charts with `images: true`, as the chart images record of the last render
 * found them: only the record's chart versions the list still names (a range: any version of that chart). A record
 * that cannot be read is a warning.
 */
export async function chartImagesOf(
  path: string | null,
  list: MirrorList,
): Promise<{ images: string[]; warning: string | null }> {
  if (!path) return { images: [], warning: null };
  const { record, warning } = await readChartImagesRecord(path);
  const named = (c: { source: string; name: string; version: string }) =>
    list.charts.some(
      (l) => l.images && l.source === c.source && l.name === c.name && l.version === c.version,
    ) || (list.chartRanges ?? []).some((r) => r.images && r.source === c.source && r.name === c.name);
  return { images: record?.charts.filter(named).flatMap((c) => c.images) ?? [], warning };
}
