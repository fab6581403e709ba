// `ecr-mirror tools`: the installer from a terminal. A tool-cache hit prints the path and downloads nothing.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEFAULT_VERSIONS } from "../../src/tools/assets.js";
import { plantToolCache, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

const cli = join(import.meta.dirname, "..", "..", "dist", "cli.js");
const ARCH = process.arch === "arm64" ? "arm64" : "x64";

async function run(args: string[], env: Record<string, string>) {
  try {
    return {
      code: 0,
      ...(await promisify(execFile)(process.execPath, [cli, ...args], {
        env: { PATH: process.env.PATH, ...env },
      })),
    };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("ecr-mirror tools", () => {
  it("prints the cached crane without downloading (the base URL points nowhere)", async () => {
    const cache = mkdtempSync(join(tmpdir(), "tool-cache-"));
    const dir = await plantToolCache(cache, "crane");
    const r = await run(["tools", "crane"], {
      RUNNER_TOOL_CACHE: cache,
      RUNNER_TEMP: tmpdir(),
      HTTPS_PROXY: "http://127.0.0.1:9",
      ECR_MIRROR_CRANE_VERSION: STAND_IN_TOOL_VERSIONS.crane,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${join(dir, "crane")}\n`);
    expect(r.stderr).toMatch(/tool-cache hit .* archive re-hashed and binary compared/);
  });

  it("refuses a cached default-version crane that is not the released one", async () => {
    // What the cache held before built-in checksums: any binary beside any 64-hex text was trusted.
    const cache = mkdtempSync(join(tmpdir(), "tool-cache-"));
    const dir = join(cache, "ecr-mirror-crane", DEFAULT_VERSIONS.crane, ARCH);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "crane"), "#!/bin/sh\n", { mode: 0o755 });
    writeFileSync(join(dir, "archive.sha256"), `${"0".repeat(64)}\n`);
    writeFileSync(`${dir}.complete`, "");
    // The entry is not trusted, so the installer goes to download: a local mirror that has nothing answers 404
    // at once (a closed port would cost the tool cache's own retries, 30 s).
    const requests: string[] = [];
    const mirror = createServer((req, res) => {
      requests.push(req.url ?? "");
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => mirror.listen(0, "127.0.0.1", resolve));
    try {
      const r = await run(["tools", "crane"], {
        RUNNER_TOOL_CACHE: cache,
        RUNNER_TEMP: tmpdir(),
        ECR_MIRROR_CRANE_BASE_URL: `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`,
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).not.toMatch(/tool-cache hit/);
      expect(r.stderr).toMatch(/could not download the checksum file .*\(HTTP 404\)/);
      expect(requests).toEqual([`/v${DEFAULT_VERSIONS.crane}/checksums.txt`]);
    } finally {
      await new Promise((resolve) => mirror.close(resolve));
    }
  });

  it("refuses an unknown tool", async () => {
    const r = await run(["tools", "skopeo"], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown tool skopeo");
  });
});
