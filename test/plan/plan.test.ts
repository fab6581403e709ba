import { describe, expect, it } from "vitest";
import { MirrorError } from "../../src/errors.js";
import type { TagMutability } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import type {
  ObservedRepository,
  ObservedTarget,
  UpstreamContent,
  UpstreamDigest,
} from "../../src/observe/model.js";
import { type PlannedList, plannedList, stepFields } from "../../src/plan/model.js";
import { tagIsMutable } from "../../src/plan/mutability.js";
import { planMirror } from "../../src/plan/plan.js";
import { parsePlatform } from "../../src/plan/platforms.js";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const C = `sha256:${"c".repeat(64)}`;

function list(yaml: string): PlannedList {
  const r = parseMirrorList(yaml, "mirrors.yaml");
  if (!r.list) throw new Error(r.problems.map((p) => p.message).join("\n"));
  return plannedList(r.list);
}

function repo(
  name: string,
  tags: Record<string, string | null>,
  mode: TagMutability = "MUTABLE",
  filters: string[] = [],
): ObservedRepository {
  return {
    name,
    imageTagMutability: mode,
    imageTagMutabilityExclusionFilters: filters,
    tags: new Map(Object.entries(tags)),
  };
}

function target(...repos: ObservedRepository[]): ObservedTarget {
  return {
    registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    repositories: new Map(repos.map((r) => [r.name, r])),
  };
}

const missing = { resync: "missing" as const, dockerHubCredentials: false };
function digestMode(upstream: Record<string, UpstreamDigest>) {
  return {
    resync: "digest" as const,
    dockerHubCredentials: false,
    upstreamDigests: new Map(Object.entries(upstream)),
  };
}

/** An upstream index whose children are `[platform, digest]` pairs, in that order. */
function index(...children: [string, string][]): Extract<UpstreamContent, { kind: "index" }> {
  return { kind: "index", children: children.map(([p, digest]) => ({ digest, platform: parsePlatform(p) })) };
}

function catchError(work: () => unknown): MirrorError {
  try {
    work();
  } catch (e) {
    if (e instanceof MirrorError) return e;
    throw e;
  }
  throw new Error("expected a MirrorError");
}

function brief(plan: ReturnType<typeof planMirror>) {
  return plan.steps.map(stepFields).map((s) => `${s.action} ${s.repository}${s.tag ? `:${s.tag}` : ""}`);
}

describe("planMirror: one step per entry", () => {
  const l = list("images:\n  - redis:7.0\n  - redis:7.2\n  - quay.io/org/app:1\n");

  it("creates missing repositories before copying into them", () => {
    const plan = planMirror(l, target(), missing);
    expect(brief(plan)).toEqual([
      "create-repository mirrors/library/redis",
      "create-repository mirrors/quay.io/org/app",
      "copy mirrors/library/redis:7.0",
      "copy mirrors/library/redis:7.2",
      "copy mirrors/quay.io/org/app:1",
    ]);
    expect(plan.summary).toEqual({
      "create-repository": 2,
      "reconcile-settings": 0,
      copy: 3,
      update: 0,
      restore: 0,
      blocked: 0,
      present: 0,
      delete: 0,
    });
    expect(plan.steps[2]).toMatchObject({
      source: "docker.io/library/redis:7.0",
      reason: "new repository",
      location: { line: 2, column: 5 },
    });
  });

  it("copies only missing tags and reports present ones", () => {
    const plan = planMirror(
      l,
      target(repo("mirrors/library/redis", { "7.0": A }), repo("mirrors/quay.io/org/app", {})),
      missing,
    );
    expect(brief(plan)).toEqual([
      "present mirrors/library/redis:7.0",
      "copy mirrors/library/redis:7.2",
      "copy mirrors/quay.io/org/app:1",
    ]);
    expect(plan.steps[0]!.reason).toContain("resync missing");
  });
});

