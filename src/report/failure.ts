/** A failure as a person reads it: the message and a hint, secrets redacted, no stack trace for a known problem. */
import { MirrorError } from "../errors.js";
import type { SecretMask } from "../tools/credentials.js";

export function describeFailure(e: unknown, mask: SecretMask): string {
  if (e instanceof MirrorError) return mask.redact(e.describe());
  return mask.redact(e instanceof Error ? e.message : String(e));
}
