/**
 * The plan as a reviewer reads it, in the job summary and the pull-request comment (one renderer for both):
 * the counts, a caution block when it deletes, then what it changes (new repositories, new tags, updates,
 * deletions, blocked), and everything else collapsed and grouped by repository. Every tag links to its
 * mirror-list line at the head commit. Cut to a size budget (GitHub: 65,536 characters for a comment, 1 MiB
 * for a step summary) in that order of importance, with an honest count of what was left out. Pure.
 */
import { referenceName } from "../list/reference.js";
import type { DeletionCheck } from "../plan/deletions.js";
import {
  type EntryStep,
  isEntryStep,
  type Plan,
  STEP_ACTIONS,
  type Step,
  type StepAction,
} from "../plan/model.js";
import { changeText } from "../plan/settings.js";
import { markdownCell } from "../tools/log-safe.js";
import { pullLine, rangeLine } from "./plan.js";

/** The URL of a mirror-list line at the commit under review, or null when it cannot be linked. */
export type LineLink = (line: number) => string | null;

/**
 * `{server}/{owner}/{repo}/blob/{sha}/{path}#L{line}`, or null without a server, repository, commit or
 * relative path (a list outside the repository cannot be linked).
 */
export function blobLineLink(
  serverUrl: string | null | undefined,
  repository: string | null | undefined,
  sha: string | null | undefined,
  path: string,
): LineLink | null {
  if (!serverUrl || !repository || !sha || !/^[0-9a-f]{7,64}$/i.test(sha)) return null;
  if (!/^[\w.-]+\/[\w.-]+$/.test(repository) || path.startsWith("/") || path.startsWith("..")) return null;
  const base = `${serverUrl.replace(/\/+$/, "")}/${repository}/blob/${sha}/${path
    .split(/[\\/]/)
    // `(` and `)` too: a URL inside a Markdown link must not close it.
    .map((segment) =>
      encodeURIComponent(segment).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/")}`;
  return (line) => `${base}#L${line}`;
}

/** GitHub refuses a step summary above 1 MiB; stay well under it. */
export const SUMMARY_BUDGET_BYTES = 900 * 1024;
/**
 * GitHub refuses a comment above 65,536 characters. UTF-8 bytes count at least as many; 1 KiB is left for the
 * hidden marker and for what redaction may add.
 */
export const COMMENT_BUDGET_BYTES = 63 * 1024;

export interface PlanMarkdownOptions {
  /** The most UTF-8 bytes the Markdown may take. */
  budget?: number;
  /** Links each tag to its mirror-list line. */
  lineLink?: LineLink | null;
  /** The deletion guard's verdict (plan/deletions.ts), for the caution block. */
  deletions?: DeletionCheck | null;
  /** Where a reader finds every step when rows were cut. */
  everyStepIn?: string;
}

/** What the pull request changes, section by section, in the order a reviewer needs them. */
const CHANGE_SECTIONS: readonly { action: StepAction; title: string }[] = [
  { action: "create-repository", title: "New repositories" },
  { action: "reconcile-settings", title: "Repository settings" },
  { action: "copy", title: "New tags" },
  { action: "update", title: "Updates" },
  { action: "restore", title: "Restores from the ECR archive" },
  { action: "delete", title: "Deletions" },
  { action: "blocked", title: "Blocked" },
];

const COUNT_LABELS: Partial<Record<StepAction, string>> = { "create-repository": "create repository" };

const cell = markdownCell;
const bytes = (text: string) => Buffer.byteLength(text);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Room kept for the note on what was cut. */
const RESERVE = 600;

/** A table row and the steps it shows. */
interface Row {
  text: string;
  steps: readonly Step[];
}

/** A section of the Markdown: fixed text around a table whose rows are shown as the budget allows. */
interface Section {
  open: string;
  rows: Row[];
  close: string;
  /** Lower is kept first when rows must be cut. */
  priority: number;
}

/**
 * Rows kept in order of importance (section priority, then row order) while they fit, and the text in
 * display order; the counts of the steps whose rows were cut, by action.
 */
