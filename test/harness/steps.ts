// Plan steps for tests that hand executePlan or the report writers a plan of their own: every step
// kind with the fields the planner gives it, the entry parsed from a real mirror list.
import type { ImageEntry } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { Step, StepAction } from "../../src/plan/model.js";

/** An image entry as the parser makes it (`docker.io/library/x:1` unless told). */
export function imageEntry(reference = "docker.io/library/x:1"): ImageEntry {
  const { list, problems } = parseMirrorList(`images:\n  - "${reference}"\n`, "mirrors.yaml");
  const entry = list?.images[0];
  if (!entry) throw new Error(JSON.stringify(problems));
  return entry;
}

const AT = { file: "mirrors.yaml", line: 7, column: 5 };
const SOME_DIGEST = `sha256:${"e".repeat(64)}`;

/** A step of `action` for `repository:tag`; entry steps copy `source` (default `docker.io/<repository>:<tag>`). */
export function planStep(
  action: StepAction,
  repository: string,
  tag: string | null,
  fields: { source?: string; reason?: string; entry?: ImageEntry; digest?: string | null } = {},
): Step {
  const reason = fields.reason ?? action;
  switch (action) {
    case "create-repository":
      return { action, kind: "repository", repository, reason, location: AT };
    case "reconcile-settings":
      return { action, kind: "repository", repository, reason, changes: [], location: AT };
    case "delete":
      return { action, kind: "image", repository, tag: tag ?? "", targetDigest: null, reason };
    default: {
      const base = {
        kind: "image" as const,
        entry: fields.entry ?? imageEntry(),
        source: fields.source ?? `docker.io/${repository}:${tag}`,
        repository,
        tag: tag ?? "",
        platforms: [],
        reason,
        location: AT,
      };
      if (action === "copy") return { ...base, action, digest: fields.digest ?? null, targetDigest: null };
      if (action === "present") return { ...base, action, digest: fields.digest ?? null, targetDigest: null };
      return { ...base, action, digest: fields.digest ?? SOME_DIGEST, targetDigest: null };
    }
  }
}
