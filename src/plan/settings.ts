/**
 * Repository settings as desired state (`target.reconcileSettings`): what differs between an existing
 * repository's settings and the list's `repositorySettings`. Pure. Encryption is not a change (ECR cannot
 * change it on an existing repository): it is a warning.
 */
import type { Location, RepositorySettings, Target } from "../list/model.js";
import type { ObservedRepository, ObservedTarget } from "../observe/model.js";
import type { PlanWarning, ReconcileSettingsStep, SettingChange } from "./model.js";

/** A policy document compared by meaning: key order and whitespace do not count (ECR may reformat it). */
function canonical(text: string | null): string | null {
  if (text === null) return null;
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, x]) => [k, sort(x)]),
          )
        : v;
  try {
    return JSON.stringify(sort(JSON.parse(text)));
  } catch {
    return text;
  }
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** The settings of `repo` that differ from `wanted` (empty when none, or when its settings were not read). */
export function settingChanges(repo: ObservedRepository, wanted: RepositorySettings): SettingChange[] {
  const observed = repo.settings;
  if (!observed) return [];
  const changes: SettingChange[] = [];
  const filters = wanted.imageTagMutability.endsWith("_WITH_EXCLUSION")
    ? wanted.imageTagMutabilityExclusionFilters
    : [];
  const sameFilters =
    filters.length === repo.imageTagMutabilityExclusionFilters.length &&
    filters.every((f) => repo.imageTagMutabilityExclusionFilters.includes(f));
  if (repo.imageTagMutability !== wanted.imageTagMutability || !sameFilters) {
    changes.push({
      setting: "imageTagMutability",
      from: { mode: repo.imageTagMutability, filters: repo.imageTagMutabilityExclusionFilters },
      to: { mode: wanted.imageTagMutability, filters },
    });
  }
  if (observed.scanOnPush !== wanted.scanOnPush)
    changes.push({ setting: "scanOnPush", from: observed.scanOnPush, to: wanted.scanOnPush });
  if (canonical(observed.lifecyclePolicy) !== canonical(wanted.lifecyclePolicy))
    changes.push({ setting: "lifecyclePolicy", from: observed.lifecyclePolicy, to: wanted.lifecyclePolicy });
  if (canonical(observed.repositoryPolicy) !== canonical(wanted.repositoryPolicy))
    changes.push({
      setting: "repositoryPolicy",
      from: observed.repositoryPolicy,
      to: wanted.repositoryPolicy,
    });
  if (!sameTags(observed.tags, wanted.tags))
    changes.push({ setting: "tags", from: observed.tags, to: wanted.tags });
  return changes;
}

function mutability(m: { mode: string; filters: string[] }): string {
  return m.filters.length > 0 ? `${m.mode} [${m.filters.join(", ")}]` : m.mode;
}

function tagsText(tags: Record<string, string>): string {
  const entries = Object.entries(tags);
  return entries.length === 0 ? "none" : `{${entries.map(([k, v]) => `${k}=${v}`).join(", ")}}`;
}

/** One change in words: `scanOnPush false -> true`. */
export function changeText(c: SettingChange): string {
  switch (c.setting) {
    case "imageTagMutability":
      return `imageTagMutability ${mutability(c.from)} -> ${mutability(c.to)}`;
    case "scanOnPush":
      return `scanOnPush ${c.from} -> ${c.to}`;
    case "lifecyclePolicy":
    case "repositoryPolicy":
      return `${c.setting} ${c.from === null ? "none" : "set"} -> ${c.to === null ? "none (deleted)" : c.from === null ? "set" : "changed"}`;
    case "tags":
      return `tags ${tagsText(c.from)} -> ${tagsText(c.to)}`;
  }
}

/** The reconcile-settings step for `repo`, or null when its settings match the list. */
export function reconcileStep(
  repo: ObservedRepository,
  wanted: RepositorySettings,
  location: Location,
): ReconcileSettingsStep | null {
  const changes = settingChanges(repo, wanted);
  if (changes.length === 0) return null;
  return {
    action: "reconcile-settings",
    kind: "repository",
    repository: repo.name,
    reason: `settings differ from the list: ${changes.map(changeText).join("; ")}`,
    changes,
    location,
  };
}

/** The warning for an existing repository encrypted otherwise than the list asks (ECR cannot change it). */
export function encryptionWarning(
  repo: ObservedRepository,
  wanted: RepositorySettings,
  location: Location,
): PlanWarning | null {
  const observed = repo.settings?.encryption;
  if (!observed) return null;
  const want = wanted.encryption;
  // ECR answers the key as an ARN: a key id the list names matches the ARN's last part.
  const sameKey =
    want.kmsKey === null || observed.kmsKey === want.kmsKey || observed.kmsKey?.endsWith(`/${want.kmsKey}`);
  if (observed.type === want.type && sameKey) return null;
  const shown = (e: { type: string; kmsKey: string | null }) =>
    e.kmsKey ? `${e.type} (${e.kmsKey})` : e.type;
  return {
    message: `${repo.name} is encrypted with ${shown(observed)}, the list asks for ${shown(want)}; ECR cannot change the encryption of an existing repository, so it stays ${shown(observed)}`,
    hint: "keep the list's encryption as the repository has it, or recreate the repository (delete it, then sync: its images are copied again)",
    location,
  };
}

/**
 * The existing repositories the list names, as the plan sees them: with `target.reconcileSettings`, for each whose
 * settings were read, its reconcile-settings step when they differ, an encryption warning, and the repository as it
 * will be after the step (the list's tag mutability), for planning its tags; otherwise as observed. `entries` in list
 * order: the first entry of a repository is its line.
 */
export function reconcileRepositories(
  entries: readonly { repository: string; location: Location }[],
  observed: ObservedTarget,
  target: Pick<Target, "reconcileSettings" | "repositorySettings">,
): {
  steps: ReconcileSettingsStep[];
  warnings: PlanWarning[];
  repositories: Map<string, ObservedRepository>;
} {
  const steps: ReconcileSettingsStep[] = [];
  const warnings: PlanWarning[] = [];
  const repositories = new Map(observed.repositories);
  if (!target.reconcileSettings) return { steps, warnings, repositories };
  const wanted = target.repositorySettings;
  const seen = new Set<string>();
  for (const { repository, location } of entries) {
    const repo = observed.repositories.get(repository);
    if (!repo?.settings || seen.has(repository)) continue;
    seen.add(repository);
    const step = reconcileStep(repo, wanted, location);
    if (step) steps.push(step);
    const warning = encryptionWarning(repo, wanted, location);
    if (warning) warnings.push(warning);
    repositories.set(repository, {
      ...repo,
      imageTagMutability: wanted.imageTagMutability,
      imageTagMutabilityExclusionFilters: wanted.imageTagMutability.endsWith("_WITH_EXCLUSION")
        ? wanted.imageTagMutabilityExclusionFilters
        : [],
    });
  }
  return { steps, warnings, repositories };
}
