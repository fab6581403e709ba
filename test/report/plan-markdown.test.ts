// The plan as a reviewer reads it in the job summary and the pull-request comment: made by the real planner
// from a real mirror list of 300 entries and more, against what a target holds.
import { describe, expect, it } from "vitest";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { ObservedRepository, ObservedTarget } from "../../src/observe/model.js";
import { checkDeletions } from "../../src/plan/deletions.js";
import { plannedList } from "../../src/plan/model.js";
import { planMirror } from "../../src/plan/plan.js";
import { blobLineLink, COMMENT_BUDGET_BYTES, planMarkdown } from "../../src/report/plan-markdown.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const link = blobLineLink("https://github.com", "acme/mirrors", SHA, "config/mirrors.yaml")!;
const lineUrl = (line: number) => `https://github.com/acme/mirrors/blob/${SHA}/config/mirrors.yaml#L${line}`;

/** `repos` repositories of 3 tags each, one entry a line from line 4 on (line = 4 + index). */
function listText(repos: number, prune = false): string {
  const lines = ["target:", `  prune: ${prune}`, "images:"];
  for (let r = 0; r < repos; r++) for (let t = 0; t < 3; t++) lines.push(`  - team${r}/app${r}:1.${t}.0`);
  return `${lines.join("\n")}\n`;
}

function parse(text: string): MirrorList {
  const { list, problems } = parseMirrorList(text, "config/mirrors.yaml");
  if (!list) throw new Error(JSON.stringify(problems));
  return list;
}

