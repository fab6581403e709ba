// Bundles the action (dist/index.js, from src/index.ts) and the CLI (dist/cli.js) with ncc.
// ncc writes each entry to its own folder as index.js; we lay them side by side in dist/.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SOURCE_HASH_FILE, sourceHash } from "./source-hash.ts";

const entries = [
  { src: "src/index.ts", out: "index.js" },
  { src: "src/cli.ts", out: "cli.js", executable: true },
  { src: "src/post.ts", out: "post.js" },
];

// The JSON Schema is generated from its one source, src/list/schema.ts (Node 24 strips the types).
const { mirrorListSchema } = await import("../src/list/schema.ts");
mkdirSync("schema", { recursive: true });
writeFileSync(join("schema", "mirrors.schema.json"), `${JSON.stringify(mirrorListSchema, null, 2)}\n`);

// Build beside dist/ and swap at the end, so a test reading dist/ never sees it half-written.
const out = mkdtempSync(join(".", ".dist-"));
const licenses = new Set();
const ncc = join("node_modules", "@vercel", "ncc", "dist", "ncc", "cli.js");
for (const entry of entries) {
  const tmp = mkdtempSync(join(tmpdir(), "ecr-mirror-build-"));
  execFileSync(
    process.execPath,
    [ncc, "build", entry.src, "-o", tmp, "--license", "licenses.txt", "--quiet"],
    {
      stdio: "inherit",
    },
  );
  for (const file of readdirSync(tmp)) {
    if (file === "index.js") continue;
    if (file === "licenses.txt") {
      licenses.add(readFileSync(join(tmp, file), "utf8"));
      continue;
    }
    if (file === "package.json") continue;
    throw new Error(`ncc produced an unexpected file ${file} for ${entry.src}; extend scripts/build.mjs`);
  }
  let code = readFileSync(join(tmp, "index.js"), "utf8");
  if (entry.executable && !code.startsWith("#!")) code = `#!/usr/bin/env node\n${code}`;
  writeFileSync(join(out, entry.out), code);
  if (entry.executable) chmodSync(join(out, entry.out), 0o755);
  rmSync(tmp, { recursive: true, force: true });
}
writeFileSync(join(out, "licenses.txt"), [...licenses].join("\n"));
// What the bundle was built from: the tests rebuild when src/ has moved on (see scripts/source-hash.ts).
writeFileSync(join(out, SOURCE_HASH_FILE), `${sourceHash(".")}\n`);
writeFileSync(join(out, "package.json"), `${JSON.stringify({ type: "module" }, null, 2)}\n`);
rmSync("dist", { recursive: true, force: true });
renameSync(out, "dist");
