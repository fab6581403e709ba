/** Rules for `target.repositorySettings:`: how ecr-mirror creates a repository. */
import { isMap, isScalar, type Node, type YAMLMap } from "yaml";
import type { RepositorySettings, TagMutability } from "../model.js";
import type { Problems } from "../problems.js";
import { shown as q } from "../quote.js";
import { mirrorListDefaults as defaults } from "../schema.js";
import { bool, get, keyNode, str, strings } from "../yaml-nodes.js";

/** Repository settings when the list gives none: ECR's own defaults (mutable tags, AES256, no scanning). */
export const DEFAULT_REPOSITORY_SETTINGS: Readonly<RepositorySettings> = Object.freeze<RepositorySettings>({
  imageTagMutability: defaults["target.repositorySettings.imageTagMutability"],
  imageTagMutabilityExclusionFilters: [],
  scanOnPush: defaults["target.repositorySettings.scanOnPush"],
  encryption: { type: defaults["target.repositorySettings.encryption.type"], kmsKey: null },
  tags: {},
  lifecyclePolicy: null,
  repositoryPolicy: null,
});

const MUTABILITY: readonly TagMutability[] = [
  "MUTABLE",
  "IMMUTABLE",
  "MUTABLE_WITH_EXCLUSION",
  "IMMUTABLE_WITH_EXCLUSION",
];

export function readRepositorySettings(node: Node | undefined, problems: Problems): RepositorySettings {
  const { mode, filters } = readMutability(node, problems);
  return {
    imageTagMutability: mode,
    imageTagMutabilityExclusionFilters: filters,
    scanOnPush: bool(get(node, "scanOnPush")) ?? DEFAULT_REPOSITORY_SETTINGS.scanOnPush,
    encryption: readEncryption(get(node, "encryption"), problems),
    tags: readResourceTags(get(node, "tags"), problems),
    lifecyclePolicy: readPolicy(get(node, "lifecyclePolicy"), "lifecyclePolicy", "rules", problems),
    repositoryPolicy: readPolicy(get(node, "repositoryPolicy"), "repositoryPolicy", "Statement", problems),
  };
}

/** The mutability mode and its exclusion filters, which go together: the *_WITH_EXCLUSION modes need them. */
function readMutability(
  node: Node | undefined,
  problems: Problems,
): { mode: TagMutability; filters: string[] } {
  const modeNode = get(node, "imageTagMutability");
  const mode = (MUTABILITY as readonly string[]).includes(str(modeNode) ?? "")
    ? (str(modeNode) as TagMutability)
    : DEFAULT_REPOSITORY_SETTINGS.imageTagMutability;
  const filtersNode = get(node, "imageTagMutabilityExclusionFilters");
  const filters = strings(filtersNode).map((f) => f.value);
  const withExclusion = mode.endsWith("_WITH_EXCLUSION");
  if (withExclusion && filters.length === 0) {
    problems.error(
      problems.locate(modeNode),
      `${mode} needs imageTagMutabilityExclusionFilters`,
      'add imageTagMutabilityExclusionFilters: ["latest"] (wildcards allowed), or use MUTABLE or IMMUTABLE',
    );
  }
  if (!withExclusion && filtersNode) {
    problems.error(
      problems.locate(keyNode(node, "imageTagMutabilityExclusionFilters")),
      `imageTagMutabilityExclusionFilters only apply to MUTABLE_WITH_EXCLUSION and IMMUTABLE_WITH_EXCLUSION (the mode is ${mode})`,
      "set imageTagMutability: IMMUTABLE_WITH_EXCLUSION, or remove the filters",
    );
  }
  return { mode, filters };
}

/** A KMS key only with KMS or KMS_DSSE encryption. */
function readEncryption(
  encryptionNode: Node | undefined,
  problems: Problems,
): RepositorySettings["encryption"] {
  const type = (str(get(encryptionNode, "type")) ??
    DEFAULT_REPOSITORY_SETTINGS.encryption.type) as RepositorySettings["encryption"]["type"];
  const kmsKeyNode = get(encryptionNode, "kmsKey");
  const kmsKey = str(kmsKeyNode) ?? null;
  if (kmsKey !== null && type === "AES256") {
    problems.error(
      problems.locate(kmsKeyNode),
      "encryption.kmsKey needs encryption.type KMS or KMS_DSSE",
      "set type: KMS, or remove kmsKey",
    );
  }
  return { type, kmsKey };
}

/** Resource tags: keys of 1 to 128 characters, none under the reserved `aws:` prefix. */
function readResourceTags(tagsNode: Node | undefined, problems: Problems): Record<string, string> {
  const tagPairs: [string, string][] = [];
  if (!isMap(tagsNode)) return {};
  for (const pair of (tagsNode as YAMLMap).items) {
    const k = isScalar(pair.key) ? String(pair.key.value) : "";
    const v = str(pair.value);
    if (k.length < 1 || k.length > 128)
      problems.error(problems.locate(pair.key), `resource tag key ${q(k)} must be 1 to 128 characters`);
    else if (k.toLowerCase().startsWith("aws:"))
      problems.error(problems.locate(pair.key), `resource tag key ${q(k)} uses the reserved prefix aws:`);
    if (v !== undefined) tagPairs.push([k, v]);
  }
  // Own properties even for `__proto__`: an assignment would set the object's prototype instead.
  return Object.fromEntries(tagPairs);
}

/** A policy document given as a mapping or a JSON string, returned as compact JSON text. */
function readPolicy(
  node: Node | undefined,
  name: string,
  requiredKey: string,
  problems: Problems,
): string | null {
  if (!node) return null;
  const value = policyValue(node, name, problems);
  if (value === undefined) return null;
  if (
    typeof value !== "object" ||
    value === null ||
    Array.isArray(value) ||
    !Object.hasOwn(value, requiredKey)
  ) {
    problems.error(
      problems.locate(node),
      `${name} has no "${requiredKey}"`,
      name === "lifecyclePolicy"
        ? "an ECR lifecycle policy is { rules: [ … ] }"
        : 'an IAM policy document is { Version: "2012-10-17", Statement: [ … ] }',
    );
    return null;
  }
  return JSON.stringify(value);
}

/** The policy as a value: a mapping's, or a JSON string's; undefined when it is neither (or is reported). */
function policyValue(node: Node, name: string, problems: Problems): unknown {
  if (isMap(node)) return node.toJSON();
  const text = str(node);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.error(
      problems.locate(node),
      `${name} is not valid JSON: ${(e as Error).message}`,
      "give the policy as a YAML mapping instead of a JSON string",
    );
    return undefined;
  }
}
