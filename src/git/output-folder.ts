// The output folder (default `deploy/ecr-mirror/`) and what in it belongs to ecr-mirror. ecr-mirror
// never deletes what it did not write: the folder carries a manifest (`.ecr-mirror-files`) listing the
// files the last render wrote, and a rewrite removes exactly those (then the folders they leave empty),
// writes the new files and the new manifest. Anything else in the folder is left alone. The folder
// itself must be a real folder strictly inside the workspace: not its root, not an ancestor of it, not
// a git repository (or inside one of its `.git`), reached through no symbolic link.
//
// One decision (`planFolderUpdate`, pure) serves the working tree (`writeOutputFolder`) and the tree
// commit-back builds on (`readTreeState` in commit-back.ts), so both agree on what may be removed.
import { chmod, lstat, mkdir, open, readdir, realpath, rmdir, unlink, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from "node:path";
import { MirrorError } from "../errors.js";

export interface OutputFile {
  /** Relative to the output folder, `/`-separated. */
  path: string;
  content: string;
  /** File mode; an executable bit makes git record the file as executable (100755). */
  mode?: number;
}

/** The manifest: the files ecr-mirror wrote into the folder, one path a line. */
export const MANIFEST_FILE = ".ecr-mirror-files";

const MANIFEST_HEADER = [
  "# Written by ecr-mirror: the files it rendered into this folder, one path a line.",
  "# The next render removes or replaces exactly these files; anything else here is left alone.",
];

/** A refusal about the output folder: nothing was deleted or written. */
export class OutputFolderError extends MirrorError {
  override name = "OutputFolderError";
  constructor(
    readonly problem: string,
    override readonly hint: string,
  ) {
    super(`${problem}\n  hint: ${hint}`, { hint });
  }
}

const NOTHING_CHANGED = "Nothing was deleted or written.";

/** A relative, normalised, `/`-separated path that stays inside its base and names no `.git`, or null. */
function safeRelative(path: string): string | null {
  if (!path || path.includes("\\") || path.includes("\0") || posix.isAbsolute(path)) return null;
  const normal = posix.normalize(path).replace(/\/+$/, "");
  if (normal === "" || normal === "." || normal === ".." || normal.startsWith("../")) return null;
  if (normal.split("/").some((part) => part.toLowerCase() === ".git")) return null;
  return normal;
}

/** Shown in a message: quoted, control characters escaped, long values cut. */
function shown(value: string): string {
  const quoted = JSON.stringify(value);
  return quoted.length > 120 ? `${quoted.slice(0, 117)}..."` : quoted;
}

/** A path as a message shows it: plain when it is plain, else quoted and escaped. */
function plain(path: string): string {
  return /^[\w./@+~-]+$/.test(path) ? path : shown(path);
}

function shownPath(folder: string, path: string): string {
  return plain(`${folder}/${path}`);
}

/** Repository paths (`deploy/ecr-mirror/hosts.d/...`) of the files, checked, in the files' order. */
export function outputFilePaths(folder: string, files: readonly OutputFile[]): string[] {
  const seen = new Set<string>();
  for (const file of files) {
    const path = safeRelative(file.path);
    if (!path || path !== file.path)
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

export function formatManifest(paths: readonly string[]): string {
  return `${[...MANIFEST_HEADER, ...[...paths].sort()].join("\n")}\n`;
}

/** A manifest larger than this is not one ecr-mirror wrote (a render writes a few dozen lines). */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

/**
 * The paths a manifest lists. A line that is not a plain relative path inside the folder (`../x`, `/etc/x`,
 * `a/../../b`, `.git/config`) is refused with its line number: a manifest a stranger's pull request
 * edited must not make ecr-mirror delete anything outside the files it wrote.
 */
export function parseManifest(text: string, folder: string): string[] {
  if (Buffer.byteLength(text) > MANIFEST_MAX_BYTES) {
    throw new OutputFolderError(
      `${folder}/${MANIFEST_FILE} is larger than ${MANIFEST_MAX_BYTES} bytes, so ecr-mirror did not write it. ${NOTHING_CHANGED}`,
      `restore it from an earlier ecr-mirror commit, or remove ${folder} yourself`,
    );
  }
  const paths: string[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || line.startsWith("#")) return;
    if (safeRelative(line) !== line || line === MANIFEST_FILE) {
      throw new OutputFolderError(
        `${folder}/${MANIFEST_FILE} line ${index + 1}: ${shown(line)} is not a file inside ${folder}. ${NOTHING_CHANGED}`,
        `the manifest lists only files ecr-mirror wrote into ${folder}: restore it from an earlier ecr-mirror commit, or remove the line`,
      );
    }
    paths.push(line);
  });
  return paths;
}

/** What the folder holds, below it (`/`-separated paths relative to the folder); folders themselves are implied. */
export interface FolderEntry {
  path: string;
  kind: "file" | "symlink" | "repository" | "other";
}

export interface FolderState {
  entries: FolderEntry[];
  /** The manifest's text, when the folder has one. */
  manifest: string | null;
  /** The start of `README.md`, when there is one (an older ecr-mirror's folder is recognised by it). */
  readme: string | null;
}

export interface FolderUpdate {
  /** Files ecr-mirror wrote earlier that are there now: removed before the new files are written. */
  remove: string[];
  /** Files ecr-mirror did not write: left as they are. */
  kept: string[];
  /** The new manifest's text. */
  manifest: string;
}

/** The README every ecr-mirror render has written since the first release starts with this. */
const README_MARKER = "<!-- Generated by ecr-mirror.";
/** The only files an ecr-mirror before the manifest rendered. */
const LEGACY_FILE =
  /^(?:README\.md|nodeconfig\.yaml|ecr-mirror-node\.yaml|chart-images\.json|hosts\/[^/]+\/hosts\.toml)$/;

/**
 * Decides what a render may remove and write in the folder, or refuses. Rules:
 * - no symbolic link, nested git repository or special file anywhere in the folder;
 * - with a manifest: the files it lists (validated) are ecr-mirror's, everything else is kept, and a
 *   rendered file may not land on a kept file (or on a folder holding one);
 * - without a manifest: an empty or absent folder is fine; a folder an ecr-mirror before the manifest
 *   rendered (its README.md carries the generated marker and every file is one that version wrote) is
 *   taken over; any other non-empty folder is not ecr-mirror's and is refused.
 */
export function planFolderUpdate(
  folder: string,
  state: FolderState,
  files: readonly OutputFile[],
): FolderUpdate {
  const unusual = state.entries.find((e) => e.kind !== "file");
  if (unusual) {
    const what = {
      symlink: "is a symbolic link",
      repository: "is a git repository (it holds .git)",
      other: "is not a regular file",
      file: "",
    }[unusual.kind];
    throw new OutputFolderError(
      `${shownPath(folder, unusual.path)} ${what}; ecr-mirror writes only regular files and follows no links. ${NOTHING_CHANGED}`,
      `remove ${shownPath(folder, unusual.path)}, or choose another folder for the node configuration`,
    );
  }
  const present = new Set(state.entries.map((e) => e.path).filter((p) => p !== MANIFEST_FILE));
  let owned: Set<string>;
  if (state.manifest !== null) {
    owned = new Set(parseManifest(state.manifest, folder));
  } else if (present.size === 0) {
    owned = new Set();
  } else if (state.readme?.startsWith(README_MARKER) && [...present].every((p) => LEGACY_FILE.test(p))) {
    owned = present;
  } else {
    const sample = [...present].sort().slice(0, 3).map(shown).join(", ");
    throw new OutputFolderError(
      `${folder} is not empty and is not ecr-mirror's (it has no ${MANIFEST_FILE}): it holds ${sample}${present.size > 3 ? ", ..." : ""}. ${NOTHING_CHANGED}`,
      `choose a new or empty folder for the node configuration, or remove ${folder} yourself`,
    );
  }
  const remove = [...present].filter((p) => owned.has(p)).sort();
  const kept = [...present].filter((p) => !owned.has(p)).sort();
  for (const file of files) {
    const clash = kept.find(
      (k) => k === file.path || file.path.startsWith(`${k}/`) || k.startsWith(`${file.path}/`),
    );
    if (clash) {
      throw new OutputFolderError(
        `${shownPath(folder, clash)} is in the way of the rendered ${folder}/${file.path}, and ecr-mirror did not write it (it is not in ${MANIFEST_FILE}). ${NOTHING_CHANGED}`,
        `move ${shownPath(folder, clash)} out of the folder, or remove it`,
      );
    }
  }
  return { remove, kept, manifest: formatManifest(files.map((f) => f.path)) };
}

/** Where the output folder is: its repository path (`deploy/ecr-mirror`) and its absolute path. */
export interface OutputFolder {
  folder: string;
  dir: string;
}

/**
 * Resolves `outDir` (relative to the workspace, or absolute) and refuses every place ecr-mirror must not
 * write: the workspace itself, an ancestor of it, anything outside it, a path through `.git` or through a
 * symbolic link, a component that is a file, and a folder that is (or sits inside) a nested git repository.
 */
export async function locateOutputFolder(workspace: string, outDir: string): Promise<OutputFolder> {
  const refuse = (problem: string, hint: string): never => {
    throw new OutputFolderError(`The output folder ${shown(outDir)} ${problem}. ${NOTHING_CHANGED}`, hint);
  };
  const inside = "give a folder inside the repository, such as deploy/ecr-mirror";
  if (outDir.trim() === "" || outDir.includes("\0")) refuse("is empty", inside);
  const base = resolve(workspace);
  const target = resolve(base, outDir);
  const rel = relative(base, target);
  if (rel === "") refuse(`is the workspace itself (${plain(base)})`, inside);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    const ancestor = relative(target, base);
    refuse(
      ancestor && !ancestor.startsWith("..") && !isAbsolute(ancestor)
        ? `(${plain(target)}) holds the workspace ${plain(base)}`
        : `(${plain(target)}) is outside the workspace ${plain(base)}`,
      `${inside}; ecr-mirror writes only below the workspace (the action's GITHUB_WORKSPACE, the CLI's current folder)`,
    );
  }
  const folder = rel.split(sep).join("/");
  if (safeRelative(folder) !== folder) refuse("is inside .git", inside);
  const root = await realpath(base).catch(() => base);
  if (root.split(sep).some((part) => part.toLowerCase() === ".git"))
    refuse(`is inside .git (${plain(root)})`, inside);
  let dir = root;
  for (const part of folder.split("/")) {
    dir = join(dir, part);
    const stat = await lstat(dir).catch(() => null);
    if (!stat) break; // the rest is created
    const at = relative(root, dir).split(sep).join("/");
    if (stat.isSymbolicLink())
      refuse(`goes through the symbolic link ${plain(at)}`, "give the real folder, reached through no link");
    if (!stat.isDirectory()) refuse(`goes through ${plain(at)}, which is not a folder`, inside);
    if (await lstat(join(dir, ".git")).catch(() => null))
      refuse(
        `is in a git repository of its own: ${plain(at)} holds .git`,
        "choose a folder of this repository outside nested repositories and submodules",
      );
  }
  return { folder, dir: join(root, ...folder.split("/")) };
}

