/**
 * The one error type every layer throws for a problem a person can act on: what is wrong, what to
 * do about it (the hint) and, when it comes from the mirror list, where (file, line, column). The
 * named errors (ObserveError, ToolError, InputError, OutputFolderError, ...) extend it, so the
 * edge (`report/failure.ts`) turns any of them into text the same way, without a stack trace.
 */
import type { ListProblem, Location } from "./list/model.js";

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
  /** Located problems behind this error (chart ranges that did not resolve), as data: `report/` words them. */
  readonly problems: readonly ListProblem[];

  constructor(
    message: string,
    details: { hint?: string | null; location?: Location | null; problems?: readonly ListProblem[] } = {},
  ) {
    super(message);
    this.hint = details.hint;
    this.location = details.location ?? null;
    this.problems = details.problems ?? [];
  }
}
