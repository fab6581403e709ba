/** The problems found in one list, located in its file, and their final order, bound and escaping. */
import type { LineCounter, Node } from "yaml";
import { MAX_PROBLEMS } from "./limits.js";
import type { ListProblem, Location, MirrorList } from "./model.js";
import { safeMessage } from "./quote.js";

export interface ParseResult {
  /** The list, or null when any error was found (warnings alone keep it). */
  list: MirrorList | null;
  /** Every problem, errors and warnings, in file order. */
  problems: ListProblem[];
}

export class Problems {
  readonly items: ListProblem[] = [];
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}
  at(offset: number): Location {
    const pos = this.lines.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col };
  }
  locate(node: unknown, fallback = 0): Location {
    const range = (node as Node | null | undefined)?.range;
    return this.at(range ? range[0] : fallback);
  }
  error(where: Location, message: string, hint?: string): void {
    this.items.push({ ...where, severity: "error", message, ...(hint ? { hint } : {}) });
  }
  warn(where: Location, message: string, hint?: string): void {
    this.items.push({ ...where, severity: "warning", message, ...(hint ? { hint } : {}) });
  }
  get hasErrors(): boolean {
    return this.items.some((p) => p.severity === "error");
  }
}

/** One problem for a list refused as a whole, at `line`:`column` (the start of the file unless given). */
export function refuse(file: string, message: string, hint: string, line = 1, column = 1): ParseResult {
  return { list: null, problems: [{ file, line, column, severity: "error", message, hint }] };
}

/** The result: problems in file order, messages made safe for a log, at most MAX_PROBLEMS and a count of the rest. */
export function finish(problems: Problems, list: MirrorList | null): ParseResult {
  const sorted = [...problems.items].sort((a, b) => a.line - b.line || a.column - b.column);
  const shown = sorted.slice(0, MAX_PROBLEMS).map((p) => ({
    ...p,
    message: safeMessage(p.message),
    ...(p.hint ? { hint: safeMessage(p.hint) } : {}),
  }));
  const rest = sorted.slice(MAX_PROBLEMS);
  const next = rest[0];
  if (next)
    shown.push({
      file: next.file,
      line: next.line,
      column: next.column,
      severity: rest.some((p) => p.severity === "error") ? "error" : "warning",
      message: `and ${rest.length} more problems from here on`,
      hint: "fix the ones above first; the same mistake is often repeated",
    });
  return { list, problems: shown };
}
