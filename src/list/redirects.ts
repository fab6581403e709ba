/**
 * Which upstream hosts the nodes redirect to the mirror. A redirect sends every pull of that host on
 * every node to the mirror (with no fallback unless the upstream sets one), so only hosts the list
 * itself mirrors are redirected: a host listed under `upstreams:` (with `redirect` on, the default) or
 * used by an image the list names or its charts hold. The node configurator's image, which ecr-mirror
 * adds by itself and the nodes pull by its ECR name, redirects nothing.
 */
import type { MirrorList, Upstream } from "./model.js";

export function redirectedUpstreams(list: Pick<MirrorList, "upstreams" | "images">): Upstream[] {
  const used = new Set(list.images.filter((i) => !i.configurator).map((i) => i.reference.domain));
  return list.upstreams
    .filter((u) => u.redirect && (u.location !== null || used.has(u.host)))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
