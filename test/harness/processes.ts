// The processes running on this machine, read from /proc: what a test checks to show nothing was left behind.
import { readdirSync, readFileSync } from "node:fs";

/** `pid: command line` of each process whose command line names `needle` (e.g. a test's tool-cache folder). */
export function processesNaming(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
