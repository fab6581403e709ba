/**
 * Docker image references, parsed and normalised exactly as distribution/reference does
 * (`ParseNormalizedNamed`, regexp.go, normalize.go; go-digest for digests). Pure functions.
 */
import type { ImageReference } from "./model.js";

const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const optionalPort = "(?::[0-9]+)?";
const tagPat = "[\\w][\\w.-]{0,127}";
const digestPat = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
const ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = host + optionalPort;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const referenceRegexp = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRegexp = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const anchoredIdentifierRegexp = /^[a-f0-9]{64}$/;
const anchoredTagRegexp = new RegExp(`^${tagPat}$`);
const anchoredDomainRegexp = new RegExp(`^${domainAndPort}$`);

/** Maximum length of a repository path (distribution's RepositoryNameTotalLengthMax). */
export const REPOSITORY_NAME_MAX = 255;

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";

/** Digest algorithms go-digest registers with the standard library, and their hex lengths. */
const DIGEST_ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export type ReferenceResult =
  | { ok: true; value: ImageReference }
  | { ok: false; error: string; hint?: string };

/** go-digest's `Parse` + `Validate`: `algorithm:hex` with a registered algorithm and exact lower-case hex. */
export function validateDigest(digest: string): string | null {
  const i = digest.indexOf(":");
  if (i <= 0 || i + 1 === digest.length)
    return "invalid digest format (expected algorithm:hex, as in sha256:…)";
  const algorithm = digest.slice(0, i);
  const encoded = digest.slice(i + 1);
  const length = DIGEST_ALGORITHMS[algorithm];
  if (length === undefined)
    return `unsupported digest algorithm "${algorithm}" (use sha256, sha384 or sha512)`;
  if (encoded.length !== length)
    return `invalid ${algorithm} digest length: ${encoded.length} hex characters, expected ${length}`;
  if (!/^[a-f0-9]+$/.test(encoded))
    return `invalid ${algorithm} digest: only lower-case hex characters are allowed`;
  return null;
}

export function isValidTag(tag: string): boolean {
  return anchoredTagRegexp.test(tag);
}

/** Whether `s` is a registry host as references carry it (`quay.io`, `localhost:5000`, `[::1]:5000`). */
export function isValidDomain(s: string): boolean {
  return anchoredDomainRegexp.test(s);
}

/** splitDockerDomain from normalize.go. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf("/");
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === "localhost") [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remote] = [DEFAULT_DOMAIN, maybeRemote];
  else if (/[.:]/.test(maybeDomain)) [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remote] = [maybeDomain, maybeRemote];
  else [domain, remote] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !remote.includes("/")) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/**
 * `ParseNormalizedNamed`: a familiar or full reference (`redis:7.0`, `quay.io/org/app@sha256:…`)
 * to its normalised parts. No default tag is added: a bare name has neither tag nor digest.
 */
export function parseReference(input: string): ReferenceResult {
  const s = input;
  const refused = refuseText(s);
  if (refused) return refused;
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(":");
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    return {
      ok: false,
      error: `repository name (${remote}) must be lowercase`,
      hint: "registry repository paths are lower case; tags may use upper case",
    };
  }
  const full = `${domain}/${remainder}`;
  const m = referenceRegexp.exec(full);
  if (!m) return { ok: false, ...explainInvalid(full) };
  const name = m[1]!;
  const nameMatch = anchoredNameRegexp.exec(name);
  const refDomain = nameMatch?.[1] ?? "";
  const path = nameMatch?.[2] ?? name;
  if (refDomain === "") {
    // The grammar's domain is optional: `my_registry.example.com/x` matches as a path with no domain at all.
    return {
      ok: false,
      error: `${JSON.stringify(domain)} is not a valid registry host`,
      hint: "a registry host is letters, digits, '-' and '.' with an optional :port (no '_')",
    };
  }
  if (path.length > REPOSITORY_NAME_MAX) {
    return { ok: false, error: `repository name must not be more than ${REPOSITORY_NAME_MAX} characters` };
  }
  const digest = m[3] ?? null;
  if (digest !== null) {
    const problem = validateDigest(digest);
    if (problem) return { ok: false, error: problem };
  }
  return { ok: true, value: { domain: refDomain, path, tag: m[2] ?? null, digest } };
}

/** What no reference can be: empty, with white space, a URL, a bare 64-hex image id; null when none. */
function refuseText(s: string): ReferenceResult | null {
  if (s === "") return { ok: false, error: "the reference is empty" };
  if (/\s/.test(s)) return { ok: false, error: "a reference cannot contain white space" };
  if (s.includes("://")) {
    return {
      ok: false,
      error: "a reference has no URL scheme",
      hint: `write it as a registry reference, e.g. "${s.replace(/^[a-z]+:\/\//i, "")}"`,
    };
  }
  if (anchoredIdentifierRegexp.test(s)) {
    return {
      ok: false,
      error: `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`,
      hint: "a bare 64-hex string is an image ID; name the repository and pin the digest: name@sha256:<hex>",
    };
  }
  return null;
}

/** A more precise reason than "invalid reference format" for the common mistakes. */
function explainInvalid(full: string): { error: string; hint?: string } {
  const at = full.indexOf("@");
  const namePart = at === -1 ? full : full.slice(0, at);
  const digest = at === -1 ? null : full.slice(at + 1);
  if (digest !== null) {
    const problem = validateDigest(digest);
    if (problem) return { error: problem };
  }
  const lastSlash = namePart.lastIndexOf("/");
  const colon = namePart.indexOf(":", lastSlash + 1);
  if (colon !== -1) {
    const tag = namePart.slice(colon + 1);
    if (!isValidTag(tag)) {
      return {
        error: `invalid tag "${tag}"`,
        hint: "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
      };
    }
  }
  return {
    error: "invalid reference format",
    hint: "expected [host[:port]/]path[:tag][@sha256:digest] with lower-case path components separated by '/', as in quay.io/prometheus/node-exporter:v1.8.2",
  };
}

/** The repository name without tag or digest: `docker.io/library/redis`. */
export function referenceName(ref: ImageReference): string {
  return ref.domain === "" ? ref.path : `${ref.domain}/${ref.path}`;
}

/** distribution's `String()`: `docker.io/library/redis:7.0`, `…@sha256:…`, `…:tag@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let s = referenceName(ref);
  if (ref.tag !== null) s += `:${ref.tag}`;
  if (ref.digest !== null) s += `@${ref.digest}`;
  return s;
}

/** distribution's `FamiliarString()`: `redis:7.0`, `quay.io/org/app:1`. */
export function familiarReference(ref: ImageReference): string {
  let path = ref.path;
  let domain = ref.domain;
  if (domain === DEFAULT_DOMAIN) {
    domain = "";
    const rest = path.startsWith(OFFICIAL_REPO_PREFIX) ? path.slice(OFFICIAL_REPO_PREFIX.length) : null;
    if (rest !== null && !rest.includes("/")) path = rest;
  }
  return formatReference({ ...ref, domain, path });
}
