// The rooms of src/ and the direction of their imports (ARCHITECTURE.md). Every relative import in src/
// is read with the TypeScript scanner (static, `export … from`, dynamic `import()`), and one that points
// the wrong way fails the test, naming the file and the import.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

/**
 * Each room and the rooms it may import, along the flow list -> observe -> plan -> execute -> render ->
 * report, with the adapters below the rooms that use them. The entries (src/*.ts) may import every room.
 */
const ROOMS: Record<string, readonly string[]> = {
  list: [],
  tools: ["list"],
  git: ["list", "tools"],
  registry: ["list", "tools"],
  observe: ["list", "tools", "registry"],
  plan: ["list", "observe"],
  execute: ["list", "tools", "registry", "observe", "plan"],
  render: ["list", "plan"],
  charts: ["list", "tools", "registry", "observe", "plan", "render"],
  audit: ["list", "observe"],
  report: ["list", "tools", "git", "registry", "observe", "plan", "execute", "render", "charts", "audit"],
  starter: [],
};

/** Top-level modules every room may import; they import nothing from src/ but list/. */
const SHARED = ["pool.ts", "errors.ts"];

/** Rooms with no I/O: nothing from node: but node:crypto, no SDK, no @actions/*. list/read.ts reads the list. */
const PURE = ["list", "plan", "render", "audit", "starter"];
const PURE_EXCEPT = ["list/read.ts"];
const IO_MODULE = /^(?:node:(?!crypto$)|fs$|child_process$|net$|https?$|@aws-sdk\/|@actions\/)/;

/**
 * Wrong-way imports not fixed yet, each with why and what removes it. The test fails when one of them is
 * gone, so this list can only shrink.
 */
const KNOWN: Record<string, string> = {};

interface Violation {
  file: string;
  import: string;
  why: string;
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

/** The room of a path relative to src/ (`observe/ecr.ts` -> observe), or null for a top-level module. */
const roomOf = (path: string): string | null => (path.includes("/") ? path.split("/")[0]! : null);

/** Every import in `root` (a src/ folder) that breaks the table, the shared rule or purity. */
async function violations(root: string): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const abs of await tsFiles(root)) {
    const file = relative(root, abs).split(sep).join("/");
    const from = roomOf(file);
    const { importedFiles } = ts.preProcessFile(await readFile(abs, "utf8"), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (!spec.startsWith(".")) {
        const pure = from && PURE.includes(from) && !PURE_EXCEPT.includes(file);
        if (pure && IO_MODULE.test(spec))
          found.push({ file, import: spec, why: `${from}/ is pure: no I/O modules` });
        continue;
      }
      const target = relative(root, join(dirname(abs), spec))
        .split(sep)
        .join("/")
        .replace(/\.js$/, ".ts");
      if (target.startsWith("..")) {
        found.push({ file, import: spec, why: "points outside src/" });
        continue;
      }
      const to = roomOf(target);
      if (from === null) {
        if (SHARED.includes(file) && to !== "list" && to !== null)
          found.push({ file, import: spec, why: `${file} is shared: it may import list/ only` });
        continue;
      }
      if (to === from) continue;
      if (to === null) {
        if (!SHARED.includes(target))
          found.push({ file, import: spec, why: `${from}/ may not import the entry ${target}` });
        continue;
      }
      const allowed = ROOMS[from];
      if (!allowed) found.push({ file, import: spec, why: `${from}/ is not in the table of rooms` });
      else if (!allowed.includes(to))
        found.push({
          file,
          import: spec,
          why: `${from}/ may import ${allowed.length ? allowed.map((r) => `${r}/`).join(", ") : "no room"}, not ${to}/`,
        });
    }
  }
  return found;
}

const key = (v: Violation, root: string) =>
  `${v.file} -> ${relative(root, join(root, dirname(v.file), v.import))
    .split(sep)
    .join("/")
    .replace(/\.js$/, ".ts")}`;

const SRC = join(import.meta.dirname, "..", "src");

describe("the rooms of src/ (ARCHITECTURE.md)", () => {
  it("no file imports a room it may not (the flow list -> observe -> plan -> execute -> render -> report)", async () => {
    const found = (await violations(SRC)).filter((v) => !(key(v, SRC) in KNOWN));
    expect(found.map((v) => `${v.file}: import "${v.import}": ${v.why}`)).toEqual([]);
  });

  it("every wrong-way import still listed as known is still there (the list only shrinks)", async () => {
    const present = new Set((await violations(SRC)).map((v) => key(v, SRC)));
    expect(Object.keys(KNOWN).filter((k) => !present.has(k))).toEqual([]);
  });

  it("every folder of src/ is a room of the table", async () => {
    const folders = (await readdir(SRC, { withFileTypes: true })).filter((e) => e.isDirectory());
    expect(folders.map((e) => e.name).filter((n) => !(n in ROOMS))).toEqual([]);
  });

  it("the table has no cycle: the rooms stack in one order", () => {
    const seen = new Set<string>();
    const order: string[] = [];
    const visit = (room: string, path: string[]) => {
      if (path.includes(room)) throw new Error(`cycle: ${[...path, room].join(" -> ")}`);
      if (seen.has(room)) return;
      for (const below of ROOMS[room] ?? []) visit(below, [...path, room]);
      seen.add(room);
      order.push(room);
    };
    for (const room of Object.keys(ROOMS)) visit(room, []);
    expect(order).toHaveLength(Object.keys(ROOMS).length);
  });
});

describe("the import check itself", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function tree(files: Record<string, string>): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), "ecr-mirror-rooms-"));
    dirs.push(root);
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
    return root;
  }

  it("names the file and the import that points the wrong way, static, re-export or dynamic", async () => {
    const root = await tree({
      "observe/distribution.ts": 'import { withRetries } from "../execute/retry.js";\n',
      "render/index.ts": 'export type { ChartImagesRecord } from "../charts/record.js";\n',
      "plan/plan.ts":
        'const m = await import("../report/plan.js");\nimport { readFile } from "node:fs/promises";\n',
      "list/model.ts": 'import { run } from "../run.js";\n',
      "pool.ts": 'import { x } from "./plan/model.js";\n',
      "execute/execute.ts":
        'import { mapWithConcurrency } from "../pool.js";\nimport type { Plan } from "../plan/model.js";\n',
      "run.ts": 'import { renderNodeConfig } from "./render/index.js";\n',
    });
    expect((await violations(root)).map((v) => `${v.file}: ${v.import}: ${v.why}`)).toEqual([
      "list/model.ts: ../run.js: list/ may not import the entry run.ts",
      "observe/distribution.ts: ../execute/retry.js: observe/ may import list/, tools/, registry/, not execute/",
      "plan/plan.ts: ../report/plan.js: plan/ may import list/, observe/, not report/",
      "plan/plan.ts: node:fs/promises: plan/ is pure: no I/O modules",
      "pool.ts: ./plan/model.js: pool.ts is shared: it may import list/ only",
      "render/index.ts: ../charts/record.js: render/ may import list/, plan/, not charts/",
    ]);
  });
});
