// Version ranges as helm reads them (Masterminds/semver v3). The tables follow the library's own
// constraint tests (constraints_test.go) for the forms a mirror list uses.
import { describe, expect, it } from "vitest";
import {
  compareVersions,
  parseConstraint,
  parseStrictVersion,
  parseVersion,
  satisfies,
  selectVersions,
} from "../../src/list/semver.js";

function matches(range: string, version: string): boolean {
  const c = parseConstraint(range);
  if (!c.ok) throw new Error(c.error);
  const v = parseVersion(version);
  if (!v) throw new Error(`bad version ${version}`);
  return satisfies(v, c.value);
}

describe("constraints", () => {
  it.each([
    // comparisons
    ["=2.0.0", "2.0.0", true],
    ["2.0.0", "2.0.1", false],
    ["!=4.1", "4.1.0", false],
    ["!=4.1", "4.2.0", true],
    [">1.1", "1.1.5", false],
    [">1.1", "1.2.0", true],
    [">11", "11.1.0", false],
    [">11", "12.0.0", true],
    [">=1.1", "1.1.0", true],
    [">=1.1", "1.0.9", false],
    ["<1.1", "1.0.9", true],
    ["<1.1", "1.1.0", false],
    ["<=1.1", "1.1.9", true],
    ["<=1.1", "1.2.0", false],
    ["=>1.0", "1.0.0", true],
    ["=<1.0", "1.0.1", true],
    // AND by space or comma, OR
    [">=4.10.0 <5.0.0", "4.10.0", true],
    [">=4.10.0 <5.0.0", "4.11.3", true],
    [">=4.10.0 <5.0.0", "5.0.0", false],
    [">=4.10.0, <5.0.0", "4.9.9", false],
    ["^1.2 || ^3.0", "2.5.0", false],
    ["^1.2 || ^3.0", "3.4.0", true],
    // hyphen ranges
    ["1.1 - 2", "1.1.0", true],
    ["1.1 - 2", "2.9.9", true],
    ["1.1 - 2", "3.0.0", false],
    ["1.2.3 - 1.4.5", "1.4.5", true],
    ["1.2.3 - 1.4.5", "1.4.6", false],
    // tilde
    ["~1.2.3", "1.2.9", true],
    ["~1.2.3", "1.3.0", false],
    ["~1", "1.9.0", true],
    ["~1", "2.0.0", false],
    ["~>1.2", "1.2.5", true],
    ["~0.0.0", "9.9.9", true],
    // caret
    ["^1.2.3", "1.9.9", true],
    ["^1.2.3", "2.0.0", false],
    ["^1.2.3", "1.2.2", false],
    ["^0.2.3", "0.2.9", true],
    ["^0.2.3", "0.3.0", false],
    ["^0.0.3", "0.0.3", true],
    ["^0.0.3", "0.0.4", false],
    ["^0", "0.9.0", true],
    ["^0", "1.0.0", false],
    // wildcards and partial versions
    ["4.x", "4.11.3", true],
    ["4.x", "5.0.0", false],
    ["4.11", "4.11.7", true],
    ["4.11", "4.12.0", false],
    ["1.2.*", "1.2.99", true],
    ["*", "0.0.1", true],
    ["x", "7.1.2", true],
    // prereleases only when asked for
    [">=1.0.0", "1.1.0-rc.1", false],
    ["*", "1.0.0-beta", false],
    [">=1.0.0-0", "1.1.0-rc.1", true],
    [">=1.1.0-alpha", "1.1.0-beta", true],
    [">=1.1.0-beta", "1.1.0-alpha", false],
    ["<1.1.0", "1.1.0-rc.1", false],
    // build metadata does not take part
    ["=1.0.0", "1.0.0+build.7", true],
    [">1.0.0", "1.0.0+build.7", false],
  ])("%s against %s: %s", (range, version, expected) => {
    expect(matches(range, version)).toBe(expected);
  });

  it.each([">=4.10 <<5", "foo", "1.2.3.4", ">= ", "^1 ||", ""])("rejects %j", (range) => {
    expect(parseConstraint(range).ok).toBe(false);
  });
});

describe("versions", () => {
  it("orders by SemVer precedence, prereleases before the release", () => {
    const sorted = [
      "1.0.0",
      "1.0.0-rc.1",
      "1.0.0-alpha",
      "1.0.0-alpha.1",
      "1.0.0-beta.11",
      "1.0.0-beta.2",
      "0.9.9",
    ]
      .map((v) => parseVersion(v)!)
      .sort(compareVersions)
      .map((v) => v.original);
    expect(sorted).toEqual([
      "0.9.9",
      "1.0.0-alpha",
      "1.0.0-alpha.1",
      "1.0.0-beta.2",
      "1.0.0-beta.11",
      "1.0.0-rc.1",
      "1.0.0",
    ]);
  });

  it("reads loose versions like helm's index lookup, and OCI tags strictly", () => {
    expect(parseVersion("v1.2")).toMatchObject({ major: 1, minor: 2, patch: 0 });
    expect(parseStrictVersion("v1.2.0")).toBeNull();
    expect(parseStrictVersion("1.2")).toBeNull();
    expect(parseStrictVersion("1.2.0+build.1")).toMatchObject({ build: "build.1" });
    expect(parseVersion("latest")).toBeNull();
  });

  it("selects the newest N matching versions, highest first, skipping what is not a version", () => {
    const c = parseConstraint(">=4.10.0 <5.0.0");
    if (!c.ok) throw new Error(c.error);
    const all = ["4.9.0", "4.10.0", "4.10.1", "4.11.3", "4.12.0-beta.0", "5.0.0", "latest", "4.11.2"];
    expect(selectVersions(all, c.value)).toEqual(["4.11.3", "4.11.2", "4.10.1", "4.10.0"]);
    expect(selectVersions(all, c.value, 2)).toEqual(["4.11.3", "4.11.2"]);
  });
});