describe("resync mode digest", () => {
  const l = list("images:\n  - redis:7.0\n");
  const src = "docker.io/library/redis:7.0";

  it("leaves an identical tag alone", () => {
    const plan = planMirror(
      l,
      target(repo("mirrors/library/redis", { "7.0": A })),
      digestMode({ [src]: { digest: A } }),
    );
    expect(brief(plan)).toEqual(["present mirrors/library/redis:7.0"]);
  });

  it.each<[TagMutability, string[], string, "update" | "blocked"]>([
    ["MUTABLE", [], "7.0", "update"],
    ["IMMUTABLE", [], "7.0", "blocked"],
    ["IMMUTABLE_WITH_EXCLUSION", ["7.*"], "7.0", "update"],
    ["IMMUTABLE_WITH_EXCLUSION", ["latest"], "7.0", "blocked"],
    ["MUTABLE_WITH_EXCLUSION", ["7.*"], "7.0", "blocked"],
    ["MUTABLE_WITH_EXCLUSION", ["latest"], "7.0", "update"],
  ])("a moved tag in a %s repository (filters %j) is %s", (mode, filters, _tag, action) => {
    const plan = planMirror(
      l,
      target(repo("mirrors/library/redis", { "7.0": A }, mode, filters)),
      digestMode({ [src]: { digest: B } }),
    );
    expect(plan.steps).toHaveLength(1);
    expect(plan.steps[0]).toMatchObject({ action, digest: B, targetDigest: A });
    if (action === "blocked")
      expect(plan.steps[0]!.reason).toMatch(/immutable.*new tag.*imageTagMutabilityExclusionFilters/);
  });

  it("treats an entry as present when its upstream could not be read, with a warning", () => {
    const plan = planMirror(l, target(repo("mirrors/library/redis", { "7.0": A })), {
      ...digestMode({}),
      upstreamFailures: new Map([[src, "401 Unauthorized"]]),
    });
    expect(brief(plan)).toEqual(["present mirrors/library/redis:7.0"]);
    expect(plan.warnings[0]!.message).toContain(
      "could not check docker.io/library/redis:7.0 upstream (401 Unauthorized)",
    );
  });

  it("compares a single-platform entry with the upstream's platform manifest", () => {
    const pl = list("images:\n  - { source: redis, tags: ['7.0'], platforms: [linux/arm64] }\n");
    const up = { [src]: { digest: A, content: index(["linux/amd64", B], ["linux/arm64", C]) } };
    expect(
      brief(planMirror(pl, target(repo("mirrors/library/redis", { "7.0": C })), digestMode(up))),
    ).toEqual(["present mirrors/library/redis:7.0"]);
    expect(
      planMirror(pl, target(repo("mirrors/library/redis", { "7.0": B })), digestMode(up)).steps[0],
    ).toMatchObject({
      action: "update",
      digest: C,
    });
  });

  it("compares a platform subset child by child", () => {
    const pl = list("images:\n  - { source: redis, tags: ['7.0'], platforms: [linux/amd64, linux/arm64] }\n");
    const observedRepo = repo("mirrors/library/redis", { "7.0": A });
    observedRepo.subsetChildren = new Map([
      ["7.0", index(["linux/amd64", B], ["linux/arm64/v8", C]).children],
    ]);
    const same = digestMode({
      [src]: {
        digest: `sha256:${"d".repeat(64)}`,
        content: index(["linux/amd64", B], ["linux/arm64/v8", C], ["linux/s390x", A]),
      },
    });
    expect(planMirror(pl, target(observedRepo), same).steps[0]!.action).toBe("present");
    const moved = digestMode({
      [src]: {
        digest: `sha256:${"d".repeat(64)}`,
        content: index(["linux/amd64", B], ["linux/arm64/v8", A]),
      },
    });
    expect(planMirror(pl, target(observedRepo), moved).steps[0]).toMatchObject({
      action: "update",
      reason: expect.stringContaining("linux/arm64 moved upstream"),
    });
  });
});

