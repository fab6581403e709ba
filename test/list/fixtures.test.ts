// Every fixture under test/fixtures/lists: valid ones pass the parser and the JSON Schema; invalid
// ones carry their expected problems in "# expect: LINE:COL text" comments, and the parser must
// report each at exactly that place. "# expect: schema" marks fixtures the JSON Schema rejects too.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseMirrorList } from "../../src/list/parse.js";
import { formatProblem } from "../../src/report/problems.js";
import { expectedProblems, expectProblemsAt } from "./expect-comments.js";

const root = join(import.meta.dirname, "..", "fixtures", "lists");
const schema = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "..", "schema", "mirrors.schema.json"), "utf8"),
);
const validateSchema = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

function yamlFiles(dir: string): [string, string][] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => [f, readFileSync(join(dir, f), "utf8")]);
}

/** The fixtures of a kind; the valid ones include every shipped example. */
function fixtures(kind: "valid" | "invalid"): [string, string][] {
  const examples = kind === "valid" ? yamlFiles(join(import.meta.dirname, "..", "..", "examples")) : [];
  return [
    ...yamlFiles(join(root, kind)),
    ...examples.map(([f, t]): [string, string] => [`examples/${f}`, t]),
  ];
}

function schemaAccepts(text: string): boolean | "unparseable" {
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true });
  } catch {
    return "unparseable";
  }
  return validateSchema(value ?? null) === true;
}

describe("valid mirror lists", () => {
  it.each(fixtures("valid"))("%s passes the parser and the JSON Schema", (name, text) => {
    const { list, problems } = parseMirrorList(text, name);
    expect(problems.filter((p) => p.severity === "error").map(formatProblem)).toEqual([]);
    expect(list).not.toBeNull();
    expect(schemaAccepts(text)).toBe(true);
  });
});

describe("invalid mirror lists", () => {
  it.each(fixtures("invalid"))("%s is rejected where and why its comments say", (name, text) => {
    const expectations = expectedProblems(text);
    expect(expectations.length).toBeGreaterThan(0);
    const { list, problems } = parseMirrorList(text, name);
    expect(list).toBeNull();
    const printed = problems.map(formatProblem);
    expectProblemsAt(name, expectations, printed);
    for (const p of problems) expect(p.file).toBe(name);
  });

  it.each(fixtures("invalid"))("%s: the JSON Schema agrees with the parser", (_name, text) => {
    const marked = /^# expect: schema$/m.test(text);
    const unparseable = /^# expect: schema-unparseable$/m.test(text);
    const accepted = schemaAccepts(text);
    if (unparseable) expect(accepted).toBe("unparseable");
    else expect(accepted === false).toBe(marked);
  });
});
