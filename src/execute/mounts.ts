/**
 * Shared layers uploaded once per registry. crane mounts only within one registry, so copying from docker.io it
 * would upload a shared base layer once per target repository. Before a copy starts, every blob of it that an
 * earlier copy of this run already put into another repository of the target is mounted from there
 * (`POST …/blobs/uploads/?mount=&from=`, in process); crane's HEAD then finds it present and uploads nothing.
 * A copy waits for the earlier copies that bring its blobs. A refused mount (202: mounting off, ECR's
 * encryption differs, the blob not there) leaves the upload to crane; after a few refusals and no success,
 * mounting stops for the run.
 */
import { type ECRClient, GetAccountSettingCommand } from "@aws-sdk/client-ecr";
import type { UpstreamManifest, UpstreamManifests } from "../observe/manifests.js";
import type { TransferStep } from "../plan/model.js";
import { type Blob, type CopyContent, orderForSharing } from "../plan/sharing.js";
import { mapWithConcurrency } from "../pool.js";

interface Descriptor {
  digest: string;
  size?: number;
  urls?: unknown[];
  platform?: { os?: string; architecture?: string; variant?: string };
}

function blobsOf(manifest: UpstreamManifest): Blob[] {
  const body = manifest.body as { config?: Descriptor; layers?: Descriptor[] };
  // Foreign layers (with `urls`) are not pushed by crane either.
  return [body.config, ...(body.layers ?? [])]
    .filter((d): d is Descriptor => !!d && typeof d.digest === "string" && !d.urls?.length)
    .map((d) => ({ digest: d.digest, size: d.size ?? 0 }));
}

/** crane's platform match (remote/index.go): os and architecture equal, the variant when one is asked for. */
function childMatches(child: Descriptor, wanted: string): boolean {
  const [os, architecture, variant] = wanted.split("/");
  const p = child.platform ?? { os: "linux", architecture: "amd64" };
  return p.os === os && p.architecture === architecture && (!variant || p.variant === variant);
}

/**
 * What a copy step will write, from the upstream manifests (read through the run's cache): its blobs and its
 * manifest PUTs. Null for charts and when the upstream does not have it.
 */
export async function copyContent(
  step: TransferStep,
  manifests: UpstreamManifests,
): Promise<CopyContent | null> {
  if (step.kind !== "image") return null;
  const entry = step.entry;
  const top = await manifests.read(entry, entry.reference.digest ?? entry.reference.tag ?? "latest");
  if (!top) return null;
  const children = (top.body as { manifests?: Descriptor[] }).manifests;
  if (!Array.isArray(children)) return { blobs: blobsOf(top), manifests: 1 };
  const kept =
    step.platforms.length === 0
      ? children
      : step.platforms.length === 1
        ? children.filter((c) => childMatches(c, step.platforms[0]!)).slice(0, 1)
        : children.filter((c) => step.platforms.some((p) => childMatches(c, p)));
  const blobs: Blob[] = [];
  for (const child of kept) {
    const manifest = await manifests.read(entry, child.digest);
    if (manifest) blobs.push(...blobsOf(manifest));
  }
  return { blobs, manifests: step.platforms.length === 1 ? 1 : kept.length + 1 };
}

/** Reads every copy's content, `concurrency` at a time; a failed read only means no sharing for that copy. */
export async function copyContents(
  steps: readonly TransferStep[],
  manifests: UpstreamManifests,
  concurrency = 8,
): Promise<Map<TransferStep, CopyContent | null>> {
  const contents = new Map<TransferStep, CopyContent | null>();
  await mapWithConcurrency(steps, concurrency, async (step) => {
    contents.set(step, await copyContent(step, manifests).catch(() => null));
  });
  return contents;
}

/** The target side of mounting: one cross-repository mount request. */
export interface MountTarget {
  mountBlob(repository: string, digest: string, from: string): Promise<"mounted" | "refused">;
}

export interface SharingReport {
  /** Blobs mounted from another repository instead of uploaded. */
  mounted: number;
  /** Bytes those blobs hold (not uploaded). */
  bytesMounted: number;
  /** Mounts the registry refused (crane uploaded those blobs). */
  refused: number;
  /** Why sharing was off for this run, when it was. */
  off: string | null;
}

/** Refusals in a row, with no mount done yet, after which mounting stops for the run. */
const REFUSALS_BEFORE_GIVING_UP = 3;

export class LayerSharing {
  readonly report: SharingReport = { mounted: 0, bytesMounted: 0, refused: 0, off: null };
  /** Repositories of the target that hold a blob (after a copy of this run verified). */
  private readonly holders = new Map<string, string[]>();
  /** The copy that brings each blob first. */
  private readonly bringer = new Map<string, TransferStep>();
  /** Each copy's end (resolved after it, failed or not), and its resolver. */
  private readonly finished = new Map<TransferStep, Promise<void>>();
  private readonly done = new Map<TransferStep, () => void>();
  /** Mounts refused from each source repository. */
  private readonly refusedBy = new Map<string, number>();

