/**
 * Copy and verify through crane and helm: images and OCI charts with `crane copy` (indexes and digests kept),
 * one platform with `crane copy --platform`, several with `crane index filter`, charts from HTTP repositories
 * with `helm pull` + `helm push`. Verification reads the target's digest (`crane digest`, one HEAD to the target)
 * and compares it with the source's: the pinned or observed digest when the plan knows it, else the digest crane
 * reported writing, so no extra upstream request is sent unless the tool said nothing.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ChartEntry, Upstream } from "../list/model.js";
import type { TransferStep } from "../plan/model.js";
import type { Crane } from "../tools/crane.js";
import { chartFetchAddress, type FetchAddress, fetchAddress } from "../tools/fetch-address.js";
import type { Helm } from "../tools/helm.js";
import { type CopyResult, DigestMismatch, type ExecuteDeps } from "./execute.js";

export interface CopierOptions {
  crane: Crane;
  /** Needed only for charts from HTTP repositories. */
  helm?: Helm | null;
  /** Logs helm in to the target; called once, before the first `helm push`. */
  helmLogin?: (() => Promise<void>) | null;
  upstreams: readonly Upstream[];
  /** Target registry `host[:port]`. */
  registry: string;
  /** Whether helm needs `--plain-http` for the target (crane's scheme rule: a plain loopback or private registry). */
  targetPlainHttp: () => Promise<boolean>;
  /** Parent folder for downloaded chart archives (`RUNNER_TEMP`). */
  workDir: string;
  /**
   * Reads the digest a tag holds in the target over the registry API, in process; without it each
   * verification starts a `crane digest` process.
   */
  targetDigest?: ((repository: string, tag: string) => Promise<string | null>) | null;
  /** Concurrent layer uploads within one copy (crane `--jobs`). */
  jobs?: number | null;
}

/** Where an image or chart step's source is fetched from, as crane reads it. */
export function sourceAddress(step: TransferStep, upstreams: readonly Upstream[]): FetchAddress {
  if (step.kind === "chart") {
    const chart = step.entry;
    if (chart.kind !== "oci")
      throw new Error(`chart ${chart.name} comes from an HTTP repository, not a registry`);
    const address = chartFetchAddress(chart.source, upstreams);
    return { ...address, reference: `${address.reference}:${chart.tag}` };
  }
  const image = step.entry;
  // `name:tag@digest` pulls the digest: give crane the digest alone.
  const reference = image.reference.digest ? { ...image.reference, tag: null } : image.reference;
  return fetchAddress(reference, upstreams);
}

/** `registry/repository:tag`, or `registry/repository@digest` for what is pushed by digest (an OCI referrer). */
export function targetReference(registry: string, step: { repository: string; tag: string }): string {
  return `${registry}/${step.repository}${step.tag.startsWith("sha256:") ? "@" : ":"}${step.tag}`;
}

/** A platform subset or a chart pushed from an HTTP repository: content the source holds under no digest. */
function writesNewContent(step: TransferStep): boolean {
  return step.platforms.length > 0 || (step.kind === "chart" && step.entry.kind === "http");
}