describe("platforms, matched as crane matches them", () => {
  const src = "docker.io/library/redis:7.0";
  const one = list("images:\n  - source: redis\n    tags: ['7.0']\n    platforms:\n      - linux/arm64\n");
  const held = (digest: string) => target(repo("mirrors/library/redis", { "7.0": digest }));

  it("linux/arm64 is Docker Hub's linux/arm64/v8 child: a moved child is noticed", () => {
    const up = { [src]: { digest: A, content: index(["linux/amd64", B], ["linux/arm64/v8", C]) } };
    expect(planMirror(one, held(C), digestMode(up)).steps[0]!.action).toBe("present");
    expect(planMirror(one, held(B), digestMode(up)).steps[0]).toMatchObject({ action: "update", digest: C });
  });

  it("takes an index child without a platform for linux/amd64, and the first of several matches", () => {
    const pl = list("images:\n  - { source: redis, tags: ['7.0'], platforms: [linux/amd64] }\n");
    const up = {
      [src]: {
        digest: A,
        content: {
          kind: "index" as const,
          children: [{ digest: B, platform: null }, ...index(["linux/amd64", C]).children],
        },
      },
    };
    expect(planMirror(pl, held(B), digestMode(up)).steps[0]!.action).toBe("present");
  });

  it("fails the plan at the platform's line when a single-platform image is another platform", () => {
    const up = {
      [src]: {
        digest: A,
        content: { kind: "image" as const, platform: { os: "linux", architecture: "amd64" } },
      },
    };
    const thrown = catchError(() => planMirror(one, held(B), digestMode(up)));
    expect(thrown).toBeInstanceOf(MirrorError);
    expect(thrown.problems).toEqual([
      expect.objectContaining({
        file: "mirrors.yaml",
        line: 5,
        column: 9,
        severity: "error",
        message: "docker.io/library/redis:7.0 is a single-platform image (linux/amd64), not linux/arm64",
        hint: expect.stringContaining("platforms: [linux/amd64]"),
      }),
    ]);
    // The same image, asked for its own platform: copied as it is.
    const amd64 = list("images:\n  - { source: redis, tags: ['7.0'], platforms: [linux/amd64] }\n");
    expect(planMirror(amd64, held(A), digestMode(up)).steps[0]!.action).toBe("present");
  });

  it("fails the plan for an index child that is not there, naming the platforms the index has", () => {
    const pl = list(
      "images:\n  - { source: redis, tags: ['7.0'], platforms: [linux/amd64, linux/arm64/v8] }\n",
    );
    const up = { [src]: { digest: A, content: index(["linux/amd64", B], ["linux/arm64", C]) } };
    const thrown = catchError(() => planMirror(pl, held(A), digestMode(up)));
    expect(thrown.problems).toEqual([
      expect.objectContaining({
        line: 2,
        column: 62,
        message: "docker.io/library/redis:7.0 has no linux/arm64/v8 image: no child of its index matches",
        hint: expect.stringContaining("the index has linux/amd64, linux/arm64;"),
      }),
    ]);
  });

  it("index filter drops a child without a platform: linux/amd64 is then missing", () => {
    const pl = list("images:\n  - { source: redis, tags: ['7.0'], platforms: [linux/amd64, linux/arm64] }\n");
    const up = {
      [src]: {
        digest: A,
        content: {
          kind: "index" as const,
          children: [{ digest: B, platform: null }, ...index(["linux/arm64/v8", C]).children],
        },
      },
    };
    expect(catchError(() => planMirror(pl, held(A), digestMode(up))).problems.map((p) => p.message)).toEqual([
      "docker.io/library/redis:7.0 has no linux/amd64 image: no child of its index matches",
    ]);
  });
});

describe("digest-pinned entries", () => {
  it("observe a digest-only entry through its synthetic tag and compare by digest", () => {
    const l = list(`images:\n  - ghcr.io/org/app@${A}\n`);
    const plan = planMirror(l, target(repo("mirrors/ghcr.io/org/app", {})), missing);
    expect(plan.steps[0]).toMatchObject({ action: "copy", tag: `sha256-${"a".repeat(64)}`, digest: A });
    const present = planMirror(
      l,
      target(repo("mirrors/ghcr.io/org/app", { [`sha256-${"a".repeat(64)}`]: A })),
      missing,
    );
    expect(present.steps[0]!.action).toBe("present");
  });

  it("update a tag whose pin changed, or block it when immutable — without asking the upstream", () => {
    const l = list(`images:\n  - nginx:1.27@${B}\n`);
    expect(
      planMirror(l, target(repo("mirrors/library/nginx", { "1.27": A })), missing).steps[0],
    ).toMatchObject({ action: "update", digest: B });
    expect(
      planMirror(l, target(repo("mirrors/library/nginx", { "1.27": A }, "IMMUTABLE")), missing).steps[0],
    ).toMatchObject({ action: "blocked" });
    expect(
      planMirror(l, target(repo("mirrors/library/nginx", { "1.27": B }, "IMMUTABLE")), missing).steps[0]!
        .action,
    ).toBe("present");
  });
});