  constructor(
    ordered: readonly TransferStep[],
    private readonly contents: ReadonlyMap<TransferStep, CopyContent | null>,
    private readonly target: MountTarget,
    private readonly options: {
      concurrency?: number;
      off?: string | null;
      /** Blobs the target already holds, each in a repository (a sharded sync's seed brought them). */
      held?: ReadonlyMap<string, string>;
    } = {},
  ) {
    this.report.off = options.off ?? null;
    for (const [digest, repository] of options.held ?? []) this.hold(digest, repository);
    for (const step of ordered) {
      let resolve!: () => void;
      this.finished.set(
        step,
        new Promise<void>((r) => {
          resolve = r;
        }),
      );
      this.done.set(step, resolve);
      for (const b of contents.get(step)?.blobs ?? [])
        if (!this.bringer.has(b.digest)) this.bringer.set(b.digest, step);
    }
  }

  /**
   * Before `step`'s copy: waits for the copies that bring its blobs first, then mounts each blob its repository
   * lacks from a repository that holds it. Never throws: a failure leaves the upload to crane.
   */
  async before(step: TransferStep): Promise<void> {
    const content = this.contents.get(step);
    if (!content || this.report.off) return;
    const waits = new Set<Promise<void>>();
    for (const b of content.blobs) {
      const first = this.bringer.get(b.digest);
      if (first && first !== step) waits.add(this.finished.get(first)!);
    }
    await Promise.all(waits);
    const wanted = new Map(content.blobs.map((b) => [b.digest, b]));
    const mounts = [...wanted.values()].filter((b) => {
      const holders = this.holders.get(b.digest) ?? [];
      return holders.length > 0 && !holders.includes(step.repository);
    });
    await mapWithConcurrency(mounts, this.options.concurrency ?? 4, async (b) => {
      // Sources that refused before go last (ECR refuses between different encryption settings); two tries.
      const sources = [...this.holders.get(b.digest)!]
        .sort((x, y) => (this.refusedBy.get(x) ?? 0) - (this.refusedBy.get(y) ?? 0))
        .slice(0, 2);
      for (const from of sources) {
        if (this.report.off) return;
        const answer = await this.target
          .mountBlob(step.repository, b.digest, from)
          .catch(() => "refused" as const);
        if (answer === "mounted") {
          this.report.mounted += 1;
          this.report.bytesMounted += b.size;
          this.hold(b.digest, step.repository);
          return;
        }
        this.report.refused += 1;
        this.refusedBy.set(from, (this.refusedBy.get(from) ?? 0) + 1);
        if (this.report.mounted === 0 && this.report.refused >= REFUSALS_BEFORE_GIVING_UP)
          this.report.off = `the registry refused ${this.report.refused} mounts and mounted none`;
      }
    });
  }

  /** After `step`'s copy (and its verification): its repository holds its blobs when it succeeded. */
  after(step: TransferStep, succeeded: boolean): void {
    if (succeeded) for (const b of this.contents.get(step)?.blobs ?? []) this.hold(b.digest, step.repository);
    this.done.get(step)?.();
  }

  private hold(digest: string, repository: string): void {
    const list = this.holders.get(digest) ?? [];
    if (!list.includes(repository)) list.push(repository);
    this.holders.set(digest, list);
  }
}

/**
 * Whether ECR mounts across repositories in this account (GetAccountSetting BLOB_MOUNTING): null when it does,
 * else why not. A call ECR refuses (no `ecr:GetAccountSetting` permission) leaves mounting to be tried: a
 * refused mount costs one request and crane uploads.
 */
export async function ecrMountingOff(client: ECRClient): Promise<string | null> {
  try {
    const answer = await client.send(new GetAccountSettingCommand({ name: "BLOB_MOUNTING" }));
    return answer.value === "ENABLED"
      ? null
      : `the ECR account setting BLOB_MOUNTING is ${answer.value ?? "not set"} (aws ecr put-account-setting --name BLOB_MOUNTING --value ENABLED)`;
  } catch {
    return null;
  }
}

/** Every copy's content read, the order for sharing, and the sharing state for a run (wired by `sync.ts`). */
export async function prepareSharing(
  transfers: readonly TransferStep[],
  manifests: UpstreamManifests,
  target: MountTarget,
  options: {
    off: string | null;
    concurrency?: number;
    unread?: ReadonlySet<TransferStep>;
    /** Contents already read (by a sharded sync's plan job): not read again. */
    known?: (step: TransferStep) => CopyContent | null;
    /** Blobs the target already holds, each in a repository: mounted from there. */
    held?: ReadonlyMap<string, string>;
  },
): Promise<{
  sharing: LayerSharing;
  order: TransferStep[];
  contents: Map<TransferStep, CopyContent | null>;
}> {
  const images = transfers.filter((s) => s.kind === "image" && !options.unread?.has(s));
  const few = images.length < 2 && (options.held?.size ?? 0) === 0;
  const known = new Map<TransferStep, CopyContent | null>();
  for (const s of images) {
    const content = options.known?.(s);
    if (content) known.set(s, content);
  }
  const contents =
    options.off || few
      ? new Map<TransferStep, CopyContent | null>()
      : new Map([
          ...known,
          ...(await copyContents(
            images.filter((s) => !known.has(s)),
            manifests,
          )),
        ]);
  const order = orderForSharing(transfers, (s) => contents.get(s) ?? null);
  const sharing = new LayerSharing(order, contents, target, {
    off: options.off ?? (few ? "fewer than two images to copy" : null),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.held ? { held: options.held } : {}),
  });
  return { sharing, order, contents };
}
