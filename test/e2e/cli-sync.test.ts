// `ecr-mirror sync FILE --target local`: crane's built-in registry (here the stand-in's `registry serve`) as a
// throwaway target on 127.0.0.1, started and stopped by the command; crane comes from the tool cache.
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { DEFAULT_VERSIONS } from "../../src/tools/assets.js";
import { pushImage, pushIndex } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { REAL_TOOLS, readInvocationLog, toolBinary } from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let root: string;

beforeAll(async () => {
  upstream = await startRegistry();
  root = await mkdtemp(join(tmpdir(), "cli-sync-"));
  const craneDir = join(
    root,
    "cache",
    "ecr-mirror-crane",
    DEFAULT_VERSIONS.crane,
    process.arch === "arm64" ? "arm64" : "x64",
  );
  await mkdir(craneDir, { recursive: true });
  await symlink(toolBinary("crane"), join(craneDir, "crane"));
  await writeFile(join(craneDir, "archive.sha256"), `${"0".repeat(64)}\n`);
  await writeFile(`${craneDir}.complete`, "");
  await pushImage(upstream.url, "library/redis", "7.0", { seed: "redis" });
  await pushIndex(upstream.url, "library/nginx", "1.27", {
    platforms: ["linux/amd64", "linux/arm64"],
    seed: "n",
  });
  await writeFile(
    join(root, "mirrors.yaml"),
    `version: 1\nupstreams:\n  docker.io:\n    endpoint: http://${upstream.host}\nimages:\n  - redis:7.0\n  - nginx:1.27\n`,
  );
});

afterAll(async () => {
  await upstream?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

it("sync --target local copies into crane's registry, writes the report, and stops the registry", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const log = join(root, "standin.jsonl");
  const env = { ...process.env, RUNNER_TOOL_CACHE: join(root, "cache"), RUNNER_TEMP: root, STANDIN_LOG: log };
  const saved = { ...process.env };
  Object.assign(process.env, env); // the tool cache and the stand-in read the process environment
  try {
    const code = await main(
      [
        "sync",
        join(root, "mirrors.yaml"),
        "--target",
        "local",
        "--json",
        "--report",
        join(root, "report.json"),
      ],
      { out: (s) => out.push(s), err: (s) => err.push(s), env },
    );
    expect(code, err.join("")).toBe(0);
  } finally {
    process.env = saved;
  }
  const report = JSON.parse(out.join(""));
  expect(report.counts).toMatchObject({ copied: 2, failed: 0 });
  expect(err.join("")).toMatch(/crane registry serve at http:\/\/127\.0\.0\.1:\d+ \(in memory/);
  if (!REAL_TOOLS) {
    const serve = readInvocationLog(log).find((r) => r.argv[0] === "registry");
    expect(serve?.argv).toEqual([
      "registry",
      "serve",
      "--address",
      expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    ]);
    expect(serve?.exitCode).toBe(0); // stopped by the command (SIGTERM), not left running
  }
});
