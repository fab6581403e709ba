// What crane prints after a copy (go-containerregistry pkg/v1/remote/write.go): `REF: digest: D size: N` for a
// manifest it pushed; `existing manifest: TAG@D` (a digest reference: `existing manifest: D`) and no digest
// line when the target already held it. Lines as crane writes them, with the log timestamp.
import { describe, expect, it } from "vitest";
import { pushedDigest } from "../../src/tools/crane.js";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

describe("pushedDigest", () => {
  it("reads the existing manifest line of the destination's tag", () => {
    const out = `2026/12/01 22:00:00 Copying from up/nginx:1.27 to t/nginx:1.27\n2026/12/01 22:00:00 existing manifest: 1.27@${A}\n`;
    expect(pushedDigest(out, "127.0.0.1:5000/mirrors/nginx:1.27")).toBe(A);
  });

  it("reads the existing manifest line of a digest reference", () => {
    expect(pushedDigest(`2026/12/01 22:00:00 existing manifest: ${A}\n`, `r.io/x@${A}`)).toBe(A);
  });

  it("does not take another tag's existing manifest; a pushed destination wins", () => {
    expect(pushedDigest(`existing manifest: 1.26@${A}\n`, "r.io/x:1.27")).toBeNull();
    const out = `existing manifest: ${B}\nr.io/x:1.27: digest: ${A} size: 10\n`;
    expect(pushedDigest(out, "r.io/x:1.27")).toBe(A);
  });
});
