/**
 * The one error type every layer throws for a problem a person can act on: what is wrong, what to
 * do about it (the hint) and, when it comes from the mirror list, where (file, line, column). The
 * named errors (ObserveError, ToolError, InputError, OutputFolderError, ...) extend it, so the
 * edge (`report/failure.ts`) turns any of them into text the same way, without a stack trace.
 */
import type { Location } from "./list/model.js";

/** A problem as data: message, hint and location (plan warnings have this shape too). */
export interface Problem {
  message: string;
  hint?: string;
  location?: Location;
}

export class MirrorError extends Error {
  /** What to do about it; some subclasses already write it into the message (`…\nhint: …`). */
  readonly hint: string | null | undefined;
  /** The mirror-list line the problem comes from, when it comes from one. */
  readonly location: Location | null;

  constructor(message: string, details: { hint?: string | null; location?: Location | null } = {}) {
    super(message);
    this.hint = details.hint;
    this.location = details.location ?? null;
  }

  /** The text a person reads: `file:line:col: ` when located, the message, and the hint unless the message carries it. */
  describe(): string {
    const at = this.location ? `${this.location.file}:${this.location.line}:${this.location.column}: ` : "";
    const hinted = !this.hint || this.message.includes(`hint: ${this.hint}`);
    return `${at}${this.message}${hinted ? "" : `\n  hint: ${this.hint}`}`;
  }
}
