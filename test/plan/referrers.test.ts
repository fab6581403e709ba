// Issue 20: the planner's referrer rules, as a pure function of the list, what the target holds and what the
// upstream and the target list as referrers.
import { describe, expect, it } from "vitest";
import type { TagMutability } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type { ObservedRepository, ObservedTarget, Referrer, ReferrersOf } from "../../src/observe/model.js";
import { type PlannedList, plannedList, stepFields } from "../../src/plan/model.js";
import { planMirror } from "../../src/plan/plan.js";
import { planReferrers } from "../../src/plan/referrers.js";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const SIG = `sha256:${"5".repeat(64)}`;
const SIG2 = `sha256:${"6".repeat(64)}`;
const SBOM = `sha256:${"7".repeat(64)}`;
const sigTag = (d: string) => `${d.replace(":", "-")}.sig`;

function list(yaml: string): PlannedList {
  const r = parseMirrorList(yaml, "mirrors.yaml");
  if (!r.list) throw new Error(r.problems.map((p) => p.message).join("\n"));
  return plannedList(r.list);
}

function target(tags: Record<string, string | null>, mode: TagMutability = "MUTABLE"): ObservedTarget {
  const repo: ObservedRepository = {
    name: "mirrors/library/app",
    imageTagMutability: mode,
    imageTagMutabilityExclusionFilters: [],
    tags: new Map(Object.entries(tags)),
  };
  return { registry: "127.0.0.1:5000", repositories: new Map([[repo.name, repo]]) };
}

const sig = (digest: string, subject = A): Referrer => ({
  digest,
  artifactType: null,
  kind: "signature",
  tag: sigTag(subject),
  via: "cosign",
});
const sbom: Referrer = {
  digest: SBOM,
  artifactType: "application/spdx+json",
  kind: "sbom",
  tag: null,
  via: "tag",
};
const of = (referrers: Referrer[], via: "api" | "tag" = "tag", subject = A): ReferrersOf => ({
  subject,
  via,
  referrers,
});

function plan(
  yaml: string,
  observed: ObservedTarget,
  upstream: Record<string, ReferrersOf>,
  held: Record<string, ReferrersOf> = {},
) {
  const l = list(yaml);
  const base = planMirror(l, observed, { resync: "digest", dockerHubCredentials: true });
  return planReferrers(base, l, observed, {
    upstream: new Map(Object.entries(upstream)),
    target: new Map(Object.entries(held)),
    refused: new Map(),
    failures: new Map(),
  });
}
const lines = (p: ReturnType<typeof plan>) =>
  p.steps.map(stepFields).map((s) => `${s.action} ${s.tag}${s.digest ? ` ${s.digest.slice(7, 9)}` : ""}`);

const APP = 'images:\n  - source: app\n    tags: ["1"]\n    referrers: true\n';

