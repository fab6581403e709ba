// The project's GitHub repository (owner/name), as package.json's repository.url names it: the one place a
// fork changes it from (CONTRIBUTING.md, "Forks").
import { readFileSync } from "node:fs";
import { join } from "node:path";

const packageJson = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8"),
) as {
  version: string;
  repository?: { url?: string };
};

/** `owner/name`, e.g. `ecr-mirror/ecr-mirror`. */
export const REPOSITORY =
  /github\.com\/([\w.-]+\/[\w.-]+?)(\.git)?$/.exec(packageJson.repository?.url ?? "")?.[1] ?? "";
/** package.json's version. */
export const VERSION = packageJson.version;
