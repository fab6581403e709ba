/**
 * The mirror-list schema, written once. `schema/mirrors.schema.json` is generated from it
 * (`npm run build`; a test fails when the file is stale), and the parser in ./parse.ts validates
 * the file's structure by interpreting this same object, so editors, CI and the tool agree.
 *
 * Only a JSON-Schema subset is used (type, properties, additionalProperties, required, enum,
 * pattern, items, minItems, uniqueItems, minLength, maxLength, minimum, oneOf discriminated by type),
 * because ./validate-structure.ts interprets exactly that subset.
 */

/**
 * The mirror list's defaults, one row per key a list may leave out: the schema below gives them as `default`,
 * the parser (./rules/) fills them in, and a test holds the README's defaults table to this one.
 * Keys are written as the README writes them (`<host>` is any upstream, `[]` any item of a list).
 */
export const mirrorListDefaults = {
  "target.type": "ecr",
  "target.imagePrefix": "mirrors",
  "target.chartPrefix": "charts",
  "target.prune": false,
  "target.maxDeletions": 20,
  "target.reconcileSettings": false,
  "target.repositorySettings.imageTagMutability": "MUTABLE",
  "target.repositorySettings.scanOnPush": false,
  "target.repositorySettings.encryption.type": "AES256",
  "upstreams.<host>.redirect": true,
  "upstreams.<host>.fallback": false,
  "charts[].images": false,
  "defaults.referrers": false,
} as const;

const d = mirrorListDefaults;

const ecrPrefix = "^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$";

const stringList = (description: string, item: Record<string, unknown> = {}) => ({
  type: "array",
  description,
  items: { type: "string", ...item },
  minItems: 1,
  uniqueItems: true,
});

const policyDocument = (description: string) => ({
  type: ["object", "string"],
  description: `${description} Either a YAML mapping (turned into JSON) or a JSON string.`,
});

