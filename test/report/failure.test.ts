// One error type at the edge: every named error extends MirrorError, and describeFailure writes any
// of them as message, hint (once) and location, secrets redacted, never a stack trace.
import { describe, expect, it } from "vitest";
import { MirrorError } from "../../src/errors.js";
import { CommitBackError } from "../../src/git/commit-back.js";
import { OutputFolderError } from "../../src/git/output-folder.js";
import { InputError } from "../../src/inputs.js";
import { EcrCallError, ObserveError } from "../../src/observe/ecr.js";
import { describeFailure } from "../../src/report/failure.js";
import { ToolInstallError } from "../../src/tools/assets.js";
import { ChildEnvError } from "../../src/tools/child-env.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { ToolError } from "../../src/tools/runner.js";

const mask = () => {
  const m = new SecretMask(() => {});
  m.add("s3cr3t-token");
  return m;
};

describe("describeFailure", () => {
  it("words the located problems an error carries as data, one a line, before the hint", () => {
    const problem = {
      file: "mirrors.yaml",
      line: 7,
      column: 19,
      severity: "error" as const,
      message: 'versionRange ">=99" matches no published version of "demo"',
      hint: "published: 1.2.3",
    };
    const text = describeFailure(
      new ObserveError("chart version ranges could not be resolved:", "fix the versionRange entries", [
        problem,
      ]),
      mask(),
    );
    expect(text).toBe(
      "chart version ranges could not be resolved:\n" +
        'mirrors.yaml:7:19: error: versionRange ">=99" matches no published version of "demo"\n' +
        "  hint: published: 1.2.3\n" +
        "  hint: fix the versionRange entries",
    );
  });

  it("adds the hint of an error whose message does not carry it, redacted", () => {
    const text = describeFailure(
      new ObserveError("ECR denied ecr:ListImages with s3cr3t-token", "grant ecr:ListImages"),
      mask(),
    );
    expect(text).toBe("ECR denied ecr:ListImages with ***\n  hint: grant ecr:ListImages");
    expect(describeFailure(new EcrCallError("ECR throttled", "rerun later", {}), mask())).toBe(
      "ECR throttled\n  hint: rerun later",
    );
  });

  it("writes the hint once when the message already carries it", () => {
    const tool = new ToolError("crane", "copy", "crane copy a -> b", 1, "denied", "log in first");
    expect(describeFailure(tool, mask())).toBe(
      "crane copy a -> b failed (exit 1): denied\nhint: log in first",
    );
    expect(describeFailure(new OutputFolderError("render-dir is .git", "pick another"), mask())).toBe(
      "render-dir is .git\n  hint: pick another",
    );
    expect(describeFailure(new CommitBackError("push refused", "allow pushes"), mask())).toBe(
      "push refused\nhint: allow pushes",
    );
  });

  it("names the mirror-list line of a located error", () => {
    const e = new MirrorError("unknown key", {
      hint: "remove it",
      location: { file: "m.yaml", line: 3, column: 5 },
    });
    expect(describeFailure(e, mask())).toBe("m.yaml:3:5: unknown key\n  hint: remove it");
  });

  it("treats every named error as one type, and anything else by its message", () => {
    for (const e of [
      new ObserveError("a"),
      new InputError("b"),
      new ToolInstallError("c"),
      new ChildEnvError("d"),
      new OutputFolderError("e", "f"),
    ]) {
      expect(e).toBeInstanceOf(MirrorError);
      expect(describeFailure(e, mask())).toBe(e.message);
    }
    expect(describeFailure(new Error("plain s3cr3t-token"), mask())).toBe("plain ***");
    expect(describeFailure("text", mask())).toBe("text");
  });
});
