// `ecr-mirror sync` against an upstream that accepts connections and never answers: the copy is stopped after
// the stall timeout, the command fails in bounded time with the step and the limit named, the report is written,
// and no crane is left running. (Before: still running after 240 s, crane orphaned, no report.)
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { processesNaming } from "../harness/processes.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

let root: string;
let server: Server;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "stalled-sync-"));
  server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
  await plantToolCache(join(root, "cache"), "crane");
  await writeFile(
    join(root, "mirrors.yaml"),
    `version: 1\nupstreams:\n  docker.io:\n    endpoint: http://127.0.0.1:${port}\nimages:\n  - redis:7.0\n`,
  );
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

it("fails a copy from a stalled upstream after the stall timeout, writes the report, leaves no process", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, {
    RUNNER_TOOL_CACHE: join(root, "cache"),
    RUNNER_TEMP: root,
    ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane,
  });
  const started = Date.now();
  let code: number;
  try {
    code = await main(
      [
        "sync",
        join(root, "mirrors.yaml"),
        "--target",
        "local",
        "--tool-stall-timeout",
        "1",
        "--report",
        join(root, "report.json"),
      ],
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
  } finally {
    process.env = saved;
  }
  const seconds = (Date.now() - started) / 1000;
  expect(code).toBe(1);
  expect(seconds).toBeLessThan(20);
  expect(sockets.length).toBeGreaterThan(0); // crane did reach the stalled upstream
  const report = JSON.parse(readFileSync(join(root, "report.json"), "utf8"));
  expect(report.counts).toMatchObject({ failed: 1 });
  const failed = report.steps.find((s: { outcome: string }) => s.outcome === "failed");
  expect(failed.error).toMatch(
    /crane copy 127\.0\.0\.1:\d+\/library\/redis:7\.0 -> .* stalled: no output and no network or disk activity for 1 s \(stall timeout, tool-stall-timeout\)/,
  );
  expect(processesNaming(join(root, "cache"))).toEqual([]);
});

it("refuses a stall timeout that is not a whole number of seconds", async () => {
  const err: string[] = [];
  const code = await main(["sync", join(root, "mirrors.yaml"), "--tool-stall-timeout", "2m"], {
    out: () => {},
    err: (s) => err.push(s),
  });
  expect(code).toBe(2);
  expect(err.join("")).toContain(
    'ecr-mirror sync: --tool-stall-timeout is "2m"; expected a whole number of seconds from 1 to 3600',
  );
});