/** The folder's content in the working tree, read without following any link. */
async function readFolderState(dir: string): Promise<FolderState> {
  const entries: FolderEntry[] = [];
  const walk = async (at: string, prefix: string): Promise<void> => {
    const children = await readdir(at, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" && prefix === "") return [];
      throw e;
    });
    for (const child of children.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = prefix ? `${prefix}/${child.name}` : child.name;
      if (child.isDirectory()) {
        if (
          child.name.toLowerCase() === ".git" ||
          (await lstat(join(at, child.name, ".git")).catch(() => null))
        )
          entries.push({ path, kind: "repository" });
        else await walk(join(at, child.name), path);
      } else if (child.isSymbolicLink()) entries.push({ path, kind: "symlink" });
      else if (child.isFile())
        entries.push({ path, kind: child.name.toLowerCase() === ".git" ? "repository" : "file" });
      else entries.push({ path, kind: "other" });
    }
  };
  await walk(dir, "");
  const has = (path: string) => entries.some((e) => e.path === path && e.kind === "file");
  const start = async (path: string, bytes: number) => {
    const file = await open(join(dir, path), "r");
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await file.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await file.close();
    }
  };
  const manifest = has(MANIFEST_FILE) ? await start(MANIFEST_FILE, MANIFEST_MAX_BYTES + 1) : null;
  const readme = has("README.md") ? await start("README.md", 200) : null;
  return { entries, manifest, readme };
}

