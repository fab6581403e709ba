// `ecr-mirror sync FILE --target local`: crane's built-in registry (here the stand-in's `registry serve`) as a
// throwaway target on 127.0.0.1, started and stopped by the command; crane comes from the tool cache.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { pushImage, pushIndex } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import {
  plantToolCache,
  REAL_TOOLS,
  readInvocationLog,
  STAND_IN_TOOL_VERSIONS,
} from "../stand-ins/stand-ins.js";

let upstream: RunningRegistry;
let root: string;

beforeAll(async () => {
  upstream = await startRegistry();
  root = await mkdtemp(join(tmpdir(), "cli-sync-"));
  await plantToolCache(join(root, "cache"), "crane");
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
  const env = {
    ...process.env,
    RUNNER_TOOL_CACHE: join(root, "cache"),
    RUNNER_TEMP: root,
    STANDIN_LOG: log,
    ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane,
  };
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
