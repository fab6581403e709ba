/** What the nodes' redirects do, in words, for validate and plan: every host, and where its pulls go. */
import type { MirrorList } from "../list/model.js";
import { redirectedUpstreams } from "../list/redirects.js";

/** The lines naming the redirected hosts (none when no host is redirected). */
export function redirectLines(list: Pick<MirrorList, "upstreams" | "images">): string[] {
  const upstreams = redirectedUpstreams(list);
  if (upstreams.length === 0) return [];
  return [
    "Nodes redirect these hosts: every pull from them on every node goes to the mirror.",
    ...upstreams.map(
      (u) =>
        `  ${u.host} -> ${u.prefix}${u.endpoint ? ` (fetched from ${u.endpoint})` : ""}: ${
          u.fallback
            ? `mirror first, falling back to ${u.host} when the mirror fails`
            : "mirror only, no fallback"
        }`,
    ),
  ];
}
