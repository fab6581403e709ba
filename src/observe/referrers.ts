/**
 * Referrers: what refers to a mirrored digest (signatures, attestations, SBOMs), found the two ways they are
 * published. OCI distribution-spec 1.1: manifests whose `subject` names the digest, listed by the referrers API or,
 * on registries without one, by the referrers tag schema (an index under `sha256-<hex>`); both through
 * `DistributionClient.listReferrers`. cosign's own tags: `sha256-<hex>.sig`, `.att` and `.sbom` in the image's
 * repository (sigstore/cosign pkg/oci/remote: SignatureTag, AttestationTag, SBOMTag), one HEAD each.
 *
 * An upstream's answer is checked before anything is planned from it: every OCI referrer is read (one manifest GET)
 * and must name this digest as its `subject`; a list longer than `MAX_REFERRERS`, a descriptor that is not a
 * manifest digest, or a referrer larger than a manifest may be is refused, naming what was wrong.
 */
import type { ImageEntry } from "../list/model.js";
import { mapWithConcurrency } from "../pool.js";
import type { DistributionClient } from "../registry/distribution.js";
import { MANIFEST_LIMITS } from "../registry/http.js";
import type { Referrer, ReferrerKind, ReferrersOf } from "./model.js";

/** The most referrers one digest may have: far beyond real signatures and attestations, far below an attack. */
export const MAX_REFERRERS = 64;

/** cosign's tag suffixes, and what each holds (sigstore/cosign pkg/oci/remote/remote.go). */
export const COSIGN_SUFFIXES: readonly { suffix: string; kind: ReferrerKind }[] = [
  { suffix: "sig", kind: "signature" },
  { suffix: "att", kind: "attestation" },
  { suffix: "sbom", kind: "sbom" },
];

/**
 * The OCI 1.1 release candidates' artifact manifest, dropped from the final spec: some registries still hold such
 * referrers (ORAS 1.0 pushed them), and crane cannot write them. Left out with a note, not refused.
 */
const ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json";

const MANIFEST_TYPES = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
]);

/** The tag cosign stores `suffix` under for `digest`: `sha256-<hex>.sig`. */
export function cosignTag(digest: string, suffix: string): string {
  return `${digest.replace(":", "-")}.${suffix}`;
}

/** What an artifact type says the referrer is. */
export function referrerKind(artifactType: string | null): ReferrerKind {
  const t = (artifactType ?? "").toLowerCase();
  if (/sbom|spdx|cyclonedx|syft/.test(t)) return "sbom";
  if (/in-toto|intoto|attestation|dsse|provenance|vex/.test(t)) return "attestation";
  if (/signature|notary|cosign|sigstore/.test(t)) return "signature";
  return "artifact";
}

/** An upstream answer that cannot be mirrored as it is: the plan refuses it, saying why. */
export class RefusedReferrers extends Error {}

function checkedDescriptor(
  value: unknown,
  where: string,
): { digest: string; mediaType: string; size: number; artifactType: string | null } {
  const d = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof d.digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(d.digest))
    throw new RefusedReferrers(
      `${where} lists a referrer without a sha256 manifest digest (${JSON.stringify(d.digest ?? null).slice(0, 80)})`,
    );
  if (typeof d.mediaType !== "string" || !MANIFEST_TYPES.has(d.mediaType))
    throw new RefusedReferrers(
      `${where} lists ${d.digest} as a ${JSON.stringify(d.mediaType ?? null).slice(0, 80)}, not an image manifest or index`,
    );
  if (
    typeof d.size !== "number" ||
    !Number.isInteger(d.size) ||
    d.size < 0 ||
    d.size > MANIFEST_LIMITS.maxBytes
  )
    throw new RefusedReferrers(
      `${where} lists ${d.digest} with a size of ${String(d.size)} bytes; a manifest has at most ${MANIFEST_LIMITS.maxBytes}`,
    );
  return {
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    artifactType: typeof d.artifactType === "string" ? d.artifactType : null,
  };
}

/**
 * Reads one listed referrer and checks it: the registry has it under that digest and its `subject` is this image.
 * Resolves its artifact type (the descriptor's, the manifest's, else its config's media type, as crane records it).
 */
