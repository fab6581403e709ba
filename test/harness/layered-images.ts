// Images that share layers, as real ones do: a base image's layer (per platform) under many application
// images, each adding its own layer. Layer bytes are deterministic noise, so gzip keeps their size and
// the bytes a sync uploads can be compared with the unique-blob floor.
import { createHash } from "node:crypto";
import {
  type Blob,
  deterministicGzip,
  deterministicTar,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPES,
  pushBlob,
  pushManifest,
  sha256Digest,
} from "./images.js";

function noise(seed: string, size: number): string {
  let out = "";
  let block = seed;
  while (out.length < size) {
    block = createHash("sha256").update(block).digest("base64");
    out += block;
  }
  return out.slice(0, size);
}

function layer(seed: string, size: number): Blob {
  const bytes = deterministicGzip(deterministicTar([{ path: `layer/${seed}`, content: noise(seed, size) }]));
  return {
    bytes,
    descriptor: { mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha256Digest(bytes), size: bytes.length },
  };
}

export interface LayeredSpec {
  /** The base image's name: images with the same base share its layer (per platform). */
  base: string;
  /** This image's own seed. */
  app: string;
  /** One platform: a single manifest; several: an index. Default linux/amd64. */
  platforms?: string[];
  /** Approximate bytes of the base layer (default 64 KiB) and of the application layer (default 8 KiB). */
  baseBytes?: number;
  appBytes?: number;
}

export interface LayeredImage {
  digest: string;
  /** Every distinct blob the image holds (configs and layers of every platform). */
  blobs: Blob[];
  /** Manifests a full copy PUTs (1, or the platforms plus the index). */
  manifests: number;
}

function platformOf(text: string) {
  const [os, architecture, variant] = text.split("/");
  return { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) };
}

/** Builds and pushes one layered image (an index when it has several platforms) at `repository:tag`. */
export async function pushLayered(
  registryUrl: string,
  repository: string,
  tag: string,
  spec: LayeredSpec,
): Promise<LayeredImage> {
  const platforms = spec.platforms ?? ["linux/amd64"];
  const blobs: Blob[] = [];
  const children: { digest: string; size: number; platform: string; bytes: Buffer }[] = [];
  for (const platform of platforms) {
    const base = layer(`${spec.base}/${platform}`, spec.baseBytes ?? 65_536);
    const app = layer(`${spec.base}/${spec.app}/${platform}`, spec.appBytes ?? 8_192);
    const p = platformOf(platform);
    const configBytes = Buffer.from(
      JSON.stringify({
        architecture: p.architecture,
        os: p.os,
        ...(p.variant ? { variant: p.variant } : {}),
        config: { Labels: { app: spec.app, base: spec.base } },
        rootfs: { type: "layers", diff_ids: [base.descriptor.digest, app.descriptor.digest] },
      }),
    );
    const config: Blob = {
      bytes: configBytes,
      descriptor: {
        mediaType: MEDIA_TYPES.ociConfig,
        digest: sha256Digest(configBytes),
        size: configBytes.length,
      },
    };
    for (const blob of [config, base, app]) {
      await pushBlob(registryUrl, repository, { bytes: blob.bytes, digest: blob.descriptor.digest });
      if (!blobs.some((b) => b.descriptor.digest === blob.descriptor.digest)) blobs.push(blob);
    }
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: config.descriptor,
      layers: [base.descriptor, app.descriptor],
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    children.push({ digest: sha256Digest(bytes), size: bytes.length, platform, bytes });
  }
  if (platforms.length === 1) {
    const only = children[0]!;
    const digest = await pushManifest(registryUrl, repository, tag, only.bytes, MEDIA_TYPES.ociManifest);
    return { digest, blobs, manifests: 1 };
  }
  for (const child of children)
    await pushManifest(registryUrl, repository, child.digest, child.bytes, MEDIA_TYPES.ociManifest);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: children.map((c) => ({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: c.digest,
      size: c.size,
      platform: platformOf(c.platform),
    })),
  };
  const digest = await pushManifest(
    registryUrl,
    repository,
    tag,
    Buffer.from(JSON.stringify(index)),
    MEDIA_TYPES.ociIndex,
  );
  return { digest, blobs, manifests: children.length + 1 };
}

/** Bytes of the distinct blobs among `images`: what a registry must receive at least (the floor). */
export function uniqueBlobBytes(images: readonly LayeredImage[]): number {
  const sizes = new Map<string, number>();
  for (const image of images) for (const b of image.blobs) sizes.set(b.descriptor.digest, b.bytes.length);
  return [...sizes.values()].reduce((a, b) => a + b, 0);
}
