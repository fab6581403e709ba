import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../src/list/model.js";
import { Crane, craneCopyArgs, craneDigestArgs, craneIndexFilterArgs } from "../../src/tools/crane.js";
import { chartFetchAddress, fetchAddress } from "../../src/tools/fetch-address.js";
import {
  Helm,
  helmPullOciArgs,
  helmPullRepoArgs,
  helmPushArgs,
  helmRegistryLoginArgs,
  helmTemplateArgs,
} from "../../src/tools/helm.js";
import { hintFor, InvocationCounter, ToolError } from "../../src/tools/runner.js";

describe("argv builders: exactly the command lines the product uses", () => {
  it.each([
    [
      craneCopyArgs("docker.io/library/redis:7.0", "r.example/mirrors/library/redis:7.0"),
      ["copy", "docker.io/library/redis:7.0", "r.example/mirrors/library/redis:7.0"],
    ],
    [
      craneCopyArgs("a:1", "b:1", { platform: "linux/arm64", jobs: 4 }),
      ["copy", "a:1", "b:1", "--platform", "linux/arm64", "--jobs", "4"],
    ],
    [craneDigestArgs("a:1"), ["digest", "a:1"]],
    [craneDigestArgs("a:1", { platform: "linux/amd64" }), ["digest", "a:1", "--platform", "linux/amd64"]],
    [
      helmPullRepoArgs("https://kubernetes.github.io/ingress-nginx", "ingress-nginx", "4.11.3", "/d"),
      [
        "pull",
        "--repo",
        "https://kubernetes.github.io/ingress-nginx",
        "ingress-nginx",
        "--version",
        "4.11.3",
        "--destination",
        "/d",
      ],
    ],
    [
      helmPullOciArgs("oci://ghcr.io/x/charts/y", "1.0.0", "/d", "/r.json", { plainHttp: true }),
      [
        "pull",
        "oci://ghcr.io/x/charts/y",
        "--version",
        "1.0.0",
        "--destination",
        "/d",
        "--plain-http",
        "--registry-config",
        "/r.json",
      ],
    ],
    [
      helmPushArgs("/d/y-1.0.0.tgz", "oci://r.example/charts", "/r.json"),
      ["push", "/d/y-1.0.0.tgz", "oci://r.example/charts", "--registry-config", "/r.json"],
    ],
    [
      helmRegistryLoginArgs("r.example", "AWS", "/r.json"),
      [
        "registry",
        "login",
        "r.example",
        "--username",
        "AWS",
        "--password-stdin",
        "--registry-config",
        "/r.json",
      ],
    ],
    [
      helmTemplateArgs("check", "/d/y-1.0.0.tgz", "/v.yaml"),
      ["template", "check", "/d/y-1.0.0.tgz", "--values", "/v.yaml"],
    ],
  ])("%j", (actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it("refuses what Helm 4 or crane would misread", () => {
    expect(() => helmRegistryLoginArgs("oci://r.example/charts", "AWS", "/r.json")).toThrow(/host only/);
    expect(() => helmPushArgs("/x.tgz", "r.example/charts", "/r.json")).toThrow(/oci:\/\//);
    expect(() => craneCopyArgs("a", "b", { jobs: 0 })).toThrow(/positive integer/);
  });
});

function upstream(host: string, endpoint: string | null): Upstream {
  return { host, prefix: "mirrors", endpoint, redirect: true, fallback: false, location: null };
}

describe("fetchAddress: endpoints change where, never what", () => {
  const redis = { domain: "docker.io", path: "library/redis", tag: "7.0", digest: null };
  it("keeps the name without an endpoint", () => {
    expect(fetchAddress(redis, [upstream("docker.io", null)])).toEqual({
      reference: "docker.io/library/redis:7.0",
      registry: "docker.io",
      viaEndpoint: false,
    });
  });
  it("fetches through the endpoint host, with its path prefix", () => {
    expect(fetchAddress(redis, [upstream("docker.io", "http://127.0.0.1:5000")]).reference).toBe(
      "127.0.0.1:5000/library/redis:7.0",
    );
    const viaCache = fetchAddress({ ...redis, digest: `sha256:${"a".repeat(64)}` }, [
      upstream("index.docker.io", "https://cache.example.com/hub/"),
    ]);
    expect(viaCache).toEqual({
      reference: `cache.example.com/hub/library/redis:7.0@sha256:${"a".repeat(64)}`,
      registry: "cache.example.com",
      viaEndpoint: true,
    });
  });
  it("never gives crane --insecure, whatever the endpoint (crane would apply it to the ECR push too)", () => {
    for (const endpoint of [
      "http://127.0.0.1:5000",
      "http://10.1.2.3:5000",
      "http://pull-cache.internal:5000",
    ]) {
      const source = fetchAddress(redis, [upstream("docker.io", endpoint)]);
      expect(source.viaEndpoint).toBe(true);
      const argvs = [
        craneCopyArgs(source.reference, "r.example/mirrors/library/redis:7.0", { platform: "linux/amd64" }),
        craneDigestArgs(source.reference, { platform: "linux/amd64" }),
        craneIndexFilterArgs(source.reference, ["linux/amd64", "linux/arm64"], "r.example/x:1"),
      ];
      for (const argv of argvs) expect(argv.filter((a) => a.startsWith("--insecure"))).toEqual([]);
    }
  });
  it("gives index filter one --platform per platform, and refuses a comma (crane reads 'a,b' as one platform)", () => {
    expect(craneIndexFilterArgs("a:1", ["linux/amd64", "linux/arm64"], "b:1")).toEqual([
      "index",
      "filter",
      "a:1",
      "--platform",
      "linux/amd64",
      "--platform",
      "linux/arm64",
      "--tag",
      "b:1",
    ]);
    expect(() => craneIndexFilterArgs("a:1", ["linux/amd64,linux/arm64"], "b:1")).toThrow(/comma/);
    expect(() => craneCopyArgs("a:1", "b:1", { platform: "linux/amd64,linux/arm64" })).toThrow(/comma/);
  });
  it("refuses a positional argument crane would read as a flag", () => {
    expect(() => craneCopyArgs("--platform=linux/p/x:1", "r.example/x:1")).toThrow(/read as a flag/);
    expect(() => craneCopyArgs("a:1", "-v")).toThrow(/read as a flag/);
    expect(() => craneDigestArgs("--insecure")).toThrow(/read as a flag/);
    expect(() => craneIndexFilterArgs("a:1", ["--insecure"], "b:1")).toThrow(/read as a flag/);
    expect(() => craneCopyArgs("a:1", "b:1", { platform: "-x" })).toThrow(/read as a flag/);
    expect(() => helmPullRepoArgs("--kubeconfig=/x", "c", "1.0.0", "/d")).toThrow(/read as a flag/);
    expect(() => helmPullRepoArgs("https://h.example", "--post-renderer=sh", "1.0.0", "/d")).toThrow(/flag/);
    expect(() => helmPullOciArgs("oci://h.example/c", "-1", "/d", "/r.json")).toThrow(/read as a flag/);
  });
  it("maps OCI chart sources the same way", () => {
    expect(
      chartFetchAddress("oci://registry-1.docker.io/bitnamicharts/x", [
        upstream("docker.io", "http://127.0.0.1:5000/hub"),
      ]),
    ).toMatchObject({
      ociReference: "oci://127.0.0.1:5000/hub/bitnamicharts/x",
      reference: "127.0.0.1:5000/hub/bitnamicharts/x",
    });
    expect(chartFetchAddress("oci://ghcr.io/x/y", []).ociReference).toBe("oci://ghcr.io/x/y");
  });
});

describe("hintFor", () => {
  it.each([
    [
      "GET https://index.docker.io/v2/library/redis/manifests/7.0: TOOMANYREQUESTS: You have reached your pull rate limit",
      /rate limiting/,
    ],
    ["denied: Your authorization token has expired. Reauthenticate and try again.", /token expired/],
    ["GET http://127.0.0.1:5000/v2/: unexpected status code 401 Unauthorized", /refused the credentials/],
    [
      "PUT .../manifests/7.0: TAG_INVALID: The image tag '7.0' already exists in the 'x' repository and cannot be overwritten because the repository is immutable.",
      /immutable/,
    ],
    [
      "NAME_UNKNOWN: The repository with name 'mirrors/library/redis' does not exist in the registry with id '1'",
      /repository does not exist/,
    ],
    ["MANIFEST_UNKNOWN: manifest unknown; map[Tag:7.99]", /not found/],
    ['Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client', /plain HTTP/],
    ["dial tcp: lookup registry-1.docker.io: no such host", /could not be reached/],
    ["something else entirely", null],
  ])("%s", (output, expected) => {
    const hint = hintFor(output);
    if (expected === null) expect(hint).toBeNull();
    else expect(hint).toMatch(expected);
  });
});

describe("a tool failure's first line: the kind of failure and the tool's own error line, whole", () => {
  const copy = "crane copy a -> b";
  const progress = "2026/12/01 10:00:00 Copying from a to b\n";
  it.each([
    [
      "Error: GET https://index.docker.io/v2/team2/app2/manifests/9.9.9: MANIFEST_UNKNOWN: manifest unknown",
      "not found",
    ],
    ["Error: GET https://quay.io/v2/x/manifests/1: UNAUTHORIZED: authentication required", "unauthorized"],
    [
      "Error: GET https://index.docker.io/v2/x/manifests/1: TOOMANYREQUESTS: You have reached your pull rate limit",
      "rate limited",
    ],
    [
      'Error: Get "https://10.0.0.5/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
      "TLS",
    ],
    ['Error: Get "https://quay.io/v2/": dial tcp 1.2.3.4:443: i/o timeout', "timeout"],
    [
      "Error: PUT https://1.dkr.ecr.eu-west-1.amazonaws.com/v2/mirrors/x/manifests/1: TAG_INVALID: The image tag '1' already exists in the 'mirrors/x' repository and cannot be overwritten because the repository is immutable.",
      "immutable tag",
    ],
    [
      "Error: POST https://1.dkr.ecr.eu-west-1.amazonaws.com/v2/mirrors/x/blobs/uploads/: NAME_UNKNOWN: The repository with name 'mirrors/x' does not exist in the registry",
      "repository missing",
    ],
  ])("%s -> %s", (line, kind) => {
    const error = new ToolError("crane", "copy", copy, 1, `${progress}${line}`, hintFor(line));
    const first = error.message.split("\n")[0]!;
    expect(first).toBe(`${copy} failed (exit 1): ${kind}: ${line}`);
    expect(error.message).toContain("\nhint: ");
  });
});

describe("runTool through the adapters (a scripted executable)", () => {
  let dir: string;
  let fake: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ecr-mirror-runner-test-"));
    fake = join(dir, "fake-tool");
    // Prints its argv, DOCKER_CONFIG and stdin; fails when the first argument is "copy".
    await writeFile(
      fake,
      [
        "#!/bin/sh",
        'if [ "$1" = "version" ]; then echo "version.BuildInfo{Version:\\"v4.3.0\\", GitCommit:\\"x\\"}"; exit 0; fi',
        'if [ "$1" = "digest" ]; then echo "sha256:$(printf %064d 7)"; exit 0; fi',
        'if [ "$1" = "registry" ]; then read pw; echo "stdin=$pw docker=$DOCKER_CONFIG" >&2; exit 0; fi',
        'echo "pulling $2" ; echo "2026/12/01 10:00:00 Copying from $2 to $3" >&2; echo "Error: GET $2: UNAUTHORIZED: authentication required; secret=SEKRET-VALUE" >&2; exit 1',
        "",
      ].join("\n"),
    );
    await chmod(fake, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("turns a failure into a readable error: what, where, the reason first (not crane's progress line), a hint; secrets redacted", async () => {
    const counter = new InvocationCounter();
    const crane = new Crane({ binary: fake, counter, redact: (t) => t.replaceAll("SEKRET-VALUE", "***") });
    const error = (await crane
      .copy("docker.io/library/redis:7.0", "127.0.0.1:1/mirrors/library/redis:7.0")
      .catch((e) => e)) as ToolError;
    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe(
      "crane copy docker.io/library/redis:7.0 -> 127.0.0.1:1/mirrors/library/redis:7.0 failed (exit 1): " +
        "unauthorized: Error: GET docker.io/library/redis:7.0: UNAUTHORIZED: authentication required; secret=***\n" +
        "2026/12/01 10:00:00 Copying from docker.io/library/redis:7.0 to 127.0.0.1:1/mirrors/library/redis:7.0\n" +
        "hint: the registry refused the credentials: for ECR check the role's ecr:* permissions and the registry address; for an upstream check its username and token",
    );
    expect(counter.toJSON()).toEqual({ "crane copy": 1 });
  });

  it("reads digests and versions, counts per subcommand", async () => {
    const counter = new InvocationCounter();
    const crane = new Crane({ binary: fake, counter });
    expect(await crane.digest("a:1")).toBe(`sha256:${"0".repeat(63)}7`);
    const helm = new Helm({ binary: fake, counter, registryConfig: "/dev/null" });
    expect(await helm.version()).toBe("4.3.0");
    expect(counter.count()).toBe(2);
    expect(counter.count("crane")).toBe(1);
    expect(counter.count("helm", "version")).toBe(1);
  });

  it("gives the password on stdin and the environment to the child only", async () => {
    const lines: string[] = [];
    const helm = new Helm({
      binary: fake,
      registryConfig: "/dev/null",
      env: { DOCKER_CONFIG: "/child-only" },
      log: (l) => lines.push(l),
      redact: (t) => t.replaceAll("pw-123", "***"),
    });
    await helm.registryLogin("127.0.0.1:5000", "AWS", "pw-123");
    expect(lines.some((l) => l.includes("stdin=*** docker=/child-only"))).toBe(true);
    expect(lines.join("\n")).not.toContain("pw-123");
    expect(process.env.DOCKER_CONFIG).not.toBe("/child-only");
  });

  it("explains a binary that cannot be started", async () => {
    const crane = new Crane({ binary: join(dir, "missing-crane") });
    await expect(crane.version()).rejects.toThrow(
      /crane version failed.*\nhint: crane could not be started/s,
    );
  });
});
