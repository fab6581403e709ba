// The "# expect: LINE:COL text" comments a fixture list carries: where the parser must report a problem, and
// (part of) what it says. Shared by the fixtures under test/fixtures/lists and the hostile corpus.
import { expect } from "vitest";

export interface ExpectedProblem {
  line: string;
  column: string;
  snippet: string;
}

/** The list's `# expect: LINE:COL text` comments, in order. */
export function expectedProblems(text: string): ExpectedProblem[] {
  return [...text.matchAll(/^# expect: (\d+):(\d+) ?(.*)$/gm)].map(([, line, column, snippet]) => ({
    line: line!,
    column: column!,
    snippet: snippet!,
  }));
}

/** Each expected problem is among the `printed` ones as `name:LINE:COL: error: …text…`. */
export function expectProblemsAt(name: string, expected: ExpectedProblem[], printed: string[]): void {
  for (const { line, column, snippet } of expected) {
    const at = `${name}:${line}:${column}: error: `;
    expect(
      printed.some((p) => p.startsWith(at) && p.includes(snippet.trim())),
      `${at}…${snippet}\nin:\n${printed.join("\n")}`,
    ).toBe(true);
  }
}
