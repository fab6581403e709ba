/**
 * `ecr-mirror audit [FILE] --pods FILE|- | --kubeconfig PATH [--context C] [--no-target] [--json]`: what the cluster
 * runs against the mirror list. Exit codes: 0 nothing missing, 1 an image not in the list or a pinned digest the
 * mirror lacks (or the audit could not run), 2 a usage error. The action's `mode: audit` runs the same steps
 * (`runAudit`, ./audit-run.ts).
 */
import { readFile } from "node:fs/promises";
import { auditFindsMissing } from "./audit/audit.js";
import { chartImagesOf, runAudit } from "./audit-run.js";
import { readMirrorList } from "./list/read.js";
import { auditToJson, formatAudit } from "./report/audit.js";
import { describeFailure } from "./report/failure.js";
import { formatProblems } from "./report/problems.js";
import type { ConnectSettings } from "./run.js";
import type { SecretMask } from "./tools/credentials.js";
import { formatJson } from "./tools/log-safe.js";

export interface AuditCliFlags {
  pods?: string;
  kubeconfig?: string;
  context?: string;
  "no-target"?: boolean;
  json?: boolean;
  "charts-record"?: string;
}

export interface AuditCliIo {
  out(s: string): void;
  err(s: string): void;
  mask: SecretMask;
  stdin: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
}

/** The CLI command; `settings` builds the target settings the other commands use (flags and environment). */
export async function auditCommand(
  file: string,
  flags: AuditCliFlags,
  io: AuditCliIo,
  settings: () => ConnectSettings,
): Promise<number> {
  const usage = (why: string) => {
    io.err(
      `ecr-mirror audit: ${why}\n  usage: ecr-mirror audit [FILE] --pods FILE|- | --kubeconfig PATH [--context NAME] [--no-target] [--json]\n`,
    );
    return 2;
  };
  if ((flags.pods === undefined) === (flags.kubeconfig === undefined))
    return usage("give the pods with --pods FILE (or - for stdin) or --kubeconfig PATH, one of them");
  if (flags.context !== undefined && flags.kubeconfig === undefined)
    return usage("--context needs --kubeconfig");
  const { list, problems } = await readMirrorList(file, file);
  if (problems.length > 0) io.err(`${formatProblems(problems)}\n`);
  if (!list) return 1;
  try {
    const listText = await readFile(file, "utf8");
    const charts = await chartImagesOf(flags["charts-record"] ?? null, list);
    if (charts.warning) io.err(`ecr-mirror: warning: ${charts.warning}\n`);
    const offline = flags["no-target"] === true;
    const result = await runAudit({
      list,
      listText,
      source:
        flags.pods !== undefined
          ? { pods: flags.pods }
          : { kubeconfig: flags.kubeconfig!, context: flags.context ?? null },
      stdin: io.stdin,
      connect: offline ? null : settings(),
      chartImages: charts.images,
      mask: io.mask,
    });
    io.out(
      flags.json
        ? formatJson(auditToJson(result), io.mask)
        : `${formatAudit(result, { file, notChecked: "--no-target (the target was not asked)" })}\n`,
    );
    return auditFindsMissing(result) ? 1 : 0;
  } catch (e) {
    io.err(`ecr-mirror: ${describeFailure(e, io.mask)}\n`);
    return 1;
  }
}
