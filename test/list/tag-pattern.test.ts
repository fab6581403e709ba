// Tag patterns: the same answers as a JavaScript RegExp matched against the whole tag, for every pattern of the
// supported subset; refusals (with where) for what is outside it; and no pattern, however written, that a hostile
// tag list can make slow (the automaton never backtracks).
import { describe, expect, it } from "vitest";
import { MAX_PATTERN_LENGTH, parseTagPattern } from "../../src/list/tag-pattern.js";
import { selectTags } from "../../src/list/tag-ranges.js";

const PATTERNS = [
  "^\\d+\\.\\d+\\.\\d+$",
  "v?1\\.2[0-9]?(-alpine)?",
  "(a|b)*c",
  "[^-]+-alpine",
  "a{2,3}",
  "(a*)*",
  ".*",
  "1\\.(2|3)\\.\\d+",
  "[a-c-]+",
  "x{2}y{1,}",
  "(?:\\w+-)?\\d+(\\.\\d+){1,2}",
  "\\D+",
  "[\\d.]+-rc\\.\\d+",
  "a?b?c?",
  "1\\.2\\.\\d+|latest",
];
const TAGS = [
  "1.2.3",
  "v1.2",
  "v1.25-alpine",
  "1.25-alpine",
  "abc",
  "aac",
  "c",
  "aa",
  "aaa",
  "aaaa",
  "1.3.10",
  "1.4.1",
  "b-c",
  "xxy",
  "xxyyy",
  "x-alpine",
  "bookworm-1.2",
  "2.0.0-rc.1",
  "latest",
  "a_b",
  "ab",
];

describe("tag patterns", () => {
  it.each(PATTERNS)("%s matches exactly the tags the anchored RegExp matches", (pattern) => {
    const parsed = parseTagPattern(pattern);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const re = new RegExp(`^(?:${pattern.replace(/^\^/, "").replace(/\$$/, "")})$`);
    const ours = TAGS.filter((t) => parsed.pattern.matches(t));
    expect(ours).toEqual(TAGS.filter((t) => re.test(t)));
  });

  it.each([
    ["(?=1)\\d+", 0, "lookarounds"],
    ["(?<name>a)", 0, "lookarounds and named groups"],
    ["(a)\\1", 3, "\\1 is not supported"],
    ["\\bfoo", 0, "\\b is not supported"],
    ["a**", 2, "a quantifier cannot follow a quantifier"],
    ["*a", 0, "nothing to repeat"],
    ["[a", 0, 'unclosed "["'],
    ["(a", 0, 'unclosed "("'],
    ["a)", 1, 'unmatched ")"'],
    ["a^b", 1, "only allowed at the start"],
    ["a{200}", 1, "above 128"],
    ["a{3,1}", 1, "backwards"],
    ["[z-a]", 1, "backwards"],
    ["(.{100}){100}", 0, "states"],
    ["1.0 latest", 3, "U+0020 cannot be in a tag"],
    ["v1\u00e9", 2, "U+00E9 cannot be in a tag"],
    ["a".repeat(MAX_PATTERN_LENGTH + 1), 0, `longer than ${MAX_PATTERN_LENGTH}`],
  ])("refuses %s at offset %i (%s)", (pattern, offset, why) => {
    const parsed = parseTagPattern(pattern);
    expect(parsed).toMatchObject({ ok: false, offset });
    expect(parsed.ok ? "" : parsed.error).toContain(why);
  });

  it("a pattern that makes a backtracking engine exponential runs in linear time on 20000 hostile tags", () => {
    const tags = Array.from({ length: 20_000 }, (_, i) => `${"a".repeat(120)}${i}`);
    for (const pattern of ["(a+)+b", "(a|a)*b", "(a*)*b", "(.*a){20}b", "(\\w|a)+\\d+x"]) {
      const parsed = parseTagPattern(pattern);
      expect(parsed.ok, pattern).toBe(true);
      if (!parsed.ok) continue;
      const started = performance.now();
      const selected = selectTags({ versionRange: null, pattern, newest: null }, tags);
      const ms = performance.now() - started;
      expect(selected).toEqual([]);
      // The same RegExp on one of these tags takes 2^120 steps; the automaton does 20000 tags in well under 5 s.
      expect(ms, `${pattern}: ${ms.toFixed(0)} ms`).toBeLessThan(5000);
    }
  });
});

describe("selectTags", () => {
  const published = [
    "0.9.0",
    "1.0.0",
    "v1.1.0",
    "1.1.0-alpine",
    "2.0.0-rc.1",
    "2.0.0",
    "latest",
    "edge",
    "1.0",
  ];

  it("a versionRange: release versions in it, highest first (a leading v reads; prereleases only when named)", () => {
    expect(selectTags({ versionRange: ">=1.0.0 <2.0.0", pattern: null, newest: null }, published)).toEqual([
      "v1.1.0",
      "1.0",
      "1.0.0",
    ]);
    expect(selectTags({ versionRange: ">=2.0.0-0", pattern: null, newest: null }, published)).toEqual([
      "2.0.0",
      "2.0.0-rc.1",
    ]);
  });

  it("newest alone: the N highest release versions; a pattern alone: versions first, then other tags", () => {
    expect(selectTags({ versionRange: null, pattern: null, newest: 2 }, published)).toEqual([
      "2.0.0",
      "v1.1.0",
    ]);
    expect(selectTags({ versionRange: null, pattern: "[a-z]+|\\d\\.\\d", newest: null }, published)).toEqual([
      "1.0",
      "latest",
      "edge",
    ]);
    expect(selectTags({ versionRange: "~1.1", pattern: ".*-alpine", newest: null }, published)).toEqual([]);
    expect(
      selectTags({ versionRange: ">=1.1.0-0 <1.2.0-0", pattern: ".*-alpine", newest: 1 }, published),
    ).toEqual(["1.1.0-alpine"]);
  });
});
