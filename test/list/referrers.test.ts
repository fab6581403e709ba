// Issue 20: `referrers:` on an image entry and `defaults.referrers` for the whole list, with located errors.
import { describe, expect, it } from "vitest";
import { imageEntryFor, parseMirrorList } from "../../src/list/parse.js";

const parse = (text: string) => parseMirrorList(text, "mirrors.yaml");
/** Line and column (1-based) of the first `needle` in `text`. */
function at(text: string, needle: string): { line: number; column: number } {
  const lines = text.split("\n");
  const line = lines.findIndex((l) => l.includes(needle));
  return { line: line + 1, column: lines[line]!.indexOf(needle) + 1 };
}

describe("referrers in the mirror list", () => {
  it("is off unless an entry or defaults.referrers turns it on; an entry's own value wins", () => {
    const { list, problems } = parse(
      [
        "defaults:",
        "  referrers: true",
        "images:",
        "  - redis:7.0",
        "  - source: nginx",
        '    tags: ["1.27"]',
        "    referrers: false",
        "  - source: busybox",
        '    tags: ["1.37"]',
        "    platforms: [linux/amd64]",
      ].join("\n"),
    );
    expect(problems).toEqual([]);
    expect(list!.images.map((i) => [i.source, i.referrers ?? false])).toEqual([
      ["docker.io/library/redis:7.0", true],
      ["docker.io/library/nginx:1.27", false],
      // The default leaves platform-filtered entries out: their mirrored digest is not the signed one.
      ["docker.io/library/busybox:1.37", false],
    ]);
    const off = parse('images:\n  - redis:7.0\n  - source: nginx\n    tags: ["1.27"]\n    referrers: true\n');
    expect(off.list!.images.map((i) => i.referrers ?? false)).toEqual([false, true]);
  });

  it("gives defaults.referrers to images found outside the list (in charts) too", () => {
    const at1 = { file: "mirrors.yaml", line: 1, column: 1 };
    const on = parse("defaults:\n  referrers: true\nimages:\n  - redis:7.0\n").list!;
    const found = imageEntryFor("quay.io/org/app:1", on, at1);
    expect(found.ok && found.entry.referrers).toBe(true);
    const off = imageEntryFor("quay.io/org/app:1", parse("images:\n  - redis:7.0\n").list!, at1);
    expect(off.ok && off.entry.referrers).toBeUndefined();
  });

  it("refuses referrers: true with platforms, at the key, with the way out", () => {
    const text =
      'images:\n  - source: busybox\n    tags: ["1.37"]\n    platforms: [linux/arm64]\n    referrers: true\n';
    const { list, problems } = parse(text);
    expect(list).toBeNull();
    expect(problems).toEqual([
      {
        file: "mirrors.yaml",
        ...at(text, "referrers"),
        severity: "error",
        message: "referrers cannot travel with a platform-filtered entry",
        hint: "platforms writes a new manifest whose digest no signature or SBOM names; remove platforms to mirror the image as it is signed, or remove referrers",
      },
    ]);
  });

  it("reports a value that is not a boolean, and an unknown key under defaults, where they are written", () => {
    const text =
      'defaults:\n  referers: true\nimages:\n  - source: redis\n    tags: ["7.0"]\n    referrers: "yes"\n';
    const { list, problems } = parse(text);
    expect(list).toBeNull();
    expect(problems.map((p) => [p.line, p.column, p.message, p.hint])).toEqual([
      [
        at(text, "referers").line,
        at(text, "referers").column,
        'unknown key "referers" in defaults',
        'did you mean "referrers"?',
      ],
      [
        at(text, '"yes"').line,
        at(text, '"yes"').column,
        'images[0].referrers: expected true or false, found "yes"',
        undefined,
      ],
    ]);
  });
});