function allot(
  head: string,
  sections: readonly Section[],
  limit: number,
): { text: string; cut: Map<string, number> } {
  let size = bytes(head) + RESERVE;
  for (const s of sections) size += bytes(s.open) + bytes(s.close);
  const kept = new Set<Row>();
  const cut = new Map<string, number>();
  let full = false;
  for (const section of [...sections].sort((a, b) => a.priority - b.priority))
    for (const row of section.rows) {
      if (!full && size + bytes(row.text) <= limit) {
        kept.add(row);
        size += bytes(row.text);
        continue;
      }
      full = true; // cut from here on: a later, smaller row never jumps ahead of a more important one
      for (const s of row.steps) cut.set(s.action, (cut.get(s.action) ?? 0) + 1);
    }
  const text = sections
    .map((s) => {
      const rows = s.rows.filter((r) => kept.has(r));
      const hidden = s.rows.length - rows.length;
      const more =
        hidden > 0
          ? `\n…${hidden === s.rows.length ? "all " : ""}${plural(hidden, "row")} of this table not shown.\n`
          : "";
      return `${s.open}${rows.map((r) => r.text).join("")}${more}${s.close}`;
    })
    .join("");
  return { text: head + text, cut };
}

function targetOf(s: Step): string {
  if (s.kind === "repository") return s.repository;
  return `${s.repository}${s.tag.startsWith("sha256:") ? "@" : ":"}${s.tag}`; // an OCI referrer: by digest
}

/** Where an entry's content comes from, without the tag: `docker.io/library/redis`, `https://… ingress-nginx`. */
function fromOf(s: EntryStep): string {
  if (s.kind === "image") return referenceName(s.entry.reference);
  return s.entry.kind === "http" ? `${s.entry.source} ${s.entry.name}` : s.entry.source;
}

function short(digest: string | null): string {
  return digest ? `${digest.slice(0, 19)}…` : "?";
}

/** A link's text: a cell that cannot close the link either. */
function linkText(text: string): string {
  return cell(text).replace(/[[\]]/g, (c) => `\\${c}`);
}

/** A referrer's cell: what it is and its tag or digest, shortened (`signature sha256-3f2a1b9c….sig`). */
function referrerLabel(s: Step): string | null {
  if (!isEntryStep(s) || !("referrer" in s) || !s.referrer) return null;
  const m = /^(sha256[-:][0-9a-f]{12})[0-9a-f]{52}(.*)$/.exec(s.tag);
  const kind = s.referrer.kind === "sbom" ? "SBOM" : s.referrer.kind;
  return `${kind} ${m ? `${m[1]}…${m[2]}` : s.tag}`;
}

function tagLink(s: Step, link: LineLink | null): string {
  const text = s.kind === "repository" ? s.repository : (referrerLabel(s) ?? s.tag);
  const tag = `\`${linkText(text)}\``;
  const url = s.action !== "delete" && link ? link(s.location.line) : null;
  return url ? `[${tag}](${url})` : tag;
}

function lineCell(s: Step, link: LineLink | null): string {
  if (s.action === "delete") return "";
  const url = link ? link(s.location.line) : null;
  return url ? `[L${s.location.line}](${url})` : `L${s.location.line}`;
}

function byRepository(steps: readonly Step[]): Map<string, Step[]> {
  const groups = new Map<string, Step[]>();
  for (const s of [...steps].sort((a, b) => a.repository.localeCompare(b.repository))) {
    const group = groups.get(s.repository) ?? [];
    group.push(s);
    groups.set(s.repository, group);
  }
  return groups;
}

function fromCell(steps: readonly Step[]): string {
  const names = [...new Set(steps.filter(isEntryStep).map(fromOf))];
  return names.map((n) => `\`${cell(n)}\``).join(", ");
}

