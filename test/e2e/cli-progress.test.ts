// What a person sees on the terminal while `ecr-mirror sync` runs (dist/cli.js as a process): a start line per
// copy and a heartbeat while a slow copy runs (ECR_MIRROR_PROGRESS=N stands in for a terminal: stderr is a pipe
// here), nothing of the kind when stderr is not a terminal, and the closing line once. crane is the stand-in,
// given with --crane; the upstream's blobs drip through a fault proxy so each copy takes about a second. Two
// images: the sync reads their layers (for layer sharing), so it knows the bytes each copy moves.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy } from "../harness/fault-proxy.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { toolBinary } from "../stand-ins/stand-ins.js";
import { baseEnv, CLI, runNode } from "./bundle.js";

let upstream: RunningRegistry;
let proxy: FaultProxy;
let root: string;

beforeAll(async () => {
  upstream = await startRegistry();
  proxy = await startFaultProxy(upstream.url, {
    rules: [{ method: "GET", path: /\/blobs\/sha256:/, fault: { kind: "drip", intervalMs: 3 } }],
  });
  root = await mkdtemp(join(tmpdir(), "cli-progress-"));
  await pushImage(upstream.url, "library/redis", "7.0", { seed: "redis-progress" });
  await pushImage(upstream.url, "library/busybox", "1.36", { seed: "busybox-progress" });
  await writeFile(
    join(root, "mirrors.yaml"),
    `version: 1\nupstreams:\n  docker.io:\n    endpoint: ${proxy.url}\nimages:\n  - redis:7.0\n  - busybox:1.36\n`,
  );
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

async function syncInto(env: Record<string, string>, extra: string[] = []) {
  const target = await startRegistry();
  try {
    return await runNode(
      CLI,
      ["sync", "mirrors.yaml", "--target", target.url, "--crane", toolBinary("crane"), ...extra],
      { ...baseEnv(), XDG_CACHE_HOME: join(root, "cache"), ECR_MIRROR_CRANE_VERSION: "", ...env },
      root,
    );
  } finally {
    await target.stop();
  }
}

const SUMMARY = /^Sync: 2 copied, 0 updated, 0 present, 0 failed in \d+\.\d s$/gm;

describe("sync's progress on stderr", () => {
  it("shows a start line, a heartbeat with the elapsed time and the bytes, and the closing line once", async () => {
    const r = await syncInto({ ECR_MIRROR_PROGRESS: "0.2" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Create 2 repositories:\n/m);
    expect(r.stderr).toMatch(/^Copy 2 images and charts:\nstarted copy /m);
    const copy = "copy docker.io/library/redis:7.0 -> mirrors/library/redis:7.0";
    expect(r.stderr).toMatch(new RegExp(`^started ${copy} \\(\\d+(\\.\\d)? (B|KiB)\\)$`, "m"));
    const beats = r.stderr.match(new RegExp(`^ {2}still running: ${copy} \\(\\d+\\.\\d s, .+\\)$`, "gm"));
    expect(beats?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(r.stdout.match(SUMMARY)).toHaveLength(1);
    expect(r.stderr.match(SUMMARY)).toBeNull();
  });

  it("is quiet when stderr is not a terminal, and the closing line is printed once", async () => {
    const r = await syncInto({});
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^started |still running|^Copy 2 images and charts:/m);
    expect(r.stderr).toMatch(
      /^\[\d\/4\] copy docker\.io\/library\/redis:7\.0 -> mirrors\/library\/redis:7\.0 \(\d+\.\d s\)$/m,
    );
    expect(`${r.stdout}${r.stderr}`.match(SUMMARY)).toHaveLength(1);
  });

  it("with --json, the closing line goes to stderr once and stdout is the JSON report", async () => {
    const r = await syncInto({}, ["--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).counts).toMatchObject({ copied: 2, failed: 0 });
    expect(r.stderr.match(SUMMARY)).toHaveLength(1);
  });

  it("refuses an ECR_MIRROR_PROGRESS that is no number of seconds", async () => {
    const r = await syncInto({ ECR_MIRROR_PROGRESS: "yes" });
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(
      'ecr-mirror sync: ECR_MIRROR_PROGRESS is "yes"; expected the seconds between heartbeats, from 0 (off) to 3600',
    );
  });
});