/**
 * Checks, before any work, that a render could write `outDir` (see `locateOutputFolder` and
 * `planFolderUpdate`); returns its repository path. Throws `OutputFolderError`.
 */
export async function checkOutputFolder(workspace: string, outDir: string): Promise<string> {
  const located = await locateOutputFolder(workspace, outDir);
  planFolderUpdate(located.folder, await readFolderState(located.dir), []);
  return located.folder;
}

export interface WrittenFolder {
  /** The repository path of the folder, e.g. `deploy/ecr-mirror`. */
  folder: string;
  /** The files as written: the rendered ones and the manifest, in that order. */
  files: OutputFile[];
  /** Files of the last render removed because this one does not produce them. */
  removed: string[];
}

/**
 * Writes the rendered files into the output folder of the working tree: removes the files the manifest
 * lists (and the folders that leaves empty), writes the new files and the new manifest. Refuses (with an
 * `OutputFolderError`, before touching anything) whatever `locateOutputFolder` and `planFolderUpdate` refuse.
 */
export async function writeOutputFolder(
  workspace: string,
  outDir: string,
  files: readonly OutputFile[],
): Promise<WrittenFolder> {
  const { folder, dir } = await locateOutputFolder(workspace, outDir);
  outputFilePaths(folder, files);
  if (files.some((f) => f.path === MANIFEST_FILE))
    throw new Error(`The rendered file ${MANIFEST_FILE} is the output folder's manifest.`);
  const update = planFolderUpdate(folder, await readFolderState(dir), files);
  const manifestPath = join(dir, MANIFEST_FILE);
  const writeManifest = async (text: string) => {
    await unlink(manifestPath).catch(() => {});
    await writeFile(manifestPath, text, { mode: 0o644, flag: "wx" });
  };
  await mkdir(dir, { recursive: true });
  // Claim the new files before writing them, so an interrupted write leaves nothing ecr-mirror cannot remove.
  await writeManifest(formatManifest([...new Set([...update.remove, ...files.map((f) => f.path)])]));
  for (const path of update.remove) {
    await unlink(join(dir, path));
    for (let parent = posix.dirname(path); parent !== "."; parent = posix.dirname(parent)) {
      const emptied = await rmdir(join(dir, parent)).then(
        () => true,
        () => false,
      );
      if (!emptied) break;
    }
  }
  for (const file of files) {
    const path = join(dir, ...file.path.split("/"));
    await mkdir(dirname(path), { recursive: true });
    const mode = isExecutable(file) ? 0o755 : 0o644;
    // `wx`: never through a link, never over a file that appeared since the check.
    await writeFile(path, file.content, { mode, flag: "wx" });
    await chmod(path, mode);
  }
  await writeManifest(update.manifest);
  return {
    folder,
    files: [...files, { path: MANIFEST_FILE, content: update.manifest }],
    removed: update.remove,
  };
}
