/** The action's raw inputs turned into one typed value, once, at the edge. */
import * as core from "@actions/core";

export type Mode = "validate";
export const MODES: readonly Mode[] = ["validate"];

export interface Inputs {
  /** Path of the mirror list as the user wrote it (relative to the workspace). */
  mirrorFile: string;
  mode: Mode;
}

export class InputError extends Error {}

export function readInputs(): Inputs {
  const mirrorFile = core.getInput("mirror-file") || "mirrors.yaml";
  const mode = (core.getInput("mode") || "validate") as Mode;
  if (!MODES.includes(mode)) {
    throw new InputError(`input "mode" is "${mode}"; expected one of ${MODES.join(", ")}`);
  }
  return { mirrorFile, mode };
}