describe("archived tags (ECR's archive storage class)", () => {
  const archived = (r: ObservedRepository, statuses: Record<string, "ARCHIVED" | "ACTIVATING">) => ({
    ...r,
    archived: new Map(Object.entries(statuses)),
  });

  it("restores an archived tag instead of copying it; a restoring one is present, with one warning", () => {
    const l = list("images:\n  - redis:7.0\n  - redis:7.2\n  - redis:7.4\n  - redis:8.0\n");
    const t = target(
      archived(repo("mirrors/library/redis", { "7.0": A, "7.2": B, "7.4": C }), {
        "7.0": "ARCHIVED",
        "7.2": "ACTIVATING",
      }),
    );
    const plan = planMirror(l, t, missing);
    expect(brief(plan)).toEqual([
      "restore mirrors/library/redis:7.0",
      "present mirrors/library/redis:7.2",
      "present mirrors/library/redis:7.4",
      "copy mirrors/library/redis:8.0",
    ]);
    expect(plan.steps[0]).toMatchObject({
      digest: A,
      targetDigest: A,
      reason: "archived in ECR: restored to the standard storage class, not copied again",
    });
    expect(plan.steps[1]!.reason).toMatch(/^being restored from the ECR archive \(ACTIVATING\)/);
    expect(plan.summary).toMatchObject({ restore: 1, present: 2, copy: 1 });
    expect(plan.warnings.map((w) => w.message)).toEqual([
      "1 tag is still being restored from the ECR archive: nodes cannot pull it until ECR finishes (usually within 20 minutes)",
    ]);
  });

  it("restores a pinned or unmoved archived tag; a moved one is updated or blocked as any other", () => {
    const l = list(`images:\n  - redis:7.0@${A}\n  - redis:7.2@${C}\n  - nginx:1.27\n  - nginx:1.28\n`);
    const t = target(
      archived(repo("mirrors/library/redis", { "7.0": A, "7.2": B }, "IMMUTABLE"), {
        "7.0": "ARCHIVED",
        "7.2": "ARCHIVED",
      }),
      archived(repo("mirrors/library/nginx", { "1.27": A, "1.28": B }), {
        "1.27": "ARCHIVED",
        "1.28": "ARCHIVED",
      }),
    );
    const plan = planMirror(
      l,
      t,
      digestMode({
        "docker.io/library/nginx:1.27": { digest: A },
        "docker.io/library/nginx:1.28": { digest: C },
      }),
    );
    expect(brief(plan)).toEqual([
      "restore mirrors/library/redis:7.0",
      "blocked mirrors/library/redis:7.2",
      "restore mirrors/library/nginx:1.27",
      "update mirrors/library/nginx:1.28",
    ]);
    expect(plan.steps[1]!.reason).toMatch(/is immutable .* \(the target's image is archived\)$/);
    expect(plan.steps[3]!.reason).toMatch(/overwritten \(the target's image is archived\)$/);
  });

  it("prunes an archived tag the list no longer names, saying what ECR bills; never a listed one", () => {
    const l = list("target: { prune: true }\nimages:\n  - redis:7.0\n");
    const t = target(
      archived(repo("mirrors/library/redis", { "7.0": A, "6.2": B }), {
        "7.0": "ARCHIVED",
        "6.2": "ARCHIVED",
      }),
    );
    const plan = planMirror(l, t, missing);
    expect(brief(plan)).toEqual(["restore mirrors/library/redis:7.0", "delete mirrors/library/redis:6.2"]);
    expect(plan.steps[1]!.reason).toBe(
      "no longer in the mirror list (prune is on); archived: ECR bills archived images for at least 90 days",
    );
  });
});

describe("charts", () => {
  it("plans chart versions like tags in their chart repositories", () => {
    const l = list(`charts:
  - { source: "https://charts.example.com", name: demo, versions: ["1.0.0", "1.1.0+build.2"] }
  - { source: "oci://ghcr.io/org/charts/tool", versions: ["2.0.0"] }
`);
    const plan = planMirror(l, target(repo("charts/demo", { "1.0.0": A })), missing);
    expect(plan.steps.map(stepFields).map((s) => [s.action, s.source, s.repository, s.tag])).toEqual([
      ["create-repository", null, "charts/tool", null],
      ["present", "https://charts.example.com/demo:1.0.0", "charts/demo", "1.0.0"],
      ["copy", "https://charts.example.com/demo:1.1.0+build.2", "charts/demo", "1.1.0_build.2"],
      ["copy", "oci://ghcr.io/org/charts/tool:2.0.0", "charts/tool", "2.0.0"],
    ]);
  });
});

describe("pruning", () => {
  const yaml = "target: { prune: PRUNE }\nimages:\n  - redis:7.0\n  - quay.io/org/app:1\n";
  const observed = target(
    repo("mirrors/library/redis", { "7.0": A, "6.2": B }),
    repo("mirrors/library/old", { "1": C }),
    repo("mirrors/quay.io/org/app", { "1": A }),
    repo("mirrorsx/other", { x: A }),
    repo("team/app", { "1": A }),
  );

  it("is off by default: nothing is deleted", () => {
    expect(planMirror(list(yaml.replace("PRUNE", "false")), observed, missing).summary.delete).toBe(0);
  });

  it("deletes only tags under the managed prefixes that the list no longer names, after everything else", () => {
    const plan = planMirror(list(yaml.replace("PRUNE", "true")), observed, missing);
    expect(brief(plan)).toEqual([
      "present mirrors/library/redis:7.0",
      "present mirrors/quay.io/org/app:1",
      "delete mirrors/library/old:1",
      "delete mirrors/library/redis:6.2",
    ]);
  });

  it("is not carried out on a plain OCI registry", () => {
    const plan = planMirror(
      list(
        yaml.replace("PRUNE", "true").replace("target: {", "target: { type: oci, registry: r.example.com,"),
      ),
      observed,
      missing,
    );
    expect(plan.summary.delete).toBe(0);
    expect(plan.warnings[0]!.message).toContain("prune is only carried out on ECR targets");
  });
});

describe("Docker Hub rate limits", () => {
  const many = `images:\n${Array.from({ length: 11 }, (_, i) => `  - app${i}:1`).join("\n")}\n`;

  it("warns when a plan needs more anonymous Docker Hub pulls than the limit allows", () => {
    const plan = planMirror(list(many), target(), missing);
    expect(plan.warnings).toEqual([
      expect.objectContaining({
        message: expect.stringContaining("at least 11 images from Docker Hub anonymously"),
      }),
    ]);
  });

  it("in a plan job, speaks of the sync job's credentials, not of the plan job's (which may have none)", () => {
    const plan = planMirror(list(many), target(), { ...missing, copiesElsewhere: true });
    expect(plan.warnings).toHaveLength(1);
    expect(plan.warnings[0]!.message).toContain("if the sync job has no Docker Hub credentials");
    expect(plan.warnings[0]!.message).not.toContain("anonymously");
    expect(plan.warnings[0]!.hint).toContain("give the sync job docker-hub-username and docker-hub-token");
  });

  it("does not warn with credentials or an endpoint, or for a no-op plan", () => {
    expect(planMirror(list(many), target(), { ...missing, dockerHubCredentials: true }).warnings).toEqual([]);
    expect(
      planMirror(
        list(`upstreams: { docker.io: { endpoint: "https://mirror.gcr.io" } }\n${many}`),
        target(),
        missing,
      ).warnings,
    ).toEqual([]);
    const full = target(...Array.from({ length: 11 }, (_, i) => repo(`mirrors/library/app${i}`, { "1": A })));
    expect(planMirror(list(many), full, missing).warnings).toEqual([]);
  });
});

describe("tagIsMutable", () => {
  it.each<[TagMutability, string[], string, boolean]>([
    ["MUTABLE", [], "latest", true],
    ["IMMUTABLE", ["latest"], "latest", false],
    ["IMMUTABLE_WITH_EXCLUSION", ["latest", "dev-*"], "dev-123", true],
    ["IMMUTABLE_WITH_EXCLUSION", ["dev-*"], "1.0", false],
    ["MUTABLE_WITH_EXCLUSION", ["v*"], "v1.0", false],
    ["MUTABLE_WITH_EXCLUSION", ["v*"], "latest", true],
    ["IMMUTABLE_WITH_EXCLUSION", ["1.2.*"], "1.2.3", true],
    ["IMMUTABLE_WITH_EXCLUSION", ["1.2.*"], "1x2.3", false],
  ])("%s %j: %s mutable=%s", (mode, filters, tag, expected) => {
    expect(tagIsMutable(tag, mode, filters)).toBe(expected);
  });
});

describe("the planned list", () => {
  it("is made only from a list whose chart version ranges are resolved", () => {
    const parsed = parseMirrorList(
      'charts:\n  - { source: "https://charts.example.com", name: demo, versionRange: ">=1.0.0" }\n',
      "mirrors.yaml",
    ).list!;
    expect(parsed.chartRanges).toHaveLength(1);
    expect(() => plannedList(parsed)).toThrow(/chart version ranges are resolved before planning/);
    const resolved = plannedList({ ...parsed, chartRanges: [] });
    expect(planMirror(resolved, target(), missing).steps).toEqual([]);
  });
});
