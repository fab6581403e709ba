/** Rules for `target:`: where the mirrors live. */
import type { Node } from "yaml";
import { checkHost } from "../address-policy.js";
import type { Target } from "../model.js";
import type { TargetType } from "../naming.js";
import type { Problems } from "../problems.js";
import { shown as q } from "../quote.js";
import { isValidDomain } from "../reference.js";
import { mirrorListDefaults as defaults } from "../schema.js";
import { bool, get, int, str } from "../yaml-nodes.js";
import { readRepositorySettings } from "./repository-settings.js";

export const DEFAULT_IMAGE_PREFIX: string = defaults["target.imagePrefix"];
export const DEFAULT_CHART_PREFIX: string = defaults["target.chartPrefix"];

export function readTarget(node: Node | undefined, problems: Problems): Target {
  const type = (str(get(node, "type")) ?? defaults["target.type"]) as TargetType;
  const registryNode = get(node, "registry");
  const registry = readRegistry(registryNode, problems);
  if (type === "oci" && registry === null && !registryNode) {
    problems.error(
      problems.locate(node),
      "a target of type oci needs target.registry",
      "add registry: harbor.example.com",
    );
  }
  return {
    type,
    region: str(get(node, "region")) ?? null,
    accountId: str(get(node, "accountId")) ?? null,
    registry,
    imagePrefix: str(get(node, "imagePrefix")) ?? DEFAULT_IMAGE_PREFIX,
    chartPrefix: str(get(node, "chartPrefix")) ?? DEFAULT_CHART_PREFIX,
    prune: bool(get(node, "prune")) ?? defaults["target.prune"],
    maxDeletions: int(get(node, "maxDeletions")) ?? defaults["target.maxDeletions"],
    pruneLocation: node ? problems.locate(get(node, "maxDeletions") ?? get(node, "prune") ?? node) : null,
    repositorySettings: readRepositorySettings(get(node, "repositorySettings"), problems),
    reconcileSettings: bool(get(node, "reconcileSettings")) ?? defaults["target.reconcileSettings"],
  };
}

/** `target.registry`: a host[:port] the address policy allows, or null (absent, or reported). */
function readRegistry(registryNode: Node | undefined, problems: Problems): string | null {
  const registry = str(registryNode) ?? null;
  if (registry === null) return null;
  if (/^https?:\/\//.test(registry)) {
    problems.error(
      problems.locate(registryNode),
      "target.registry is a host, not a URL",
      `write ${q(registry.replace(/^https?:\/\//, "").replace(/\/+$/, ""))}`,
    );
    return null;
  }
  const refused = checkHost(registry);
  if (isValidDomain(registry) && refused.ok) return registry;
  problems.error(
    problems.locate(registryNode),
    refused.ok
      ? `target.registry ${q(registry)} is not a registry host`
      : `target.registry: ${refused.reason}`,
    refused.ok ? "expected host[:port], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com" : refused.hint,
  );
  return null;
}