/** One row per repository: where its tags come from and each tag linked to its line. */
function groupedRows(steps: readonly Step[], link: LineLink | null): Row[] {
  return [...byRepository(steps)].map(([repository, group]) => ({
    text: `| \`${cell(repository)}\` | ${fromCell(group.filter((s) => s.action !== "create-repository"))} | ${group
      .filter((s) => s.action !== "create-repository")
      .map((s) => tagLink(s, link))
      .join(", ")} |\n`,
    steps: group,
  }));
}

const GROUPED_HEAD = "| repository | from | tags |\n| --- | --- | --- |\n";

/** Priority when cutting: what can go wrong first, then what changes, the unchanged last. */
const PRIORITY: Partial<Record<StepAction, number>> = {
  blocked: 0,
  delete: 1,
  update: 2,
  restore: 2,
  "create-repository": 3,
  "reconcile-settings": 3,
  copy: 4,
  present: 9,
};

function changeSection(action: StepAction, title: string, plan: Plan, link: LineLink | null): Section | null {
  const created = new Set(
    plan.steps.filter((s) => s.action === "create-repository").map((s) => s.repository),
  );
  let steps = plan.steps.filter((s) => s.action === action);
  const priority = PRIORITY[action] ?? 5;
  if (action === "create-repository") {
    // A new repository and the tags copied into it: one row says both.
    if (steps.length === 0) return null;
    const copies = plan.steps.filter((s) => s.action === "copy" && created.has(s.repository));
    return {
      open: `\n#### ${title} (${steps.length})\n\n${GROUPED_HEAD}`,
      rows: groupedRows([...steps, ...copies], link),
      close: "",
      priority,
    };
  }
  if (action === "copy") steps = steps.filter((s) => !created.has(s.repository));
  if (steps.length === 0) return null;
  const open = `\n#### ${title} (${steps.length})\n\n`;
  if (action === "reconcile-settings")
    return {
      open: `${open}Existing repositories brought to the list's \`repositorySettings\` (\`target.reconcileSettings\`) before anything is copied.\n\n| repository | what changes (now -> after) | line |\n| --- | --- | --- |\n`,
      rows: steps.map((s) => ({
        text: `| \`${cell(s.repository)}\` | ${cell(s.action === "reconcile-settings" ? s.changes.map(changeText).join("; ") : s.reason)} | ${lineCell(s, link)} |\n`,
        steps: [s],
      })),
      close: "",
      priority,
    };
  if (action === "copy")
    return { open: open + GROUPED_HEAD, rows: groupedRows(steps, link), close: "", priority };
  if (action === "delete")
    return {
      open: `${open}| tag | digest it holds |\n| --- | --- |\n`,
      rows: steps.map((s) => ({
        text: `| \`${cell(targetOf(s))}\` | \`${cell(short("targetDigest" in s ? s.targetDigest : null))}\` |\n`,
        steps: [s],
      })),
      close: "",
      priority,
    };
  return {
    open: `${open}| tag | from | digest (target → upstream) | why | line |\n| --- | --- | --- | --- | --- |\n`,
    rows: steps.map((s) => {
      const from = isEntryStep(s) ? `\`${cell(s.source)}\`` : "";
      const digests =
        isEntryStep(s) && (s.targetDigest || s.digest)
          ? `\`${cell(short(s.targetDigest))}\` → \`${cell(short(s.digest))}\``
          : "";
      return {
        text: `| \`${cell(targetOf(s))}\` | ${from} | ${digests} | ${cell(s.reason)} | ${lineCell(s, link)} |\n`,
        steps: [s],
      };
    }),
    close: "",
    priority,
  };
}

