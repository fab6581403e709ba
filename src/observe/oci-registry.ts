/**
 * What a plain OCI registry holds (Harbor, Artifactory, a registry container, the test harness),
 * through the Distribution API: a tag list per wanted repository, and a manifest HEAD only for
 * the tags whose digest the plan compares. There is no mutability on such registries: all tags
 * count as mutable.
 */

import { mapWithConcurrency } from "../pool.js";
import type { DistributionClient } from "../registry/distribution.js";
import type { ObservedRepository, ObservedTarget } from "./model.js";

export async function observeRegistry(
  client: DistributionClient,
  registry: string,
  wanted: ReadonlySet<string>,
  needDigest: ReadonlyMap<string, ReadonlySet<string>>,
  concurrency = 8,
): Promise<ObservedTarget> {
  const repos = await mapWithConcurrency(
    [...wanted].sort(),
    concurrency,
    async (name): Promise<ObservedRepository | null> => {
      const tags = await client.listTags(name);
      if (tags === null) return null;
      const map = new Map<string, string | null>(tags.map((t) => [t, null]));
      const look = [...(needDigest.get(name) ?? [])].filter((t) => map.has(t));
      await mapWithConcurrency(look, concurrency, async (tag) => {
        map.set(tag, await client.headManifest(name, tag));
      });
      return { name, imageTagMutability: "MUTABLE", imageTagMutabilityExclusionFilters: [], tags: map };
    },
  );
  return { registry, repositories: new Map(repos.filter((r) => r !== null).map((r) => [r.name, r])) };
}