describe("referrer steps", () => {
  it("copies what the target lacks, after the image's step, and counts it in the summary", () => {
    const p = plan(APP, target({}), { "docker.io/library/app:1": of([sbom, sig(SIG)]) });
    expect(lines(p)).toEqual(["copy 1", `copy ${SBOM} 77`, `copy ${sigTag(A)} 55`]);
    expect(p.summary.copy).toBe(3);
  });

  it("plans nothing for referrers the target holds, and updates a cosign tag that changed upstream", () => {
    const observed = target({ "1": A, [sigTag(A)]: SIG });
    const held = { "docker.io/library/app:1": of([sbom, sig(SIG)]) };
    expect(lines(plan(APP, observed, { "docker.io/library/app:1": of([sbom, sig(SIG)]) }, held))).toEqual([
      "present 1 aa",
    ]);
    const resigned = plan(APP, observed, { "docker.io/library/app:1": of([sbom, sig(SIG2)]) }, held);
    expect(lines(resigned)).toEqual(["present 1 aa", `update ${sigTag(A)} 66`]);
  });

  it("blocks a changed cosign tag in an immutable repository, saying how to free it", () => {
    const observed = target({ "1": A, [sigTag(A)]: SIG }, "IMMUTABLE");
    const p = plan(
      APP,
      observed,
      { "docker.io/library/app:1": of([sig(SIG2)]) },
      {
        "docker.io/library/app:1": of([sig(SIG)]),
      },
    );
    expect(lines(p)).toEqual(["present 1 aa", `blocked ${sigTag(A)} 66`]);
    expect(p.steps[1]!.reason).toContain('imageTagMutabilityExclusionFilters: ["sha256-*"]');
  });

  it("leaves a blocked image's referrers alone: the target holds other content than they name", () => {
    const observed = target({ "1": B }, "IMMUTABLE");
    const pinned = `images:\n  - source: app:1@${A}\n    referrers: true\n`;
    expect(lines(plan(pinned, observed, { [`docker.io/library/app:1@${A}`]: of([sig(SIG)]) }))).toEqual([
      "blocked 1 aa",
    ]);
  });

  it("keeps a digest-only entry's own tag: no OCI referrer onto a target without the referrers API, with a warning", () => {
    const digestOnly = `images:\n  - source: app@${A}\n    referrers: true\n`;
    const upstream = { [`docker.io/library/app@${A}`]: of([sbom, sig(SIG)]) };
    const p = plan(digestOnly, target({}), upstream, { [`docker.io/library/app@${A}`]: of([], "tag") });
    expect(lines(p)).toEqual([`copy ${A.replace(":", "-")} aa`, `copy ${sigTag(A)} 55`]);
    expect(p.warnings.map((w) => w.message)).toEqual([
      `1 OCI referrer of docker.io/library/app@${A} is not mirrored: the target has no referrers API, and the referrers tag schema's tag is this digest-only entry's own tag (${A.replace(":", "-")})`,
    ]);
    // A target with the referrers API lists it itself: nothing to overwrite.
    const api = plan(digestOnly, target({}), upstream, { [`docker.io/library/app@${A}`]: of([], "api") });
    expect(lines(api)).toContain(`copy ${SBOM} 77`);
  });
});

describe("what ECR refuses", () => {
  it("leaves out a referrer whose artifact type has parameters, with a warning, on ECR targets only", () => {
    const bundle: Referrer = {
      digest: SIG2,
      artifactType: "application/vnd.dev.sigstore.bundle+json;version=0.2",
      kind: "signature",
      tag: null,
      via: "api",
    };
    const upstream = { "docker.io/library/app:1": of([bundle, sbom]) };
    const onEcr = plan(APP, target({ "1": A }), upstream);
    expect(lines(onEcr)).toEqual(["present 1 aa", `copy ${SBOM} 77`]);
    expect(onEcr.warnings.map((w) => w.message)).toEqual([
      "signature of docker.io/library/app:1 (OCI referrer, application/vnd.dev.sigstore.bundle+json;version=0.2) is not mirrored: ECR refuses an artifact type with parameters (application/vnd.dev.sigstore.bundle+json;version=0.2)",
    ]);
    const onOci = plan(
      `target:\n  type: oci\n  registry: 127.0.0.1:5000\n${APP}`,
      target({ "1": A }),
      upstream,
    );
    expect(lines(onOci)).toEqual(["present 1 aa", `copy ${SIG2} 66`, `copy ${SBOM} 77`]);
  });
});

describe("what crane cannot write", () => {
  it("warns about a listed OCI 1.1 release-candidate artifact manifest and mirrors the rest", () => {
    const why = `${SIG2} is an OCI artifact manifest (OCI 1.1 release candidates), which the final spec dropped and crane cannot write`;
    const p = plan(APP, target({ "1": A }), { "docker.io/library/app:1": { ...of([sbom]), skipped: [why] } });
    expect(lines(p)).toEqual(["present 1 aa", `copy ${SBOM} 77`]);
    expect(p.warnings.map((w) => [w.message, w.location?.line])).toEqual([
      [`a referrer of docker.io/library/app:1 is not mirrored: ${why}`, 3],
    ]);
  });
});

describe("pruning", () => {
  it("keeps cosign tags and the referrers index of a digest a kept tag holds, and deletes those of a digest none does", () => {
    const observed = target({
      "1": A,
      [sigTag(A)]: SIG,
      [`${A.replace(":", "-")}`]: SBOM,
      [`${A.replace(":", "-")}.att`]: SIG2,
      old: B,
      [sigTag(B)]: SIG2,
    });
    const l = list(`target:\n  prune: true\n${APP}`);
    const p = planMirror(l, observed, { resync: "missing", dockerHubCredentials: true });
    expect(p.steps.filter((s) => s.action === "delete").map((s) => stepFields(s).tag)).toEqual([
      "old",
      sigTag(B),
    ]);
  });
});