/** `copy` and `verify` for `executePlan`. */
export function createCopier(options: CopierOptions): Pick<ExecuteDeps, "copy" | "verify"> {
  const { crane, registry, upstreams } = options;
  let helmLoggedIn: Promise<void> | null = null;
  // OCI referrers of one subject are pushed one after another: on a registry without the referrers API crane
  // reads, extends and writes back the subject's `sha256-<hex>` index (go-containerregistry pkg/v1/remote/write.go
  // commitSubjectReferrers, unconditional), so two at once would lose one.
  const subjectQueues = new Map<string, Promise<unknown>>();
  const inSubjectOrder = <T>(step: TransferStep, work: () => Promise<T>): Promise<T> => {
    if (!step.referrer || step.referrer.tagged) return work();
    const key = `${step.repository}@${step.referrer.subject}`;
    const run = (subjectQueues.get(key) ?? Promise.resolve()).then(work, work);
    subjectQueues.set(
      key,
      run.catch(() => {}),
    );
    return run;
  };

  async function copyHttpChart(step: TransferStep, chart: ChartEntry): Promise<CopyResult> {
    const helm = options.helm;
    if (!helm) throw new Error(`chart ${chart.name} ${chart.version}: helm is not available`);
    const slash = step.repository.lastIndexOf("/");
    if (step.repository.slice(slash + 1) !== chart.name) {
      throw new Error(
        `chart ${chart.name} cannot land at ${step.repository}: helm push names the repository after the chart`,
      );
    }
    if (options.helmLogin) {
      helmLoggedIn ??= options.helmLogin();
      await helmLoggedIn;
    }
    const dir = await mkdtemp(join(options.workDir, "ecr-mirror-chart-"));
    try {
      // `--prov` keeps the provenance file when the repository publishes one: helm push then stores it as a
      // layer beside the chart (a repository without one only makes helm print a warning).
      const file = await helm.pullFromRepository(chart.source, chart.name, chart.version, dir, {
        prov: true,
      });
      const parent = slash < 0 ? "" : `/${step.repository.slice(0, slash)}`;
      const pushed = await helm.push(file, `oci://${registry}${parent}`, {
        plainHttp: await options.targetPlainHttp(),
      });
      return { digest: pushed.digest };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  return {
    async copy(step) {
      const destination = targetReference(registry, step);
      if (step.kind === "chart" && step.entry.kind === "http") return copyHttpChart(step, step.entry);
      const source = sourceAddress(step, upstreams);
      // Never `--insecure`: crane would apply it to the push as well. A plain-HTTP source or target is one
      // crane reaches over HTTP by its own rule (the list and the inputs refuse any other).
      if (step.platforms.length > 1) {
        return crane.indexFilter(source.reference, step.platforms, destination);
      }
      return inSubjectOrder(step, () =>
        crane.copy(source.reference, destination, {
          platform: step.platforms[0] ?? null,
          ...(options.jobs ? { jobs: options.jobs } : {}),
        }),
      );
    },

    async verify(step, copied) {
      const destination = targetReference(registry, step);
      const actual = options.targetDigest
        ? await options.targetDigest(step.repository, step.tag)
        : await crane.digest(destination);
      if (!actual) throw new Error(`the target does not hold ${destination} after the copy`);
      const expected = writesNewContent(step)
        ? await newContentDigest(step, copied, actual)
        : await sameContentDigest(step, copied);
      if (actual !== expected) throw new DigestMismatch(destination, actual, expected);
      return actual;
    },
  };

  /**
   * A filtered copy or a pushed chart is new content: the source holds no manifest with that digest, so what
   * crane or helm said it wrote is expected (or, for one platform, that platform's manifest upstream).
   */
  async function newContentDigest(step: TransferStep, copied: CopyResult, actual: string): Promise<string> {
    if (step.platforms.length === 1 && step.digest && copied.digest && step.digest !== copied.digest) {
      // The planner expects this platform manifest (resync `digest`); crane wrote another.
      throw new DigestMismatch(`${step.source} (${step.platforms[0]})`, copied.digest, step.digest);
    }
    if (copied.digest) return copied.digest;
    if (step.platforms.length !== 1) return actual;
    return crane.digest(sourceAddress(step, upstreams).reference, { platform: step.platforms[0] ?? null });
  }

  /** A plain copy keeps the source's digest: the pinned one, else what crane wrote, else the upstream's. */
  async function sameContentDigest(step: TransferStep, copied: CopyResult): Promise<string> {
    if (step.digest && copied.digest && step.digest !== copied.digest) {
      throw new DigestMismatch(`${step.source}`, copied.digest, step.digest);
    }
    return step.digest ?? copied.digest ?? (await upstreamDigest(step));
  }

  async function upstreamDigest(step: TransferStep): Promise<string> {
    const source = sourceAddress(step, upstreams);
    return crane.digest(source.reference);
  }
}
