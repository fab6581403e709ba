// Reads (and for deletes, edits) what a distribution 2.8 registry keeps on disk, so the local ECR
// answers from what was really pushed. Layout under the storage root:
//   docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link     -> "sha256:..."
//   docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link
//   docker/registry/v2/blobs/sha256/<hh>/<hex>/data
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export interface StoredManifest {
  digest: string;
  tags: string[];
  /** When the revision link was written (the push), in epoch milliseconds. */
  pushedAt: number;
}

export class RegistryStorage {
  private readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  private repositoryDir(name: string): string {
    return join(this.root, "docker/registry/v2/repositories", name);
  }

  private readLink(path: string): string | undefined {
    try {
      return readFileSync(path, "utf8").trim();
    } catch {
      return undefined;
    }
  }

  private list(dir: string): string[] {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  }

  /** The digest a tag points at, if the tag exists. */
  tagDigest(repository: string, tag: string): string | undefined {
    return this.readLink(join(this.repositoryDir(repository), "_manifests/tags", tag, "current/link"));
  }

  /** Every manifest stored in the repository (tagged or not), with its tags, sorted by digest. */
  manifests(repository: string): StoredManifest[] {
    const base = join(this.repositoryDir(repository), "_manifests");
    const byDigest = new Map<string, StoredManifest>();
    for (const algorithm of this.list(join(base, "revisions"))) {
      for (const hex of this.list(join(base, "revisions", algorithm))) {
        const link = join(base, "revisions", algorithm, hex, "link");
        const digest = this.readLink(link);
        if (!digest) continue; // deleted revisions leave an empty folder behind
        byDigest.set(digest, { digest, tags: [], pushedAt: statSync(link).mtimeMs });
      }
    }
    for (const tag of this.list(join(base, "tags")).sort()) {
      const digest = this.tagDigest(repository, tag);
      const manifest = digest ? byDigest.get(digest) : undefined;
      if (manifest) manifest.tags.push(tag);
    }
    return [...byDigest.values()].sort((a, b) => a.digest.localeCompare(b.digest));
  }

  /** The bytes of a blob (a manifest, config or layer) by digest. */
  blob(digest: string): Buffer | undefined {
    const [algorithm, hex] = digest.split(":");
    if (!algorithm || !hex || !/^[a-f0-9]+$/.test(hex)) return undefined;
    try {
      return readFileSync(
        join(this.root, "docker/registry/v2/blobs", algorithm, hex.slice(0, 2), hex, "data"),
      );
    } catch {
      return undefined;
    }
  }

  /** Removes one tag (distribution 2.8 cannot delete by tag over HTTP). */
  removeTag(repository: string, tag: string): void {
    rmSync(join(this.repositoryDir(repository), "_manifests/tags", tag), { recursive: true, force: true });
  }

  /** Removes a whole repository's metadata (blobs stay until garbage collection, as in distribution). */
  removeRepository(repository: string): void {
    rmSync(this.repositoryDir(repository), { recursive: true, force: true });
  }
}