/** The title, the counts, the caution block when the plan deletes, and the plan's warnings. */
function planHead(plan: Plan, options: PlanMarkdownOptions): string {
  const link = options.lineLink ?? null;
  const n = plan.summary;
  const icon = options.deletions?.exceeded ? "❌" : n.blocked > 0 ? "⚠️" : "✅";
  const actions = STEP_ACTIONS.filter((a) => a in n);
  const out = [
    `### ecr-mirror plan for \`${cell(plan.registry)}\` ${icon}\n\n`,
    `| ${actions.map((a) => COUNT_LABELS[a] ?? a).join(" | ")} |\n`,
    `| ${actions.map(() => "---:").join(" | ")} |\n`,
    `| ${actions.map((a) => n[a]).join(" | ")} |\n\n`,
  ];
  if (n.delete > 0) out.push(cautionBlock(n.delete, options.deletions ?? null));
  for (const line of [...(plan.pulls ?? []).map(pullLine), ...(plan.ranges ?? []).map(rangeLine)])
    out.push(`${cell(line)}\n\n`);
  const warnings = plan.warnings.slice(0, 20);
  for (const w of warnings) {
    const url = w.location && link ? link(w.location.line) : null;
    const line = w.location?.line;
    const at = line ? ` (${url ? `[line ${line}](${url})` : `line ${line}`})` : "";
    out.push(`> [!WARNING]\n> ${cell(w.message)}${w.hint ? ` (${cell(w.hint)})` : ""}${at}\n\n`);
  }
  if (plan.warnings.length > warnings.length)
    out.push(`${plan.warnings.length - warnings.length} more warnings: see the step log.\n\n`);
  if (plan.steps.every((s) => s.action === "present"))
    out.push("**Nothing to change**: the target holds every tag the list names.\n");
  return out.join("");
}

/** GitHub's caution alert for a plan that deletes, with the deletion limit and what happens above it. */
function cautionBlock(deletes: number, d: DeletionCheck | null): string {
  const limit = !d
    ? ""
    : d.exceeded
      ? `\n> This is more than the limit of ${d.limit} (${cell(d.limitFrom)}): the plan fails, and a sync deletes nothing. If these deletions are intended, raise \`target.maxDeletions\` to ${d.deletions} in the mirror list.`
      : `\n> The limit is ${d.limit} per run (${cell(d.limitFrom)}).`;
  return `> [!CAUTION]\n> This plan **deletes ${plural(deletes, "tag")}** from the target (\`target.prune\` is on): they are listed under Deletions below.${limit}\n\n`;
}

/** The tables: each kind of change in the order a reviewer reads them, then the unchanged tags, collapsed. */
function planSections(plan: Plan, link: LineLink | null): Section[] {
  const known = new Set(CHANGE_SECTIONS.map((c) => c.action));
  const others = STEP_ACTIONS.filter((a) => a !== "present" && !known.has(a)).map((action) => ({
    action,
    title: `${action[0]!.toUpperCase()}${action.slice(1).replace(/-/g, " ")}`,
  }));
  const sections: Section[] = [];
  for (const { action, title } of [...CHANGE_SECTIONS, ...others]) {
    const section = changeSection(action, title, plan, link);
    if (section) sections.push(section);
  }
  const present = plan.steps.filter((s) => s.action === "present");
  if (present.length > 0) {
    const repos = new Set(present.map((s) => s.repository)).size;
    sections.push({
      open: `\n<details><summary>Unchanged: ${plural(present.length, "tag")} already present in ${plural(repos, "repository", "repositories")}</summary>\n\n${GROUPED_HEAD}`,
      rows: groupedRows(present, link),
      close: "\n</details>\n",
      priority: PRIORITY.present!,
    });
  }
  return sections;
}

/** The plan as Markdown, changes first, cut to `budget` bytes with a count of every step left out. */
export function planMarkdown(plan: Plan, options: PlanMarkdownOptions = {}): string {
  const sections = planSections(plan, options.lineLink ?? null);
  const { text, cut } = allot(planHead(plan, options), sections, options.budget ?? SUMMARY_BUDGET_BYTES);
  if (cut.size === 0) return text;
  const total = [...cut.values()].reduce((a, b) => a + b, 0);
  const by = [...cut].map(([action, k]) => `${k} ${action}`).join(", ");
  const where = options.everyStepIn ?? "the plan JSON (the `plan-file` output) lists every one";
  return `${text}\n> [!NOTE]\n> ${plural(total, "step")} not shown (${by}), to stay under GitHub's size limit; ${cell(where)}.\n`;
}
