/**
 * `ecr-mirror init [DIR]`: writes the starter files (src/starter/) into DIR: the mirror list, the caller
 * workflow and the IAM policies. It never overwrites a file unless --force is given: when one exists it writes
 * nothing and names them all.
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { mirrorListSchema } from "./list/schema.js";
import { CONFIGURATOR_IMAGE } from "./options.js";
import { placeholdersLeft, type StarterSettings, starterFiles } from "./starter/files.js";

export interface InitFlags {
  account?: string | undefined;
  region?: string | undefined;
  repo?: string | undefined;
  "kms-key"?: string | undefined;
  force?: boolean | undefined;
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const target = mirrorListSchema.properties.target.properties;

/** Each flag's rule: the list's own pattern for the account and the region. */
const RULES: { flag: keyof InitFlags; pattern: RegExp; example: string }[] = [
  { flag: "account", pattern: new RegExp(target.accountId.pattern), example: "123456789012" },
  { flag: "region", pattern: new RegExp(target.region.pattern), example: "eu-west-1" },
  { flag: "repo", pattern: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, example: "my-org/platform-mirrors" },
  { flag: "kms-key", pattern: /^\S+$/, example: "arn:aws:kms:eu-west-1:123456789012:key/<id>" },
];

/** The flags checked; a usage problem as text, or null. */
function flagProblem(flags: InitFlags): string | null {
  for (const { flag, pattern, example } of RULES) {
    const value = flags[flag];
    if (typeof value === "string" && !pattern.test(value))
      return `--${flag} ${JSON.stringify(value)} is not valid (for example --${flag} ${example})`;
  }
  return null;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

export async function init(dir: string, flags: InitFlags, io: Io): Promise<number> {
  const problem = flagProblem(flags);
  if (problem) {
    io.err(`ecr-mirror init: ${problem}\n`);
    return 2;
  }
  const settings: StarterSettings = {
    account: flags.account ?? null,
    region: flags.region ?? null,
    repo: flags.repo ?? null,
    kmsKey: flags["kms-key"] ?? null,
    firstImage: CONFIGURATOR_IMAGE.default,
  };
  const files = starterFiles(settings);
  const present: string[] = [];
  for (const f of files) if (await exists(join(dir, f.path))) present.push(f.path);
  if (present.length > 0 && !flags.force) {
    io.err(
      `ecr-mirror init: ${present.length === 1 ? "this file exists" : "these files exist"} in ${dir}: ${present.join(", ")}; nothing was written\n` +
        "  hint: move them away, or pass --force to overwrite them\n",
    );
    return 1;
  }
  for (const f of files) {
    const path = join(dir, f.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.content, { flag: flags.force ? "w" : "wx" });
    io.out(`${present.includes(f.path) ? "overwrote" : "wrote"} ${path}\n`);
  }
  const left = placeholdersLeft(settings);
  io.err(
    [
      ...(left.length ? [`Replace the placeholders ${left.join(", ")} in the files above.`] : []),
      "Next: create the OIDC provider for token.actions.githubusercontent.com and the roles ecr-mirror-plan and",
      "ecr-mirror-sync from iam/ (README, IAM), commit, and open a pull request that edits mirrors.yaml.",
      "",
    ].join("\n"),
  );
  return 0;
}
