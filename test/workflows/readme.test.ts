// The README as a user copies from it: every YAML and JSON block parses, and every action input, output,
// reusable-workflow input and secret it names exists (in a `with:` of a step or job that calls ecr-mirror, in
// the input and output tables, in the prose), and the tables list every input and output action.yml has.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseDocument } from "yaml";
import { REPOSITORY } from "../release/repository.js";

const root = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const readme = read("README.md");
const lineAt = (index: number) => readme.slice(0, index).split("\n").length;

const action = parse(read("action.yml")) as {
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
};
const reusable = (
  parse(read(".github/workflows/mirror.yml")) as {
    on: {
      workflow_call: {
        inputs: Record<string, { required?: boolean }>;
        secrets: Record<string, unknown>;
        outputs: Record<string, unknown>;
      };
    };
  }
).on.workflow_call;
const actionInputs = Object.keys(action.inputs);
const workflowInputs = Object.keys(reusable.inputs);

const blocks = (lang: string) =>
  [...readme.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => ({
    line: lineAt(m.index) + 1,
    text: m[1]!,
  }));
const yamlBlocks = blocks("yaml");
const jsonBlocks = blocks("json");

describe("the README's YAML and JSON blocks", () => {
  it("are there to check", () => {
    expect(yamlBlocks.length).toBeGreaterThan(3);
    expect(jsonBlocks.length).toBeGreaterThan(0);
  });

  it.each(yamlBlocks.map((b) => [b.line, b.text] as const))(
    "YAML at README line %i parses",
    (_line, text) => {
      const document = parseDocument(text);
      expect(document.errors.map((e) => e.message.split("\n")[0])).toEqual([]);
    },
  );

  it.each(jsonBlocks.map((b) => [b.line, b.text] as const))(
    "JSON at README line %i parses",
    (_line, text) => {
      expect(() => JSON.parse(text)).not.toThrow();
    },
  );
});

interface Uses {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | "inherit";
}
/** Every step and job in the README's YAML that calls the action or the reusable workflow, with its line. */
function callers(): { line: number; kind: "action" | "workflow"; node: Uses }[] {
  const found: { line: number; kind: "action" | "workflow"; node: Uses }[] = [];
  const visit = (value: unknown, line: number) => {
    if (Array.isArray(value)) for (const v of value) visit(v, line);
    else if (value && typeof value === "object") {
      const node = value as Uses;
      if (
        typeof node.uses === "string" &&
        node.uses.startsWith(`${REPOSITORY}/.github/workflows/mirror.yml@`)
      )
        found.push({ line, kind: "workflow", node });
      else if (typeof node.uses === "string" && node.uses.startsWith(`${REPOSITORY}@`))
        found.push({ line, kind: "action", node });
      for (const v of Object.values(value)) visit(v, line);
    }
  };
  for (const b of yamlBlocks) visit(parse(b.text), b.line);
  return found;
}

/** The backticked names in the first column of each table whose header's first cell is `header`. */
function tableNames(header: string): string[] {
  const names: string[] = [];
  for (const m of readme.matchAll(new RegExp(`^\\| ${header} \\|.*\\n\\|[- |]+\\|\\n((?:\\|.*\\n)+)`, "gm")))
    for (const row of m[1]!.split("\n").filter(Boolean))
      names.push(...[...row.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!));
  return names;
}

describe("what the README names", () => {
  const calls = callers();

  it("calls the action and the reusable workflow in its examples", () => {
    expect(calls.filter((c) => c.kind === "action").length).toBeGreaterThanOrEqual(2);
    expect(calls.filter((c) => c.kind === "workflow").length).toBeGreaterThanOrEqual(2);
  });

  it("passes the action only inputs it has", () => {
    for (const { line, node } of calls.filter((c) => c.kind === "action"))
      for (const name of Object.keys(node.with ?? {}))
        expect(actionInputs, `README block at line ${line}: input ${name}`).toContain(name);
  });

  it("passes the reusable workflow only inputs and secrets it has, and every input it requires", () => {
    const required = workflowInputs.filter((n) => reusable.inputs[n]!.required);
    for (const { line, node } of calls.filter((c) => c.kind === "workflow")) {
      for (const name of Object.keys(node.with ?? {}))
        expect(workflowInputs, `README block at line ${line}: input ${name}`).toContain(name);
      for (const name of required)
        expect(node.with ?? {}, `README block at line ${line}`).toHaveProperty(name);
      if (node.secrets !== "inherit")
        for (const name of Object.keys(node.secrets ?? {}))
          expect(Object.keys(reusable.secrets), `README block at line ${line}: secret ${name}`).toContain(
            name,
          );
    }
  });

  it("lists every action input in its input table, and nothing else", () => {
    const names = tableNames("input");
    expect(names.filter((n) => !actionInputs.includes(n))).toEqual([]);
    expect(actionInputs.filter((n) => !names.includes(n))).toEqual([]);
  });

  it("lists every action output in its output table, and nothing else", () => {
    const outputs = Object.keys(action.outputs);
    const names = tableNames("output");
    expect(names.filter((n) => !outputs.includes(n))).toEqual([]);
    expect(outputs.filter((n) => !names.includes(n))).toEqual([]);
  });

  it("names only reusable-workflow inputs, secrets and outputs that exist, in its tables for them", () => {
    const known = [...workflowInputs, ...Object.keys(reusable.secrets)];
    for (const name of tableNames("workflow input")) expect(known, name).toContain(name);
    for (const name of tableNames("workflow output"))
      expect(Object.keys(reusable.outputs), name).toContain(name);
  });

  it("calls inputs in its prose by names that exist (`x` input, `x` and `y` inputs, inputs `x`, `y`)", () => {
    const known = new Set([...actionInputs, ...workflowInputs, ...Object.keys(reusable.secrets)]);
    const mentioned: { name: string; line: number }[] = [];
    const names = (text: string) => [...text.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
    const list = "`[a-z0-9-]+`(?:(?:, | and | or |/)`[a-z0-9-]+`)*";
    for (const m of readme.matchAll(new RegExp(`(${list}) inputs?\\b|\\binputs? (${list})`, "g")))
      for (const name of names(m[1] ?? m[2]!)) mentioned.push({ name, line: lineAt(m.index) });
    expect(mentioned.length).toBeGreaterThan(5);
    expect(mentioned.filter((m) => !known.has(m.name)).map((m) => `README.md:${m.line}: ${m.name}`)).toEqual(
      [],
    );
  });
});
