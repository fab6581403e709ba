// What dist/ is built from (Node 24 runs this file as it is, types stripped), as one SHA-256: every file under src/, the lock file, package.json, tsconfig.json
// and the build scripts. scripts/build.mjs records it in dist/source.sha256; the tests' global setup
// (test/e2e/fresh-bundle.ts) rebuilds when the recorded one differs, so no test runs a stale bundle.
// It depends on file contents and paths only, so a clean build records what the committed dist/ holds.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

export const SOURCE_HASH_FILE = "source.sha256";

export function sourceHash(root: string): string {
  const files = [
    ...readdirSync(join(root, "src"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name)),
    ...[
      "package-lock.json",
      "package.json",
      "tsconfig.json",
      "scripts/build.mjs",
      "scripts/source-hash.ts",
    ].map((f) => join(root, f)),
  ]
    .map((f) => relative(root, f).split(sep).join("/"))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    const content = readFileSync(join(root, file));
    hash.update(`${file}\0${content.length}\0`).update(content);
  }
  return hash.digest("hex");
}
