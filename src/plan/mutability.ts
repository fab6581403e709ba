/** Whether ECR lets a tag be overwritten, under the repository's mutability mode and exclusion filters. */
import type { TagMutability } from "../list/model.js";

/** ECR's wildcard filters: `*` matches any run of characters, everything else literally. */
export function matchesWildcard(tag: string, filter: string): boolean {
  const pattern = filter
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${pattern}$`).test(tag);
}

export function tagIsMutable(tag: string, mode: TagMutability, filters: readonly string[]): boolean {
  const excluded = filters.some((f) => matchesWildcard(tag, f));
  switch (mode) {
    case "MUTABLE":
      return true;
    case "IMMUTABLE":
      return false;
    case "IMMUTABLE_WITH_EXCLUSION":
      return excluded;
    case "MUTABLE_WITH_EXCLUSION":
      return !excluded;
  }
}
