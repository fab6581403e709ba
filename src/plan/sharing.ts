/**
 * Layer sharing, decided without I/O: which copy brings each blob first, the order that lets every later copy
 * find its shared layers already in the registry (to be mounted, not uploaded), and the bytes a sync moves
 * before and after sharing.
 */

export interface Blob {
  digest: string;
  size: number;
}

/** What one copy writes: its blobs (configs and layers of every platform it copies) and its manifest PUTs. */
export interface CopyContent {
  blobs: readonly Blob[];
  /** Manifests crane PUTs for it: 1, or the children kept plus the index. */
  manifests: number;
}

/**
 * The copies in an order where each blob's first bringer comes before every copy that shares it: the copies
 * that bring at least one new blob first (in their own order), then the ones whose blobs all come from others.
 * Copies whose content is unknown keep their place among the first group.
 */
export function orderForSharing<S>(steps: readonly S[], contentOf: (step: S) => CopyContent | null): S[] {
  const seen = new Set<string>();
  const bringers: S[] = [];
  const followers: S[] = [];
  for (const step of steps) {
    const content = contentOf(step);
    if (!content) {
      bringers.push(step);
      continue;
    }
    const fresh = content.blobs.filter((b) => !seen.has(b.digest));
    for (const b of content.blobs) seen.add(b.digest);
    (fresh.length > 0 || content.blobs.length === 0 ? bringers : followers).push(step);
  }
  return [...bringers, ...followers];
}

export interface SharingFigures {
  /** Copies whose blobs are known. */
  known: number;
  /** Bytes the copies would upload with no sharing (every blob once per repository). */
  bytesPerRepository: number;
  /** Bytes after sharing: each distinct blob once per registry. */
  bytesShared: number;
  blobsPerRepository: number;
  blobsShared: number;
}

/** Bytes and blobs before and after sharing; a blob counts once per repository before, once in all after. */
export function sharingFigures(
  copies: readonly { repository: string; content: CopyContent | null }[],
): SharingFigures {
  const perRepository = new Map<string, number>();
  const shared = new Map<string, number>();
  let known = 0;
  for (const { repository, content } of copies) {
    if (!content) continue;
    known += 1;
    for (const b of content.blobs) {
      perRepository.set(`${repository} ${b.digest}`, b.size);
      shared.set(b.digest, b.size);
    }
  }
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    known,
    bytesPerRepository: sum(perRepository),
    bytesShared: sum(shared),
    blobsPerRepository: perRepository.size,
    blobsShared: shared.size,
  };
}
