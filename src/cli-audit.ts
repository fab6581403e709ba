/**
 * `ecr-mirror audit [FILE] --pods FILE|- | --kubeconfig PATH [--context C] [--no-target] [--json]`: what the cluster
 * runs against the mirror list. Exit codes: 0 nothing missing, 1 an image not in the list or a pinned digest the
 * mirror lacks (or the audit could not run), 2 a usage error. The action's `mode: audit` runs the same steps
 * (`runAudit`).
 */
import { readFile } from "node:fs/promises";
import { type AuditResult, auditCluster, auditFindsMissing } from "./audit/audit.js";
import { type PodImage, parsePodList } from "./audit/pods.js";
import { readChartImagesRecord } from "./charts/record.js";
import { MirrorError } from "./errors.js";
import type { MirrorList } from "./list/model.js";
import { readMirrorList } from "./list/read.js";
import { fetchPodPages, readKubeconfig, readPodList } from "./observe/kubernetes.js";
import type { ObservedTarget } from "./observe/model.js";
import { targetTag } from "./plan/plan.js";
import { auditToJson, formatAudit } from "./report/audit.js";
import { describeFailure } from "./report/failure.js";
import { formatProblems } from "./report/problems.js";
import { type ConnectSettings, connect } from "./run.js";
import type { SecretMask } from "./tools/credentials.js";
import { formatJson } from "./tools/log-safe.js";

/** Where the pods come from: a file (`-`: stdin), or the API through a kubeconfig. */
export type PodSource = { pods: string } | { kubeconfig: string; context: string | null };

export interface AuditRun {
  list: MirrorList;
  /** The list file's text (where the lines to add go). */
  listText: string;
  source: PodSource;
  stdin: AsyncIterable<Buffer | string>;
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
    images.push(...parsed.images);
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

/** The references a chart images record says the list mirrors through charts; a warning when it cannot be read. */
export async function chartImagesOf(
  path: string | null,
): Promise<{ images: string[]; warning: string | null }> {
  if (!path) return { images: [], warning: null };
  const { record, warning } = await readChartImagesRecord(path);
  return { images: record?.charts.flatMap((c) => c.images) ?? [], warning };
}

export interface AuditCliFlags {
  pods?: string;
  kubeconfig?: string;
  context?: string;
  "no-target"?: boolean;
  json?: boolean;
  "charts-record"?: string;
}

export interface AuditCliIo {
  out(s: string): void;
  err(s: string): void;
  mask: SecretMask;
  stdin: AsyncIterable<Buffer | string>;
}

/** The CLI command; `settings` builds the target settings the other commands use (flags and environment). */
export async function auditCommand(
  file: string,
  flags: AuditCliFlags,
  io: AuditCliIo,
  settings: () => ConnectSettings,
): Promise<number> {
  const usage = (why: string) => {
    io.err(
      `ecr-mirror audit: ${why}\n  usage: ecr-mirror audit [FILE] --pods FILE|- | --kubeconfig PATH [--context NAME] [--no-target] [--json]\n`,
    );
    return 2;
  };
  if ((flags.pods === undefined) === (flags.kubeconfig === undefined))
    return usage("give the pods with --pods FILE (or - for stdin) or --kubeconfig PATH, one of them");
  if (flags.context !== undefined && flags.kubeconfig === undefined)
    return usage("--context needs --kubeconfig");
  const { list, problems } = await readMirrorList(file, file);
  if (problems.length > 0) io.err(`${formatProblems(problems)}\n`);
  if (!list) return 1;
  try {
    const listText = await readFile(file, "utf8");
    const charts = await chartImagesOf(flags["charts-record"] ?? null);
    if (charts.warning) io.err(`ecr-mirror: warning: ${charts.warning}\n`);
    const offline = flags["no-target"] === true;
    const result = await runAudit({
      list,
      listText,
      source:
        flags.pods !== undefined
          ? { pods: flags.pods }
          : { kubeconfig: flags.kubeconfig!, context: flags.context ?? null },
      stdin: io.stdin,
      connect: offline ? null : settings(),
      chartImages: charts.images,
      mask: io.mask,
    });
    io.out(
      flags.json
        ? formatJson(auditToJson(result), io.mask)
        : `${formatAudit(result, { file, notChecked: "--no-target (the target was not asked)" })}\n`,
    );
    return auditFindsMissing(result) ? 1 : 0;
  } catch (e) {
    io.err(`ecr-mirror: ${describeFailure(e, io.mask)}\n`);
    return 1;
  }
}
