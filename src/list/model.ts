/**
 * The validated mirror list: the one typed value every later phase (observe, plan, execute,
 * render, report) works from. Produced only by `parseMirrorList` in ./parse.ts.
 */

/** A place in the mirror-list file (1-based line and column). */
export interface Location {
  file: string;
  line: number;
  column: number;
}

/** A problem found in the mirror list. Errors are values until the edge turns them into text or annotations. */
export interface ListProblem extends Location {
  severity: "error" | "warning";
  message: string;
  hint?: string;
}

/** A normalised Docker reference, as distribution/reference parses it. */
export interface ImageReference {
  /** Registry host, `docker.io` for Docker Hub (never `index.docker.io`). May carry a port. */
  domain: string;
  /** Repository path below the host, with `library/` added for one-component Docker Hub names. */
  path: string;
  tag: string | null;
  digest: string | null;
}

export type TagMutability = "MUTABLE" | "IMMUTABLE" | "MUTABLE_WITH_EXCLUSION" | "IMMUTABLE_WITH_EXCLUSION";

/** Settings applied to a repository when ecr-mirror creates it (never changed on existing ones). */
export interface RepositorySettings {
  imageTagMutability: TagMutability;
  /** ECR wildcard filters (`*` matches any run of characters); only with the *_WITH_EXCLUSION modes. */
  imageTagMutabilityExclusionFilters: string[];
  scanOnPush: boolean;
  encryption: { type: "AES256" | "KMS" | "KMS_DSSE"; kmsKey: string | null };
  tags: Record<string, string>;
  /** The lifecycle policy document as JSON text, or null. */
  lifecyclePolicy: string | null;
  /** The repository policy document as JSON text, or null. */
  repositoryPolicy: string | null;
}

export interface Target {
  /** `ecr` (default) or `oci` (any registry speaking the Distribution API: Harbor, Artifactory, a test registry). */
  type: "ecr" | "oci";
  region: string | null;
  accountId: string | null;
  /** Registry address (`host[:port]`), or null to discover it (ECR's proxyEndpoint). */
  registry: string | null;
  imagePrefix: string;
  chartPrefix: string;
  prune: boolean;
  /** With prune: the most tags one run may delete (`target.maxDeletions`). */
  maxDeletions: number;
  /** Where `target.prune` (else `target:`) is written: where a deletion-limit error points. */
  pruneLocation: Location | null;
  repositorySettings: RepositorySettings;
  /**
   * `target.reconcileSettings`: existing repositories are brought to `repositorySettings` too (a
   * `reconcile-settings` step where they differ); off: the settings apply only when ecr-mirror creates a repository.
   */
  reconcileSettings: boolean;
}

/** An upstream registry the nodes redirect to the mirror. */
export interface Upstream {
  /** The registry host as image names carry it (`docker.io`, `quay.io`, `localhost:5000`). */
  host: string;
  /** Target repository prefix its images land under: `docker.io/<path>` at `<prefix>/<path>`. */
  prefix: string;
  /**
   * Where content is fetched from without changing its name, as a base URL
   * (`https://mirror.gcr.io`, `http://127.0.0.1:5000/cache`), or null for the host itself.
   */
  endpoint: string | null;
  /** Whether nodes may get a hosts.toml for this host: they do when it is set and an image uses the host (./redirects.ts). */
  redirect: boolean;
  /** Whether the node may fall back to the upstream when the mirror fails (off: fail fast in an air gap). */
  fallback: boolean;
  location: Location | null;
}

