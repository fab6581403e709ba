// The bundle the e2e tests run is the one src/ builds: the build records what it was built from
// (dist/source.sha256) and the global setup (fresh-bundle.ts) rebuilds when that no longer matches.
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sourceHash } from "../../scripts/source-hash.js";
import { bundleIsFresh } from "./fresh-bundle.js";

describe("the bundle under test", () => {
  it("was built from src/ as it is now (the global setup rebuilt it if not)", () => {
    expect(bundleIsFresh()).toBe(true);
  });
});

describe("what the bundle is built from", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "source-hash-"));
    await mkdir(join(root, "src", "list"), { recursive: true });
    await mkdir(join(root, "scripts"));
    for (const file of [
      "package-lock.json",
      "package.json",
      "tsconfig.json",
      "scripts/build.mjs",
      "scripts/source-hash.ts",
    ])
      await writeFile(join(root, file), `${file}\n`);
    await writeFile(join(root, "src", "main.ts"), "export const a = 1;\n");
    await writeFile(join(root, "src", "list", "parse.ts"), "export const b = 2;\n");
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("is the same for the same files, whatever their times", async () => {
    const before = sourceHash(root);
    await utimes(join(root, "src", "main.ts"), new Date(0), new Date(0));
    expect(sourceHash(root)).toBe(before);
  });

  it.each([
    ["a source file edited", "src/list/parse.ts", "export const b = 3;\n"],
    ["a source file added", "src/list/new.ts", "export {};\n"],
    ["the lock file changed", "package-lock.json", '{"lockfileVersion":3}\n'],
    ["the build changed", "scripts/build.mjs", "// another bundler\n"],
  ])("changes when %s", async (_, file, content) => {
    const before = sourceHash(root);
    await writeFile(join(root, file), content);
    expect(sourceHash(root)).not.toBe(before);
  });
});
