// Normalisation as distribution/reference does it. Vectors come from distribution/reference's own
// tests (normalize_test.go, reference_test.go); each is run through ParseNormalizedNamed semantics.
import { describe, expect, it } from "vitest";
import { familiarReference, formatReference, parseReference } from "../../src/list/reference.js";

const f64 = "f".repeat(64);
const hex64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

function full(input: string): string {
  const r = parseReference(input);
  if (!r.ok) throw new Error(`${input}: ${r.error}`);
  return formatReference(r.value);
}

function error(input: string): string {
  const r = parseReference(input);
  if (r.ok) throw new Error(`${input} parsed as ${formatReference(r.value)}`);
  return r.error;
}

describe("parseReference: familiar and full names (TestParseRepositoryInfo, TestNormalizedSplitHostname)", () => {
  it.each([
    ["redis:7.0", "docker.io/library/redis:7.0"],
    ["fooo/bar", "docker.io/fooo/bar"],
    ["index.docker.io/fooo/bar", "docker.io/fooo/bar"],
    ["ubuntu", "docker.io/library/ubuntu"],
    ["library/ubuntu", "docker.io/library/ubuntu"],
    ["docker.io/foo", "docker.io/library/foo"],
    ["docker.io/library/foo/bar", "docker.io/library/foo/bar"],
    ["index.docker.io/debian", "docker.io/library/debian"],
    ["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"],
    ["other/library", "docker.io/other/library"],
    ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"],
    ["127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"],
    ["example.com:8000/privatebasee", "example.com:8000/privatebasee"],
    ["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"],
    ["store/foo/bar", "docker.io/store/foo/bar"],
    ["Foo/bar", "Foo/bar"],
    ["FOO/bar", "FOO/bar"],
    ["test_com/foo", "docker.io/test_com/foo"],
    ["test-com:8080/foo", "test-com:8080/foo"],
    ["xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo"],
    ["localhost/foo", "localhost/foo"],
    ["localhost:5000/x", "localhost:5000/x"],
    ["192.168.0.1", "docker.io/library/192.168.0.1"],
    ["192.168.0.1:80", "docker.io/library/192.168.0.1:80"],
    ["[fc00::1]:5000/docker", "[fc00::1]:5000/docker"],
    ["[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian"],
    ["[2001:db8::1]/repo", "[2001:db8::1]/repo"],
    [`docker.io/${hex64}`, `docker.io/library/${hex64}`],
    [
      "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
      "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    ],
    ["docker---rules/docker", "docker.io/docker---rules/docker"],
    ["dock__er/docker", "docker.io/dock__er/docker"],
    ["lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"],
    ["quay.io/prometheus/node-exporter:v1.8.2", "quay.io/prometheus/node-exporter:v1.8.2"],
    [`ghcr.io/org/app@sha256:${f64}`, `ghcr.io/org/app@sha256:${f64}`],
    [`nginx:1.27@sha256:${f64}`, `docker.io/library/nginx:1.27@sha256:${f64}`],
    [`test:5000/repo:tag@sha256:${f64}`, `test:5000/repo:tag@sha256:${f64}`],
    [`[2001:db8::1]:5000/repo:tag@sha256:${f64}`, `[2001:db8::1]:5000/repo:tag@sha256:${f64}`],
    [
      `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${"f".repeat(128)}`,
      `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${"f".repeat(128)}`,
    ],
    [`${"a/".repeat(127)}a:tag-puts-this-over-max`, `docker.io/${"a/".repeat(127)}a:tag-puts-this-over-max`],
  ])("%s -> %s", (input, expected) => {
    expect(full(input)).toBe(expected);
  });

  it("splits domain, path, tag and digest", () => {
    const r = parseReference(`busybox:latest@sha256:${f64}`);
    expect(r).toEqual({
      ok: true,
      value: { domain: "docker.io", path: "library/busybox", tag: "latest", digest: `sha256:${f64}` },
    });
  });

  it("prints familiar names like distribution's FamiliarString", () => {
    const r = parseReference("docker.io/library/redis:7.0");
    expect(r.ok && familiarReference(r.value)).toBe("redis:7.0");
    const nested = parseReference("docker.io/library/foo/bar:1");
    expect(nested.ok && familiarReference(nested.value)).toBe("library/foo/bar:1");
  });
});

describe("parseReference: invalid references (TestValidateReferenceName, TestValidateRemoteName, TestReferenceParse)", () => {
  it.each([
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    hex64,
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    `${"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4)}/docker`,
    "",
    ":justtag",
    `@sha256:${f64}`,
    "aa/asdf$$^/aa",
    "[2001:db8::1]:tag",
    "[fe80::1%@invalidzone]:5000/repo",
  ])("rejects %j", (input) => {
    expect(parseReference(input).ok).toBe(false);
  });

  it.each([
    ["Uppercase:tag", "must be lowercase"],
    ["test:5000/Uppercase/lowercase:tag", "must be lowercase"],
    [`${"a/".repeat(128)}a:tag`, "must not be more than 255 characters"],
    ["repo@sha256:ffffffffffffffffffffffffffffffffff", "digest length"],
    [`validname@invaliddigest:${f64}`, "unsupported digest algorithm"],
    [`repo@sha256:${"F".repeat(64)}`, "lower-case hex"],
    [hex64, "cannot specify 64-byte hexadecimal strings"],
    ["redis:-bad", 'invalid tag "-bad"'],
    [`redis:${"a".repeat(129)}`, "invalid tag"],
    ["", "empty"],
  ])("%s fails with a reason (%s)", (input, reason) => {
    expect(error(input)).toContain(reason);
  });

  it("accepts a 128-character tag", () => {
    expect(full(`redis:${"a".repeat(128)}`)).toBe(`docker.io/library/redis:${"a".repeat(128)}`);
  });
});