export const mirrorListSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://github.com/ecr-mirror/ecr-mirror/schema/mirrors.schema.json",
  title: "ecr-mirror mirror list",
  description:
    "Container images and Helm charts to keep mirrored in a private Amazon ECR registry (or any OCI registry), and where they land.",
  type: "object",
  additionalProperties: false,
  properties: {
    version: { description: "Format version of this file.", enum: [1] },
    target: {
      type: "object",
      description: "Where the mirrors live and how repositories are created.",
      additionalProperties: false,
      properties: {
        type: {
          description: "`ecr` or `oci` for any registry speaking the OCI Distribution API.",
          enum: ["ecr", "oci"],
          default: d["target.type"],
        },
        region: {
          type: "string",
          description: "AWS region of the registry; else the action's `aws-region` input or AWS_REGION.",
          pattern: "^[a-z]{2}(?:-[a-z0-9]+)+-[0-9]+$",
        },
        accountId: {
          type: "string",
          description: "12-digit AWS account id (quoted); discovered from the credentials when absent.",
          pattern: "^[0-9]{12}$",
        },
        registry: {
          type: "string",
          description:
            "Registry address `host[:port]`. For ECR it is discovered (the authorization data's proxyEndpoint) when absent.",
          minLength: 1,
        },
        imagePrefix: {
          type: "string",
          description: "Repository prefix images land under.",
          pattern: ecrPrefix,
          default: d["target.imagePrefix"],
        },
        chartPrefix: {
          type: "string",
          description: "Repository prefix Helm charts land under.",
          pattern: ecrPrefix,
          default: d["target.chartPrefix"],
        },
        prune: {
          type: "boolean",
          description:
            "Delete tags under the managed prefixes that the list no longer names. Always shown in the plan first.",
          default: d["target.prune"],
        },
        maxDeletions: {
          type: "integer",
          description:
            "With prune: the most tags one run may delete. A plan that deletes more fails, and a sync fails before anything is deleted; raise it here (or with the action's `max-deletions` input, the CLI's `--max-deletions`) when that many deletions are intended.",
          minimum: 0,
          default: d["target.maxDeletions"],
        },
        reconcileSettings: {
          type: "boolean",
          description:
            "Treat repositorySettings as the desired state of every repository the list names, not only of the ones ecr-mirror creates: the plan compares each existing repository's tag mutability and exclusion filters, scan on push, lifecycle policy, repository policy and resource tags with the list and shows a reconcile-settings step where they differ; sync applies it. Encryption cannot change on an existing repository: a difference is a warning.",
          default: d["target.reconcileSettings"],
        },
        repositorySettings: {
          type: "object",
          description:
            "Settings applied to repositories when ecr-mirror creates them (and, with reconcileSettings, to the existing ones the list names).",
          additionalProperties: false,
          properties: {
            imageTagMutability: {
              description:
                "Tag mutability. The *_WITH_EXCLUSION modes need imageTagMutabilityExclusionFilters.",
              enum: ["MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"],
              default: d["target.repositorySettings.imageTagMutability"],
            },
            imageTagMutabilityExclusionFilters: stringList(
              "Wildcard tag filters (`*` matches any characters) excluded from the mutability mode.",
              { pattern: "^[0-9a-zA-Z._*-]{1,128}$" },
            ),
            scanOnPush: {
              type: "boolean",
              description: "Basic scanning on push.",
              default: d["target.repositorySettings.scanOnPush"],
            },
            encryption: {
              type: "object",
              description: "Encryption at rest.",
              additionalProperties: false,
              default: { type: d["target.repositorySettings.encryption.type"] },
              required: ["type"],
              properties: {
                type: { enum: ["AES256", "KMS", "KMS_DSSE"] },
                kmsKey: {
                  type: "string",
                  description: "KMS key ARN, id or alias; only with KMS or KMS_DSSE.",
                  minLength: 1,
                },
              },
            },
            tags: {
              type: "object",
              description: "Resource tags for created repositories.",
              additionalProperties: { type: "string", maxLength: 256 },
            },
            lifecyclePolicy: policyDocument("ECR lifecycle policy for created repositories."),
            repositoryPolicy: policyDocument(
              "Repository policy for created repositories, for example cross-account pulls.",
            ),
          },
        },
      },
    },
    defaults: {
      type: "object",
      description: "Settings every image entry gets unless it sets its own.",
      additionalProperties: false,
      properties: {
        referrers: {
          type: "boolean",
          description:
            "Mirror every image's signatures, attestations and SBOMs with it (an entry's own `referrers:` wins). Entries with platforms are left out: their mirrored digest is not the signed one.",
          default: d["defaults.referrers"],
        },
      },
    },
    upstreams: {
      type: "object",
      description:
        "Upstream registries, keyed by host as image names carry it (`docker.io`, `quay.io`). Every host an image uses is redirected; list one here to change where it lands or where it is fetched from.",
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: {
          prefix: {
            type: "string",
            description:
              "Repository prefix this upstream lands under. Default: the image prefix for docker.io, `<image prefix>/<host>` for others.",
            pattern: ecrPrefix,
          },
          endpoint: {
            type: "string",
            description:
              "Where content is fetched from without changing its name, e.g. `https://mirror.gcr.io` or a pull-through cache URL.",
            pattern: "^https?://[^\\s/]+(?:/[^\\s]*)?$",
          },
          redirect: {
            type: "boolean",
            description: "Render node configuration that redirects this host to the mirror.",
            default: d["upstreams.<host>.redirect"],
          },
          fallback: {
            type: "boolean",
            description: "Let nodes fall back to the upstream when the mirror fails (false: fail fast).",
            default: d["upstreams.<host>.fallback"],
          },
        },
      },
    },
    images: {
      type: "array",
      description: "Images to mirror: references, or objects for one source with several tags.",
      items: {
        oneOf: [
          {
            type: "string",
            description:
              "A reference: `redis:7.0`, `quay.io/prometheus/node-exporter:v1.8.2`, `ghcr.io/org/app@sha256:…`, `nginx:1.27@sha256:…`.",
            minLength: 1,
          },
          {
            type: "object",
            additionalProperties: false,
            required: ["source"],
            properties: {
              source: {
                type: "string",
                description: "The image name, optionally with one tag or digest.",
                minLength: 1,
              },
              tags: stringList("Tags to mirror."),
              versionRange: {
                type: "string",
                description:
                  'Mirror the tags that are semantic versions in this range, as for charts (Masterminds/semver): ">=1.25.0 <2.0.0", "~1.27", "^3 || ^4". A leading v is read (v1.2.3). Prereleases only when the range names one. Resolved at plan time from the upstream\'s tag list and kept in the lock file until re-resolved.',
                minLength: 1,
              },
              pattern: {
                type: "string",
                description:
                  'Mirror the tags this regular expression matches, whole (anchored): "\\d+\\.\\d+-alpine". A safe subset: literals, ., [classes], \\d, \\w, groups, |, *, +, ?, {n,m}; no backreferences or lookarounds. With versionRange, a tag must match both.',
                minLength: 1,
                maxLength: 256,
              },
              newest: {
                type: "integer",
                description:
                  "Keep only the N highest matching tags (semantic version order, then name). Alone: the N highest release versions.",
                minimum: 1,
              },
              digests: stringList("Digests to mirror (sha256:…); each gets a synthetic tag in the target."),
              platforms: stringList(
                "Keep only these platforms (os/arch[/variant]). Only for tag-only entries: it changes the digest.",
                { pattern: "^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9.]+)?$" },
              ),
              referrers: {
                type: "boolean",
                description:
                  "Also mirror what refers to the image: its signatures, attestations and SBOMs (OCI referrers API or its tag-schema fallback, and cosign's sha256-<hex>.sig/.att/.sbom tags). Default: defaults.referrers. Not with platforms (the mirrored digest differs from the signed one).",
              },
            },
          },
        ],
      },
    },
    charts: {
      type: "array",
      description: "Helm charts to mirror as OCI artifacts under the chart prefix.",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["source"],
        properties: {
          source: {
            type: "string",
            description:
              "An HTTP chart repository URL (then `name` is required) or `oci://host/path/name` (without version).",
            pattern: "^(?:https?|oci)://[^\\s]+$",
          },
          name: { type: "string", description: "Chart name in an HTTP repository.", minLength: 1 },
          versions: stringList("Exact chart versions (SemVer 2). Give versions, versionRange or both."),
          versionRange: {
            type: "string",
            description:
              'A version range as helm reads it (Masterminds/semver): ">=4.10.0 <5.0.0", "~4.11", "^1.2 || ^2", "4.x". Resolved at plan time from the repository\'s index.yaml or the OCI tag list; prereleases only when the range names one.',
            minLength: 1,
          },
          newest: {
            type: "integer",
            description: "With versionRange: keep only the N highest matching versions.",
            minimum: 1,
          },
          target: {
            type: "string",
            description:
              "Repository name below the chart prefix (default: the chart name). Only for OCI charts: helm push names the repository after the chart.",
            pattern: ecrPrefix,
          },
          images: {
            type: "boolean",
            description:
              "Also mirror the images the chart deploys: render it with `helm template` (defaults plus `values`) and add every image reference to the plan.",
            default: d["charts[].images"],
          },
          values: {
            type: "object",
            description:
              "Values for `helm template` when discovering images (images: true), over the chart's defaults.",
          },
        },
      },
    },
  },
} as const;