async function verifiedArtifactType(
  client: DistributionClient,
  repository: string,
  subject: string,
  d: { digest: string; artifactType: string | null },
  where: string,
): Promise<string | null> {
  const manifest = await client.getManifest(repository, d.digest);
  if (!manifest) throw new RefusedReferrers(`${where} lists ${d.digest}, which the registry does not have`);
  if (manifest.digest && manifest.digest !== d.digest)
    throw new RefusedReferrers(
      `${where} lists ${d.digest}, but the registry serves ${manifest.digest} for it`,
    );
  const named = (manifest.body.subject as { digest?: unknown } | undefined)?.digest;
  if (named !== subject)
    throw new RefusedReferrers(
      `${where} lists ${d.digest}, whose subject is ${typeof named === "string" ? named : "missing"}, not ${subject}`,
    );
  if (d.artifactType) return d.artifactType;
  if (typeof manifest.body.artifactType === "string") return manifest.body.artifactType;
  const config = manifest.body.config as { mediaType?: unknown } | undefined;
  return typeof config?.mediaType === "string" ? config.mediaType : null;
}

export interface ReferrerLookup {
  /**
   * Whether to read this OCI referrer and check that its `subject` is the digest (upstreams: what is copied must be
   * what it says; one the target already holds was checked when it was copied).
   */
  verify: (entry: ImageEntry, digest: string) => boolean;
}

/**
 * The referrers of `subject` in `repository`: the OCI ones (API or tag schema) and cosign's tags. Throws
 * `RefusedReferrers` for an answer that does not fit (see the file comment); other errors are the registry's.
 */
export async function findReferrers(
  client: DistributionClient,
  repository: string,
  subject: string,
  verify: (digest: string) => boolean,
): Promise<Omit<ReferrersOf, "subject">> {
  const where = `${client.describe(repository)} (referrers of ${subject})`;
  const listed = await client.listReferrers(repository, subject);
  if (listed.manifests.length > MAX_REFERRERS)
    throw new RefusedReferrers(
      `${where} lists ${listed.manifests.length} referrers, more than ${MAX_REFERRERS}`,
    );
  const found: Referrer[] = [];
  const skipped: string[] = [];
  for (const value of listed.manifests) {
    const mediaType = (value as { mediaType?: unknown } | null)?.mediaType;
    if (mediaType === ARTIFACT_MANIFEST) {
      skipped.push(
        `${String((value as { digest?: unknown }).digest).slice(0, 80)} is an OCI artifact manifest (OCI 1.1 release candidates), which the final spec dropped and crane cannot write`,
      );
      continue;
    }
    const d = checkedDescriptor(value, where);
    if (found.some((r) => r.digest === d.digest)) continue;
    const artifactType = verify(d.digest)
      ? await verifiedArtifactType(client, repository, subject, d, where)
      : d.artifactType;
    found.push({
      digest: d.digest,
      artifactType,
      kind: referrerKind(artifactType),
      tag: null,
      via: listed.via,
    });
  }
  for (const { suffix, kind } of COSIGN_SUFFIXES) {
    const tag = cosignTag(subject, suffix);
    const digest = await client.headManifest(repository, tag);
    if (digest) found.push({ digest, artifactType: null, kind, tag, via: "cosign" });
  }
  return { via: listed.via, referrers: found, ...(skipped.length > 0 ? { skipped } : {}) };
}

/** One image entry whose referrers are looked for, and the digest they must refer to. */
export interface ReferrerSubject {
  entry: ImageEntry;
  digest: string;
}

export interface ReferrerFindings {
  /** By entry source: what refers to its digest. */
  found: Map<string, ReferrersOf>;
  /** By entry source: answers refused (a subject that is another digest, too many, not manifests). */
  refused: Map<string, string>;
  /** By entry source: the registry could not be asked (network, 5xx, ...). */
  failures: Map<string, string>;
}

/** The referrers of every subject, `clientFor` giving the registry (and repository path) to ask. */
export async function findAllReferrers(
  subjects: readonly ReferrerSubject[],
  clientFor: (entry: ImageEntry) => { client: DistributionClient; repository: string },
  lookup: ReferrerLookup,
  concurrency = 8,
): Promise<ReferrerFindings> {
  const findings: ReferrerFindings = { found: new Map(), refused: new Map(), failures: new Map() };
  await mapWithConcurrency(subjects, concurrency, async ({ entry, digest }) => {
    const { client, repository } = clientFor(entry);
    try {
      const found = await findReferrers(client, repository, digest, (d) => lookup.verify(entry, d));
      findings.found.set(entry.source, { subject: digest, ...found });
    } catch (e) {
      if (e instanceof RefusedReferrers) findings.refused.set(entry.source, e.message);
      else findings.failures.set(entry.source, (e as Error).message);
    }
  });
  return findings;
}
