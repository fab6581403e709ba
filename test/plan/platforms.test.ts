// The planner's platform rule against go-containerregistry's (pkg/v1/remote/index.go matchesPlatform and
// childByPlatform, cmd/crane/cmd/index.go filterIndex): the cases that decide what crane writes.
import { describe, expect, it } from "vitest";
import type { IndexChild, Platform } from "../../src/observe/model.js";
import {
  childForPlatform,
  childrenForPlatforms,
  formatPlatform,
  parsePlatform,
  platformMatches,
  selectPlatforms,
} from "../../src/plan/platforms.js";

const child = (digest: string, platform: Platform | null): IndexChild => ({ digest, platform });
const hub = [
  child("amd64", { os: "linux", architecture: "amd64" }),
  child("arm64-v8", { os: "linux", architecture: "arm64", variant: "v8" }),
  child("arm-v7", { os: "linux", architecture: "arm", variant: "v7" }),
  child("attestation", { os: "unknown", architecture: "unknown" }),
];

describe("platformMatches (matchesPlatform)", () => {
  it.each([
    ["linux/arm64", { os: "linux", architecture: "arm64", variant: "v8" }, true],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64", variant: "v8" }, true],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64" }, false],
    ["linux/arm/v6", { os: "linux", architecture: "arm", variant: "v7" }, false],
    ["linux/amd64", { os: "linux", architecture: "arm64" }, false],
    ["windows/amd64", { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" }, true],
    [
      "windows/amd64:10.0.20348.1",
      { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" },
      false,
    ],
  ] as const)("%s against %j: %s", (wanted, given, expected) => {
    expect(platformMatches(given, parsePlatform(wanted))).toBe(expected);
  });

  it("asks the required features to be a subset of the given ones", () => {
    const given: Platform = { os: "linux", architecture: "amd64", features: ["a", "b"] };
    expect(platformMatches(given, { os: "linux", architecture: "amd64", features: ["b"] })).toBe(true);
    expect(platformMatches(given, { os: "linux", architecture: "amd64", features: ["c"] })).toBe(false);
  });

  it("writes a platform back as v1.Platform.String does", () => {
    expect(formatPlatform(parsePlatform("windows/amd64:10.0.17763.1"))).toBe("windows/amd64:10.0.17763.1");
    expect(formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" })).toBe("linux/arm64/v8");
  });
});

describe("which children crane takes", () => {
  it("copy: the first match in index order; a child without platform is linux/amd64", () => {
    expect(childForPlatform(hub, "linux/arm64")?.digest).toBe("arm64-v8");
    expect(childForPlatform(hub, "linux/s390x")).toBeNull();
    const old = [child("first", null), child("second", { os: "linux", architecture: "amd64" })];
    expect(childForPlatform(old, "linux/amd64")?.digest).toBe("first");
  });

  it("index filter: every match, in index order; a child without platform is dropped", () => {
    expect(childrenForPlatforms(hub, ["linux/arm64", "linux/amd64"]).map((c) => c.digest)).toEqual([
      "amd64",
      "arm64-v8",
    ]);
    const old = [child("no-platform", null), child("arm64", { os: "linux", architecture: "arm64" })];
    expect(childrenForPlatforms(old, ["linux/amd64", "linux/arm64"]).map((c) => c.digest)).toEqual(["arm64"]);
  });

  it("selectPlatforms: a single image only for its own platform; index filter never on a single image", () => {
    const image = { kind: "image" as const, platform: { os: "linux", architecture: "arm64", variant: "v8" } };
    expect(selectPlatforms(image, "img", ["linux/arm64"])).toEqual({ ok: true, digests: ["img"] });
    expect(selectPlatforms(image, "img", ["linux/amd64"])).toEqual({
      ok: false,
      missing: ["linux/amd64"],
      has: ["linux/arm64/v8"],
      singleImage: true,
    });
    expect(selectPlatforms(image, "img", ["linux/arm64", "linux/arm64/v8"])).toMatchObject({
      ok: false,
      singleImage: true,
    });
    expect(
      selectPlatforms({ kind: "index", children: hub }, "idx", ["linux/amd64", "linux/riscv64"]),
    ).toEqual({
      ok: false,
      missing: ["linux/riscv64"],
      has: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "unknown/unknown"],
      singleImage: false,
    });
  });
});
