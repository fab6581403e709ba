// Vitest's global setup: the tests that run dist/ (test/e2e, test/entries, the CLI render test) must not pass
// on a stale bundle. dist/source.sha256 records what dist/ was built from; when src/ (or the lock file, or the
// build) has moved on, the bundle is rebuilt before any test starts.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SOURCE_HASH_FILE, sourceHash } from "../../scripts/source-hash.js";

const root = join(import.meta.dirname, "..", "..");

/** Whether dist/ was built from the sources as they are now. */
export function bundleIsFresh(): boolean {
  const recorded = join(root, "dist", SOURCE_HASH_FILE);
  return existsSync(recorded) && readFileSync(recorded, "utf8").trim() === sourceHash(root);
}

export default function setup(): void {
  if (bundleIsFresh()) return;
  const started = performance.now();
  process.stderr.write("dist/ is older than src/: rebuilding it (node scripts/build.mjs)\n");
  execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" });
  process.stderr.write(`dist/ rebuilt in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
