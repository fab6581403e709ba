// The target's address from the action input `registry-url` and the CLI's --registry-url / --target URL:
// the same host policy as the list, and plain HTTP only where crane speaks it without --insecure.
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli-commands.js";
import { InputError, readInputs } from "../../src/inputs.js";

const refused: [string, RegExp][] = [
  [
    "http://203.0.113.5:5000",
    /crane would need --insecure, which also disables certificate checks on the push/,
  ],
  ["http://registry.example.com", /crane would need --insecure/],
  ["https://169.254.169.254", /metadata/],
  ["https://0xa9fea9fe", /dotted-decimal/],
  ["https://[::ffff:169.254.169.254]", /IPv4-mapped/],
  ["https://--platform=linux", /starts or ends with "-"/],
  ["https://user:hunter2@registry.example.com", /carries credentials/],
  ["https://registry.example.com/path", /has a path/],
  ["ftp://registry.example.com", /not a https:\/\/ or http:\/\/ URL/],
];

describe("input registry-url", () => {
  afterEach(() => {
    delete process.env["INPUT_REGISTRY-URL"];
  });
  it.each(refused)("refuses %s", (url, why) => {
    process.env["INPUT_REGISTRY-URL"] = url;
    expect(() => readInputs()).toThrow(InputError);
    expect(() => readInputs()).toThrow(why);
    try {
      readInputs();
    } catch (e) {
      expect((e as Error).message).not.toContain("hunter2");
    }
  });
  it.each([
    "http://127.0.0.1:5000",
    "http://10.0.0.5:5000",
    "http://localhost:5000",
    "https://harbor.example.com",
  ])("accepts %s", (url) => {
    process.env["INPUT_REGISTRY-URL"] = url;
    expect(readInputs().registryUrl).toBe(url);
  });
});

describe("CLI --registry-url and --target URL", () => {
  async function cli(argv: string[]) {
    let err = "";
    const code = await main(argv, { out: () => {}, err: (s) => (err += s), env: {} });
    return { code, err };
  }
  it.each(refused.slice(0, -1))("sync --target %s is refused before anything runs", async (url, why) => {
    const r = await cli(["sync", "/nonexistent/mirrors.yaml", "--target", url]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(why);
    expect(r.err).toMatch(/hint: /);
    expect(r.err).not.toContain("hunter2");
  });
  it("sync --target ftp://… names the allowed targets", async () => {
    const r = await cli(["sync", "/nonexistent/mirrors.yaml", "--target", "ftp://registry.example.com"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--target is ecr, local or http\(s\):\/\/host\[:port\]/);
  });
  it.each(refused)("plan --registry-url %s is refused", async (url, why) => {
    const r = await cli(["plan", "/nonexistent/mirrors.yaml", "--registry-url", url]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(why);
  });
});

describe("CLI render --registry-url", () => {
  it("refuses an address the policy refuses, without asking it anything", async () => {
    let err = "";
    const dir = await mkdtemp(join(tmpdir(), "render-url-"));
    try {
      await writeFile(join(dir, "mirrors.yaml"), "images:\n  - redis:7.0\n");
      const code = await main(
        [
          "render",
          join(dir, "mirrors.yaml"),
          "--out",
          // Inside the workspace (the CLI's current folder), so only the address can be what is refused.
          relative(process.cwd(), join(".vitest-tmp", basename(dir), "out")),
          "--registry-url",
          "https://169.254.169.254",
        ],
        {
          out: () => {},
          err: (s) => (err += s),
          env: {},
        },
      );
      expect(code).not.toBe(0);
      expect(err).toMatch(/--registry-url: "169\.254\.169\.254" is the cloud instance metadata address/);
      expect(existsSync(join(".vitest-tmp", basename(dir)))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