/** The target holds every entry of the list except `missing` (entry indexes), plus `extra` tags. */
function observed(list: MirrorList, missing: Set<number>, extra: [string, string][] = []): ObservedTarget {
  const repositories = new Map<string, ObservedRepository>();
  const repo = (name: string) => {
    let r = repositories.get(name);
    if (!r) {
      r = { name, imageTagMutability: "MUTABLE", imageTagMutabilityExclusionFilters: [], tags: new Map() };
      repositories.set(name, r);
    }
    return r;
  };
  list.images.forEach((image, i) => {
    if (missing.has(i)) return;
    repo(image.repository).tags.set(image.reference.tag!, null);
  });
  for (const [name, tag] of extra) repo(name).tags.set(tag, `sha256:${"d".repeat(64)}`);
  return { registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", repositories };
}

function plan(list: MirrorList, target: ObservedTarget) {
  return planMirror(plannedList(list), target, { resync: "missing", dockerHubCredentials: true });
}

describe("the plan in a pull-request comment", () => {
  // 300 entries: a new repository with 3 tags (the last), 2 new tags in an existing one, 295 present.
  const list = parse(listText(100, true));
  const missing = new Set([297, 298, 299, 10, 11]);
  const target = observed(list, missing, [["mirrors/team5/app5", "0.9.0"]]);
  const p = plan(list, target);
  const md = planMarkdown(p, {
    budget: COMMENT_BUDGET_BYTES,
    lineLink: link,
    deletions: checkDeletions(p, list),
  });

  it("fits in one comment, nothing cut", () => {
    expect(p.steps.length).toBe(300 + 1 + 1);
    expect(md.length).toBeLessThan(65_536);
    expect(md).not.toContain("not shown");
  });

  it("shows what the pull request changes first, each new tag linked to its line, the rest collapsed", () => {
    const details = md.indexOf("<details><summary>Unchanged: 295 tags already present in 99 repositories");
    expect(details).toBeGreaterThan(0);
    const newRepo = md.indexOf("#### New repositories (1)");
    const newTags = md.indexOf("#### New tags (2)");
    const deletions = md.indexOf("#### Deletions (1)");
    expect(0 < newRepo && newRepo < newTags && newTags < deletions && deletions < details).toBe(true);
    // team99/app99 is entries 297..299: lines 301..303.
    expect(md.slice(newRepo, newTags)).toContain(
      `| \`mirrors/team99/app99\` | \`docker.io/team99/app99\` | [\`1.0.0\`](${lineUrl(301)}), [\`1.1.0\`](${lineUrl(302)}), [\`1.2.0\`](${lineUrl(303)}) |`,
    );
    expect(md.slice(newTags, deletions)).toContain(
      `| \`mirrors/team3/app3\` | \`docker.io/team3/app3\` | [\`1.1.0\`](${lineUrl(14)}), [\`1.2.0\`](${lineUrl(15)}) |`,
    );
    // Present tags are grouped: one row per repository, after the changes.
    expect(md.slice(details)).toContain(
      `| \`mirrors/team0/app0\` | \`docker.io/team0/app0\` | [\`1.0.0\`](${lineUrl(4)}), [\`1.1.0\`](${lineUrl(5)}), [\`1.2.0\`](${lineUrl(6)}) |`,
    );
    expect(md.slice(details).match(/^\| `mirrors\//gm)).toHaveLength(99);
  });

  it("warns in a caution block when it deletes, with the limit", () => {
    const caution = md.indexOf("> [!CAUTION]\n> This plan **deletes 1 tag** from the target");
    expect(caution).toBeGreaterThan(0);
    expect(caution).toBeLessThan(md.indexOf("#### New repositories"));
    expect(md).toContain("The limit is 20 per run (target.maxDeletions).");
    expect(md).toContain("| `mirrors/team5/app5:0.9.0` | `sha256:dddddddddddd…` |");
  });

  it("says so when nothing changes, and shows no caution block", () => {
    const same = plan(parse(listText(2)), observed(parse(listText(2)), new Set()));
    const text = planMarkdown(same, { lineLink: link });
    expect(text).toContain("**Nothing to change**");
    expect(text).not.toContain("[!CAUTION]");
    expect(text).toContain("<details><summary>Unchanged: 6 tags already present in 2 repositories");
  });
});

describe("the plan of a very large list", () => {
  // 6,000 entries in 2,000 repositories.
  const list = parse(listText(2000));
  const planWith = (newTags: number) =>
    plan(list, observed(list, new Set(Array.from({ length: newTags }, (_, i) => i * 10))));
  const cutNote = (md: string) => {
    const note = /> (\d+) steps not shown \(([^)]*)\), to stay under GitHub's size limit/.exec(md);
    return note ? { count: Number(note[1]), by: note[2] } : null;
  };
  const shownTags = (md: string) => md.match(/\[`1\.\d\.0`\]/g)?.length ?? 0;

  it("stays under the comment limit with every change shown, and counts the unchanged tags it cut", () => {
    const md = planMarkdown(planWith(300), { budget: COMMENT_BUDGET_BYTES, lineLink: link });
    expect(md.length).toBeLessThan(65_536);
    const newTags = md.indexOf("#### New tags (300)");
    const details = md.indexOf("<details><summary>Unchanged");
    expect(0 < newTags && newTags < details).toBe(true);
    expect(md.slice(newTags, details).match(/\[`1\.\d\.0`\]/g)).toHaveLength(300);
    const note = cutNote(md);
    expect(note).not.toBeNull();
    expect(shownTags(md) + note!.count).toBe(6000);
    expect(note!.by).toBe(`${note!.count} present`);
  });

  it("cuts changes last: with more new tags than a comment holds, no unchanged tag is shown", () => {
    const md = planMarkdown(planWith(600), { budget: COMMENT_BUDGET_BYTES, lineLink: link });
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(COMMENT_BUDGET_BYTES);
    const note = cutNote(md)!;
    expect(shownTags(md) + note.count).toBe(6000);
    expect(note.by).toBe(`${600 - shownTags(md)} copy, 5400 present`);
    expect(md).toMatch(
      /<details><summary>Unchanged: 5400 tags [^\n]*\n\n\| repository \| from \| tags \|\n\| --- \| --- \| --- \|\n\n…all \d+ rows of this table not shown\./,
    );
  });

  it("keeps every row in the job summary (1 MiB)", () => {
    const md = planMarkdown(planWith(600), { lineLink: link });
    expect(Buffer.byteLength(md)).toBeLessThan(1024 * 1024);
    expect(md.match(/\[`1\.\d\.0`\]/g)).toHaveLength(6000);
    expect(md).not.toContain("not shown");
  });
});

describe("line links", () => {
  it("point at the list's line at the head commit, and are left out where they cannot be made", () => {
    expect(blobLineLink("https://github.example.com/", "o/r", SHA, "dir/my list.yaml")!(7)).toBe(
      `https://github.example.com/o/r/blob/${SHA}/dir/my%20list.yaml#L7`,
    );
    expect(blobLineLink("https://github.com", "o/r", SHA, "lists/(prod).yaml")!(2)).toBe(
      `https://github.com/o/r/blob/${SHA}/lists/%28prod%29.yaml#L2`,
    );
    expect(blobLineLink("https://github.com", "o/r", null, "m.yaml")).toBeNull();
    expect(blobLineLink("https://github.com", "o/r", SHA, "../outside.yaml")).toBeNull();
    expect(blobLineLink("https://github.com", "", SHA, "m.yaml")).toBeNull();
  });
});
