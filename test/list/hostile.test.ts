// The hostile corpus (test/fixtures/hostile): every list carries its outcome in comments. "# expect: LINE:COL text"
// lists must be rejected at that place with that text; "# expect: accepted" lists must be accepted and then do no
// harm ("# harmless:" says why): every host they name passes the address policy and every crane and helm command
// line built from them holds no flag-like value and no --insecure. No problem message may carry a raw control
// character, a line that starts a workflow command, or a planted secret. The huge, deep and alias-bomb inputs are
// generated here rather than committed.

import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkHost, checkUrl } from "../../src/list/address-policy.js";
import type { MirrorList } from "../../src/list/model.js";
import {
  MAX_DEPTH,
  MAX_LIST_BYTES,
  MAX_LIST_ITEMS,
  type ParseResult,
  parseMirrorList,
} from "../../src/list/parse.js";
import { readMirrorList } from "../../src/list/read.js";
import { formatProblem } from "../../src/report/problems.js";
import { craneCopyArgs, craneDigestArgs } from "../../src/tools/crane.js";
import { chartFetchAddress, fetchAddress } from "../../src/tools/fetch-address.js";
import { helmPullOciArgs, helmPullRepoArgs } from "../../src/tools/helm.js";
import { expectedProblems, expectProblemsAt } from "./expect-comments.js";

const dir = join(import.meta.dirname, "..", "fixtures", "hostile");
const corpus: [string, string][] = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => [f, readFileSync(join(dir, f), "utf8")]);

const SECRET = "hunter2";

/** What must hold of every answer, accepted or not. */
function expectSafeProblems(result: ParseResult): void {
  for (const p of result.problems) {
    for (const line of formatProblem(p).split("\n")) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for exactly these
      expect(line, line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      expect(line.trimStart().startsWith("::"), line).toBe(false);
      expect(line, line).not.toContain(SECRET);
    }
  }
}

/** An accepted list does no harm: hosts allowed, argv free of flag-like values and of --insecure. */
function expectHarmless(list: MirrorList): void {
  const argvs: string[][] = [];
  for (const u of list.upstreams) {
    expect(checkHost(u.host)).toEqual({ ok: true });
    if (u.endpoint) expect(checkUrl(u.endpoint, ["https", "http"]).ok).toBe(true);
  }
  for (const image of list.images) {
    expect(checkHost(image.reference.domain)).toEqual({ ok: true });
    const source = fetchAddress(image.reference, list.upstreams);
    argvs.push(
      craneCopyArgs(source.reference, `r.example/${image.repository}:1`, { platform: image.platforms[0] }),
    );
    argvs.push(craneDigestArgs(source.reference));
  }
  for (const chart of list.charts) {
    expect(checkUrl(chart.source, ["https", "http", "oci"]).ok).toBe(true);
    if (chart.kind === "oci") {
      const source = chartFetchAddress(chart.source, list.upstreams);
      argvs.push(helmPullOciArgs(source.ociReference, chart.version, "/d", "/r.json"));
      argvs.push(
        craneCopyArgs(`${source.reference}:${chart.tag}`, `r.example/${chart.repository}:${chart.tag}`),
      );
    } else argvs.push(helmPullRepoArgs(chart.source, chart.name, chart.version, "/d"));
  }
  for (const argv of argvs) {
    expect(argv).not.toContain("--insecure");
    // Flags are the product's own: each value after the subcommand's positionals is preceded by a known flag.
    for (const a of argv)
      if (a.startsWith("-"))
        expect(["--platform", "--version", "--destination", "--repo", "--registry-config"]).toContain(a);
  }
}

describe("the hostile corpus", () => {
  it("holds at least 150 lists", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(150);
  });

  it.each(corpus)("%s", (name, text) => {
    const accepted = /^# expect: accepted$/m.test(text);
    const expectations = expectedProblems(text);
    expect(accepted || expectations.length > 0, "the list says what to expect").toBe(true);
    const result = parseMirrorList(text, name);
    expectSafeProblems(result);
    const printed = result.problems.map(formatProblem);
    if (accepted) {
      expect(/^# harmless: \S/m.test(text), "an accepted list says why it is harmless").toBe(true);
      expect(printed.filter((p) => p.includes(": error: "))).toEqual([]);
      expect(result.list).not.toBeNull();
      expectHarmless(result.list!);
      return;
    }
    expect(result.list).toBeNull();
    expectProblemsAt(name, expectations, printed);
  });
});

