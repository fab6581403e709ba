// Low-level OCI push over plain HTTP (POST upload -> PUT blob with digest -> PUT manifest), for
// tests that need exact control over each request. Test images proper come from images.ts.
import { createHash } from "node:crypto";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

export const sha256 = (bytes: Buffer | string) =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** `Authorization: Basic ...` for `user:password`. */
export function basicAuth(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** Uploads one blob (monolithic: POST then PUT ?digest=); returns its digest. Throws on refusal. */
export async function pushBlob(
  baseUrl: string,
  repository: string,
  bytes: Buffer,
  headers: Record<string, string> = {},
): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: "POST", headers });
  await start.body?.cancel();
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
  const location = new URL(start.headers.get("location") ?? "", baseUrl);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { ...headers, "content-type": "application/octet-stream" },
    body: new Uint8Array(bytes),
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`blob upload PUT: HTTP ${put.status}`);
  return digest;
}

/** PUTs a manifest under `reference` (tag or digest); returns the raw response for assertions. */
export async function putManifest(
  baseUrl: string,
  repository: string,
  reference: string,
  manifest: string,
  headers: Record<string, string> = {},
  mediaType = OCI_MANIFEST,
): Promise<Response> {
  return fetch(`${baseUrl}/v2/${repository}/manifests/${reference}`, {
    method: "PUT",
    headers: { ...headers, "content-type": mediaType },
    body: manifest,
  });
}

/**
 * A tiny single-layer OCI image; `seed` makes different contents (different digests). The layer is
 * not a real tarball: registries do not look inside layers, runtimes would.
 */
export function tinyImage(seed: string): { config: Buffer; layer: Buffer; manifest: string; digest: string } {
  const layer = Buffer.from(`layer ${seed}`);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha256(layer)] },
    }),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
  });
  return { config, layer, manifest, digest: sha256(manifest) };
}

/** Pushes `tinyImage(seed)` as `repository:tag`; returns the manifest response and its digest. */
export async function pushTinyImage(
  baseUrl: string,
  repository: string,
  tag: string,
  seed: string,
  headers: Record<string, string> = {},
): Promise<{ response: Response; digest: string }> {
  const image = tinyImage(seed);
  await pushBlob(baseUrl, repository, image.config, headers);
  await pushBlob(baseUrl, repository, image.layer, headers);
  const response = await putManifest(baseUrl, repository, tag, image.manifest, headers);
  return { response, digest: image.digest };
}
