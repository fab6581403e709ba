// The output folder (default `deploy/ecr-mirror/`) belongs to ecr-mirror: its content is replaced
// by exactly the rendered files, so a file the renderer no longer produces disappears.
import { chmod, lstat, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";

export interface OutputFile {
  /** Relative to the output folder, `/`-separated. */
  path: string;
  content: string;
  /** File mode; an executable bit makes git record the file as executable (100755). */
  mode?: number;
}

/** A relative, normalised, `/`-separated path that stays inside its base, or null. */
function safeRelative(path: string): string | null {
  if (!path || path.includes("\\") || path.includes("\0") || posix.isAbsolute(path)) return null;
  const normal = posix.normalize(path).replace(/\/+$/, "");
  if (normal === "" || normal === "." || normal === ".." || normal.startsWith("../")) return null;
  if (normal.split("/").some((part) => part.toLowerCase() === ".git")) return null;
  return normal;
}

/** The output folder as a repository path (`deploy/ecr-mirror`), or an error naming the problem. */
export function outputFolderPath(outDir: string): string {
  const folder = safeRelative(outDir);
  if (!folder) {
    throw new Error(
      `The output folder "${outDir}" must be a folder inside the repository (such as deploy/ecr-mirror), not its root, not .git and not outside it.`,
    );
  }
  return folder;
}

/** Repository paths (`deploy/ecr-mirror/hosts.d/...`) of the files, checked and sorted. */
export function outputFilePaths(folder: string, files: readonly OutputFile[]): string[] {
  const seen = new Set<string>();
  for (const file of files) {
    const path = safeRelative(file.path);
    if (!path)
      throw new Error(
        `The rendered file path "${file.path}" is not a relative path inside the output folder.`,
      );
    const full = `${folder}/${path}`;
    if (seen.has(full)) throw new Error(`The rendered file "${file.path}" appears twice.`);
    seen.add(full);
  }
  return [...seen];
}

export function isExecutable(file: OutputFile): boolean {
  return ((file.mode ?? 0o644) & 0o111) !== 0;
}

/** Replaces the output folder's content in the working tree with exactly these files. */
export async function writeOutputFolder(
  repoDir: string,
  folder: string,
  files: readonly OutputFile[],
): Promise<void> {
  outputFilePaths(folder, files);
  const target = join(repoDir, folder);
  const existing = await lstat(target).catch(() => null);
  if (existing?.isSymbolicLink()) {
    throw new Error(
      `The output folder ${folder} is a symbolic link; ecr-mirror writes only into a real folder.`,
    );
  }
  await rm(target, { recursive: true, force: true });
  await mkdir(target, { recursive: true });
  for (const file of files) {
    const path = join(target, safeRelative(file.path)!);
    await mkdir(dirname(path), { recursive: true });
    const mode = isExecutable(file) ? 0o755 : 0o644;
    await writeFile(path, file.content, { mode });
    await chmod(path, mode);
  }
}
