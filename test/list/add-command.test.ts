// `ecr-mirror add` through the CLI's main(), on a real file: what is written, what is printed, and that a
// refused addition leaves the file byte for byte as it was.
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../harness/cli.js";

const EXAMPLE = join(import.meta.dirname, "..", "..", "examples", "mirrors.yaml");
let dir: string;
let file: string;
let original: string;
const dirs: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ecr-mirror-add-"));
  dirs.push(dir);
  file = join(dir, "mirrors.yaml");
  await copyFile(EXAMPLE, file);
  original = await readFile(file, "utf8");
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const run = (args: string[]) => runCli(args, { env: {} });

describe("ecr-mirror add", () => {
  it("adds an image, says where, and the list stays valid for validate", async () => {
    const r = await run(["add", "docker.io/bitnami/nginx:1.27", file]);
    const text = await readFile(file, "utf8");
    const line = text.split("\n").indexOf("  - docker.io/bitnami/nginx:1.27") + 1;
    expect(r).toEqual({
      code: 0,
      out: `${file}:${line}: added docker.io/bitnami/nginx:1.27 (a new entry at the end of images)\n`,
      err: "",
    });
    expect(text.replace("  - docker.io/bitnami/nginx:1.27\n", "")).toBe(original);
    expect((await run(["validate", file])).code).toBe(0);
  });

  it("adds chart versions: HTTP (URL NAME VERSION) and OCI (oci://…/NAME VERSION)", async () => {
    const http = await run([
      "add",
      "--chart",
      "https://kubernetes.github.io/ingress-nginx",
      "ingress-nginx",
      "4.12.0",
      file,
    ]);
    expect(http.code).toBe(0);
    expect(http.out).toMatch(
      /: added chart ingress-nginx 4\.12\.0 from https:\/\/kubernetes\.github\.io\/ingress-nginx \(appended to the versions of the entry for ingress-nginx\)\n$/,
    );
    const oci = await run(["add", "--chart", "oci://ghcr.io/org/charts/app", "1.0.0", file]);
    expect(oci.code).toBe(0);
    const text = await readFile(file, "utf8");
    expect(text).toContain('    versions: ["4.11.3", "4.12.0"]\n');
    expect(text.endsWith('  - source: oci://ghcr.io/org/charts/app\n    versions: ["1.0.0"]\n')).toBe(true);
  });

  it("refuses a duplicate and a bad reference with located errors, leaving the file as it was", async () => {
    const lines = original.split("\n");
    const dup = await run(["add", "redis:7.4", file]);
    expect(dup).toEqual({
      code: 1,
      out: "",
      err:
        `${file}:${lines.findIndex((l) => l.startsWith("  - redis:7.4")) + 1}:5: error: redis:7.4 is already in the list as docker.io/library/redis:7.4\n` +
        "  hint: it is mirrored already; nothing was added\n" +
        `ecr-mirror add: ${file} was not changed\n`,
    });
    const bad = await run(["add", "quay.io/Org/app:1", file]);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(
      `${file}:${lines.indexOf("  - public.ecr.aws/aws-cli/aws-cli:2.15.62") + 2}:5: error: invalid image reference "quay.io/Org/app:1": repository name (Org/app) must be lowercase\n` +
        "  hint: registry repository paths are lower case; tags may use upper case\n" +
        `ecr-mirror add: the list would not be valid with it (the lines above are where it would go); ${file} was not changed\n`,
    );
    expect(await readFile(file, "utf8")).toBe(original);
  });

  it("a missing list is a located error; missing arguments are a usage error (exit 2)", async () => {
    const missing = await run(["add", "redis:7.0", join(dir, "nope.yaml")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(
      `${join(dir, "nope.yaml")}:1:1: error: cannot read the mirror list: no such file\n` +
        "  hint: pass the path of your mirror list (default mirrors.yaml at the repository root)\n",
    );
    const usage = await run(["add", "--chart", "https://charts.bitnami.com/bitnami", "redis"]);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/^ecr-mirror add: usage: ecr-mirror add REF \[FILE\]/);
    expect((await run(["add"])).code).toBe(2);
  });
});