/** One image to mirror: one source reference and one tag or digest. */
export interface ImageEntry {
  /** The reference, fully qualified as distribution prints it: `docker.io/library/redis:7.0`. */
  source: string;
  reference: ImageReference;
  /** Target repository name, `mirrors/library/redis`. */
  repository: string;
  /** Platforms to keep (`linux/amd64`); empty means all. Only on tag-only entries. */
  platforms: string[];
  /** Where each of `platforms` is written in the list (same order), for errors about one platform. */
  platformLocations?: Location[];
  location: Location;
  /**
   * Set on images found inside charts (`images: true` on a chart): the chart versions whose rendered
   * manifests name this image. Absent on images the list names itself.
   */
  fromCharts?: ChartOrigin[];
  /**
   * Set when the image's referrers (signatures, attestations, SBOMs) are mirrored with it: the entry's
   * `referrers: true`, or `defaults.referrers` for entries without platforms.
   */
  referrers?: true;
  /**
   * Set on the node configurator's image when ecr-mirror added it to the list itself (the list does not
   * name it): it is mirrored, but its host is not redirected on the nodes for it (see ./redirects.ts).
   */
  configurator?: true;
  /** Set on tags an image range expanded to: the range as the plan names it (`versionRange ">=1.0 <2"`). */
  resolvedFrom?: string;
}

/**
 * An image tag range (`versionRange:`, `pattern:`, `newest:` on an image entry), resolved at plan time against the
 * upstream's tag list, or taken from the lock file (observe/tag-ranges.ts), into `ImageEntry`s.
 */
export interface ImageRange {
  /** The image name, fully qualified, without tag: `docker.io/library/nginx`. */
  source: string;
  /** The reference, tag and digest null. */
  reference: ImageReference;
  repository: string;
  platforms: string[];
  platformLocations?: Location[];
  /** The semantic version range as written (Masterminds/semver, as for charts), or null. */
  versionRange: string | null;
  /** The tag pattern as written (a regular expression matched against the whole tag; ./tag-pattern.ts), or null. */
  pattern: string | null;
  /** Keep only the N highest matching tags, or null for all of them. */
  newest: number | null;
  /** Where the range is written (its versionRange, else its pattern, else its newest). */
  location: Location;
}

/** A chart version an image was discovered in. */
export interface ChartOrigin {
  name: string;
  version: string;
  /** The chart's target repository (`charts/ingress-nginx`). */
  repository: string;
}

/** How a chart's images are discovered (`images: true`): render with these values, collect image references. */
export interface ChartImageDiscovery {
  /** Values given to `helm template` over the chart's defaults (a mapping; empty for defaults only). */
  values: Record<string, unknown>;
}

export interface ChartEntry {
  kind: "http" | "oci";
  /** The HTTP repository URL, or the `oci://` reference without version. */
  source: string;
  /** Chart name as published upstream. */
  name: string;
  /** Target repository name, `charts/ingress-nginx`. */
  repository: string;
  version: string;
  /** The tag the version is stored under (helm turns `+` into `_`). */
  tag: string;
  location: Location;
  /** Image discovery for this chart, or null (the default: the chart's images are not mirrored). */
  images: ChartImageDiscovery | null;
  /** Where the version came from: listed exactly, or the version range (as written) it was resolved from. */
  resolvedFrom?: string;
}

/**
 * A chart version range (`versionRange:`), resolved at plan time against the repository's
 * `index.yaml` or the OCI tag list into `ChartEntry`s (src/charts/resolve.ts).
 */
export interface ChartRange {
  kind: "http" | "oci";
  source: string;
  name: string;
  repository: string;
  /** The constraint as written (Masterminds/semver syntax, as helm reads `--version`). */
  range: string;
  /** Keep only the highest N matching versions, or null for all of them. */
  newest: number | null;
  images: ChartImageDiscovery | null;
  location: Location;
}

export interface MirrorList {
  file: string;
  target: Target;
  upstreams: Upstream[];
  images: ImageEntry[];
  /** `defaults.referrers`: images added outside the list (found in charts) carry their referrers too. */
  referrersByDefault?: true;
  charts: ChartEntry[];
  /**
   * Version ranges still to resolve; empty or absent once `resolveChartVersions` (src/charts/resolve.ts)
   * has turned them into `charts`.
   */
  chartRanges?: ChartRange[];
  /**
   * Image tag ranges still to resolve; empty or absent once `resolveImageRanges` (src/observe/tag-ranges.ts) has
   * turned them into `images`.
   */
  imageRanges?: ImageRange[];
}
