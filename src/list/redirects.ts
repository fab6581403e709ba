/**
 * Which upstream hosts the nodes redirect to the mirror. A redirect sends every pull of that host on
 * every node to the mirror (with no fallback unless the upstream sets one), so only hosts the list
 * mirrors are redirected: a host an image of the list uses (one it names, or one found in its charts),
 * unless its upstream sets `redirect: false`. An upstream listed only to say where its images are
 * fetched from or where they land redirects nothing by itself, and neither does the node
 * configurator's image, which ecr-mirror adds by itself and the nodes pull by its ECR name.
 */
import type { MirrorList, Upstream } from "./model.js";

export function redirectedUpstreams(
  list: Pick<MirrorList, "upstreams" | "images" | "imageRanges">,
): Upstream[] {
  const used = new Set(
    [...list.images.filter((i) => !i.configurator), ...(list.imageRanges ?? [])].map(
      (i) => i.reference.domain,
    ),
  );
  return list.upstreams
    .filter((u) => u.redirect && used.has(u.host))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
