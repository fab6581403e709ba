// Text from a mirror list, an upstream or a tool reaches the step log through one sink. Whatever it holds,
// the runner must find no workflow command in it (`::add-mask::`, `::stop-commands::`, `##[set-output]`...),
// and a person must still be able to read it.
import { describe, expect, it } from "vitest";
import { quoteValue as quote } from "../../src/list/quote.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { formatJson, markdownCell, neutraliseCommands } from "../../src/tools/log-safe.js";
import { workflowCommands } from "../report/workflow-commands.js";

const HOSTILE: Record<string, string> = {
  "a command on its own line": "::warning::x",
  "after a newline": "redis:7.0\n::warning::x",
  "after CRLF": "redis:7.0\r\n::add-mask::x",
  "after a lone CR": "redis:7.0\r::stop-commands::tok",
  "after spaces and a tab": "a\n  \t::error file=x::y",
  "after NBSP": "a\n\u00a0::warning::x",
  "after U+2028 (white space to .NET, not a line break)": "a\n\u2028::warning::x",
  "after an ideographic space and U+2000": "a\n\u3000\u2000::notice::x",
  "after a vertical tab and form feed": "a\n\u000b\u000c::set-output name=a::b",
  "legacy form at the start": "##[set-output name=a;]b",
  "legacy form inside a line": "tag 7.0 ##[add-mask]secret",
  "several on one line": "##[error]a ##[warning]b",
  "three colons": ":::warning::x",
  "only the command keyword": "::",
  "empty command": "::::",
};

describe("neutraliseCommands", () => {
  for (const [name, text] of Object.entries(HOSTILE)) {
    it(`leaves no command in ${name}`, () => {
      expect(workflowCommands(text).length, "the case itself is hostile").toBeGreaterThan(0);
      const safe = neutraliseCommands(text);
      expect(workflowCommands(safe)).toEqual([]);
      // Idempotent, and the line structure is kept.
      expect(neutraliseCommands(safe)).toBe(safe);
      expect(safe.split(/\r\n|\r|\n/).length).toBe(text.split(/\r\n|\r|\n/).length);
    });
  }

  it("keeps the text readable: the command is still there to see, defanged", () => {
    expect(neutraliseCommands("redis:7.0\n::warning::x")).toBe("redis:7.0\n: :warning::x");
    expect(neutraliseCommands("a ##[set-output name=a]b")).toBe("a ## [set-output name=a]b");
    expect(neutraliseCommands("  ::add-mask::x")).toBe("  : :add-mask::x");
  });

  it("leaves ordinary text alone, colons and hashes included", () => {
    for (const text of [
      "docker.io/library/redis:7.0 -> mirrors/library/redis:7.0",
      "[1/3] copy a:b -> c:d (0.4 s)",
      "a::b in the middle",
      "## heading [not legacy]",
      "",
    ])
      expect(neutraliseCommands(text)).toBe(text);
  });
});

describe("quoteValue (src/list), what problems use", () => {
  it("shows control characters as escapes, so a list value stays on one line", () => {
    expect(quote("redis:7.0\n::warning::x")).toBe('"redis:7.0\\n::warning::x"');
    expect(quote("a\rb\u0000c\u2028d\u0085e")).toBe('"a\\rb\\u0000c\\u2028d\\u0085e"');
    expect(quote("redis:7.0")).toBe('"redis:7.0"');
    expect(
      workflowCommands(`invalid image reference ${quote("x\n::add-mask::y\r::stop-commands::z")}`),
    ).toEqual([]);
  });
});

describe("formatJson", () => {
  const mask = new SecretMask(() => {});
  mask.add("s3cr3t-value");

  it("no line of the document is a command, the values read back unchanged, secrets redacted", () => {
    const doc = {
      source: "redis:7.0\n::warning::x",
      error: "##[set-output name=a;]b\r\n::add-mask::y\r::stop-commands::z token s3cr3t-value",
      nested: [{ "key\n::error::k": "\u2028::notice::n" }],
    };
    const text = formatJson(doc, mask);
    expect(workflowCommands(text)).toEqual([]);
    const back = JSON.parse(text);
    expect(back.source).toBe(doc.source);
    expect(back.nested).toEqual(doc.nested);
    expect(back.error).toBe("##[set-output name=a;]b\r\n::add-mask::y\r::stop-commands::z token ***");
    expect(text).not.toContain("s3cr3t-value");
  });
});

describe("markdownCell", () => {
  it("a value with a line break or a pipe stays in its table cell", () => {
    const row = `| ${markdownCell("a|b\nc\r\nd\re\u2028f")} | ${markdownCell("x\u0000y")} |`;
    expect(row.split(/\r\n|\r|\n|\u2028/)).toHaveLength(1);
    // Unescaped pipes are the cell boundaries: exactly three.
    expect(row.match(/(?<!\\)\|/g)).toHaveLength(3);
    expect(row).toContain("x\\u0000y");
  });
});
