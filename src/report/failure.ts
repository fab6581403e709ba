/** A failure as a person reads it: the message and a hint, secrets redacted, no stack trace for a known problem. */
import { ObserveError } from "../observe/ecr.js";
import type { SecretMask } from "../tools/credentials.js";

export function describeFailure(e: unknown, mask: SecretMask): string {
  if (e instanceof ObserveError) return mask.redact(`${e.message}${e.hint ? `\n  hint: ${e.hint}` : ""}`);
  return mask.redact(e instanceof Error ? e.message : String(e));
}