describe("generated hostile inputs: bounded, located, never a stack trace", () => {
  const located = (result: ParseResult, pattern: RegExp) => {
    expect(result.list).toBeNull();
    expectSafeProblems(result);
    expect(result.problems.some((p) => p.severity === "error" && pattern.test(p.message))).toBe(true);
    return result.problems.find((p) => pattern.test(p.message))!;
  };

  it("a list over the size limit is refused before parsing, in memory and on disk", async () => {
    const big = `images:\n${"  - registry.example.com/team/app:1.0.0\n".repeat(Math.ceil(MAX_LIST_BYTES / 38) + 10)}`;
    const start = Date.now();
    const p = located(parseMirrorList(big, "big.yaml"), /larger than 2 MiB/);
    expect([p.line, p.column]).toEqual([1, 1]);
    expect(Date.now() - start).toBeLessThan(100);
    const tmp = await mkdtemp(join(tmpdir(), "hostile-"));
    try {
      await writeFile(join(tmp, "big.yaml"), big);
      located(await readMirrorList(join(tmp, "big.yaml"), "big.yaml"), /larger than 2 MiB/);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it.each([
    ["lines", `images:\n${"- 1\n".repeat(MAX_LIST_ITEMS + 1)}`],
    ["flow items", `images: [${"{},".repeat(MAX_LIST_ITEMS + 1)}]\n`],
    ["duplicate keys", `images: [redis:7.0]\n${"a: 1\n".repeat(MAX_LIST_ITEMS + 1)}`],
  ])("more %s than any list holds are refused before the YAML parser builds them", (_what, text) => {
    // Under 2 MiB, yet 15 to 27 s and up to 1.2 GB in the YAML parser (its duplicate-key check is quadratic).
    const start = Date.now();
    const p = located(parseMirrorList(text, "many.yaml"), /more than 100000 lines and list items/);
    expect(Date.now() - start).toBeLessThan(500);
    expect(p.line > 1 || p.column > 1).toBe(true); // where the limit is crossed
  });

  it("thousands of bad entries: 200 problems listed, the rest counted", () => {
    const result = parseMirrorList(`images:\n${"- 1\n".repeat(5000)}`, "many.yaml");
    expect(result.problems).toHaveLength(201);
    expect(result.problems[200]).toMatchObject({ line: 202, message: "and 4800 more problems from here on" });
  });

  it("a device that never ends (/dev/zero) is read no further than the limit", async () => {
    located(await readMirrorList("/dev/zero", "zero.yaml"), /larger than 2 MiB/);
  });

  it.each([
    ["flow lists 1 000 000 deep", `images: ${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}\n`],
    ["flow mappings 20 000 deep", `images: ${"{a: ".repeat(20_000)}1${"}".repeat(20_000)}\n`],
    [
      "flow lists 100 deep (past the parser, refused at the node)",
      `images: ${"[".repeat(100)}${"]".repeat(100)}\n`,
    ],
    ["block lists 1 000 000 deep on one line", `images:\n  - ${"- ".repeat(1_000_000 - 10)}x\n`],
    [
      "block mappings 1000 deep",
      `images:\n${Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i + 2)}k${i}:\n`).join("")}`,
    ],
  ])("%s: one located error, in bounded time", (_name, text) => {
    const start = Date.now();
    const result = parseMirrorList(text, "deep.yaml");
    located(result, /nested too deeply/);
    expect(result.problems.length).toBeLessThan(5);
    // The YAML parser alone took 9 s and 1.3 GB for 2 MiB of "[": a linear scan refuses it first.
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it(`${MAX_DEPTH} levels of chart values are refused at the level that is too deep`, () => {
    const depth = MAX_DEPTH + 5;
    const text = `charts:\n  - source: oci://ghcr.io/x/y\n    versions: ["1.0.0"]\n    images: true\n    values: ${"{a: ".repeat(depth)}1${"}".repeat(depth)}\n`;
    const p = located(parseMirrorList(text, "deep.yaml"), /nested too deeply here/);
    expect(p.line).toBe(5);
  });

  it("a policy JSON string nested 1 000 000 deep is an error, not a crash", () => {
    const json = `${"[".repeat(500_000)}${"]".repeat(500_000)}`;
    const text = `target:\n  repositorySettings:\n    lifecyclePolicy: '${json}'\nimages:\n  - redis:7.0\n`;
    const result = parseMirrorList(text, "deep.yaml");
    expect(result.list).toBeNull();
    expectSafeProblems(result);
  });

  it.each([500, 500_000])(
    "an alias bomb of %i aliases is refused quickly, with a bounded number of problems",
    (n) => {
      const text = `a: &a [x]\nimages: [${Array.from({ length: n }, () => "*a").join(",")}]\n`;
      const start = Date.now();
      const result = parseMirrorList(text, "bomb.yaml");
      located(result, /YAML aliases/);
      expect(result.problems.length).toBeLessThan(30);
      expect(Date.now() - start).toBeLessThan(2000);
    },
  );

  it("an enormous string is refused, and the message quotes only its start", () => {
    const name = `registry.example.com/${"a".repeat(1_000_000)}:1`;
    const result = parseMirrorList(`images:\n  - ${name}\n`, "long.yaml");
    const p = located(result, /invalid image reference/);
    expect(p.message.length).toBeLessThan(500);
  });

  it("5000 duplicate keys: located errors, no crash", () => {
    const text = `images:\n  - redis:7.0\n${"target: {}\n".repeat(5000)}`;
    const result = parseMirrorList(text, "dup.yaml");
    located(result, /Map keys must be unique/);
  });
});
