// What differs between an existing repository's settings and the list's (target.reconcileSettings): policies
// compared by meaning (ECR may hand back a reformatted document), encryption a warning and never a change.
import { describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import type { ObservedRepository, ObservedSettings } from "../../src/observe/model.js";
import { encryptionWarning, reconcileStep, settingChanges } from "../../src/plan/settings.js";

const AT = { file: "mirrors.yaml", line: 9, column: 5 };

function settings(yaml: string) {
  const { list, problems } = parseMirrorList(
    `target:\n  reconcileSettings: true\n  repositorySettings:\n${yaml}\nimages:\n  - redis:7.0\n`,
    "mirrors.yaml",
  );
  if (!list) throw new Error(problems.map((p) => p.message).join("\n"));
  return list.target.repositorySettings;
}

function repository(
  observed: Partial<ObservedSettings>,
  mode = "MUTABLE",
  filters: string[] = [],
): ObservedRepository {
  return {
    name: "mirrors/library/redis",
    imageTagMutability: mode as ObservedRepository["imageTagMutability"],
    imageTagMutabilityExclusionFilters: filters,
    tags: new Map(),
    settings: {
      scanOnPush: false,
      encryption: { type: "AES256", kmsKey: null },
      lifecyclePolicy: null,
      repositoryPolicy: null,
      tags: {},
      ...observed,
    },
  };
}

describe("settingChanges", () => {
  it("finds nothing when the repository holds the list's settings, a policy reformatted by ECR included", () => {
    const wanted = settings(
      '    imageTagMutability: IMMUTABLE_WITH_EXCLUSION\n    imageTagMutabilityExclusionFilters: ["7.*", "latest"]\n    lifecyclePolicy: { rules: [{ rulePriority: 1, action: { type: expire }, selection: { tagStatus: any, countType: imageCountMoreThan, countNumber: 3 } }] }\n    tags: { team: a }',
    );
    const reformatted =
      '{\n  "rules" : [ {\n    "selection" : { "countNumber" : 3, "countType" : "imageCountMoreThan", "tagStatus" : "any" },\n    "action" : { "type" : "expire" },\n    "rulePriority" : 1\n  } ]\n}';
    const repo = repository(
      { lifecyclePolicy: reformatted, tags: { team: "a" } },
      "IMMUTABLE_WITH_EXCLUSION",
      ["latest", "7.*"],
    );
    expect(settingChanges(repo, wanted)).toEqual([]);
    expect(reconcileStep(repo, wanted, AT)).toBeNull();
  });

  it("names a tag value change, an extra tag and a policy the list no longer has", () => {
    const wanted = settings("    tags: { team: b }");
    const repo = repository({ tags: { team: "a", extra: "x" }, repositoryPolicy: '{"Statement":[]}' });
    expect(reconcileStep(repo, wanted, AT)?.reason).toBe(
      "settings differ from the list: repositoryPolicy set -> none (deleted); tags {team=a, extra=x} -> {team=b}",
    );
  });

  it("treats an encryption difference as a warning only, and a key id as the ARN ECR answers", () => {
    const kms = settings("    encryption: { type: KMS, kmsKey: 1234abcd-12ab-34cd-56ef-1234567890ab }");
    const arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    expect(encryptionWarning(repository({ encryption: { type: "KMS", kmsKey: arn } }), kms, AT)).toBeNull();
    const plain = repository({});
    expect(reconcileStep(plain, kms, AT)).toBeNull();
    expect(encryptionWarning(plain, kms, AT)?.message).toBe(
      "mirrors/library/redis is encrypted with AES256, the list asks for KMS (1234abcd-12ab-34cd-56ef-1234567890ab); ECR cannot change the encryption of an existing repository, so it stays AES256",
    );
  });
});
