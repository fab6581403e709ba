// The host policy (checkHost) and crane's plain-HTTP rule (fallsBackToHttp), as a table.
import { describe, expect, it } from "vitest";
import { checkHost, fallsBackToHttp, parseIPv6 } from "../../src/list/address-policy.js";

function reason(host: string): string {
  const r = checkHost(host);
  if (r.ok) throw new Error(`${host} was allowed`);
  expect(r.hint.length).toBeGreaterThan(10);
  return `${r.reason} (${r.hint})`;
}

describe("checkHost allows", () => {
  it.each([
    "docker.io",
    "registry-1.docker.io",
    "ghcr.io",
    "quay.io:443",
    "public.ecr.aws",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "localhost",
    "localhost:5000",
    "registry.localhost:5000",
    "127.0.0.1",
    "127.0.0.1:5000",
    "127.10.0.1:5000",
    "10.0.0.5:5000",
    "172.16.0.1",
    "172.31.255.255:443",
    "192.168.1.10:5000",
    "100.64.0.1",
    "8.8.8.8",
    "[::1]",
    "[::1]:5000",
    "[fd00::1]:5000",
    "[2001:db8::1]",
    "[::ffff:10.0.0.5]:5000",
    "xn--bcher-kva.example",
    "a.b-c.d9",
    "UPPER.Example.COM",
    "my-registry",
  ])("%s", (host) => {
    expect(checkHost(host)).toEqual({ ok: true });
  });
});

describe("checkHost refuses", () => {
  it.each([
    // link-local and metadata
    ["169.254.169.254", /metadata/],
    ["169.254.169.254:80", /metadata/],
    ["169.254.170.2", /metadata/],
    ["169.254.1.1", /link-local/],
    ["100.100.100.200", /metadata/],
    ["[fd00:ec2::254]", /metadata/],
    ["[fe80::1]", /link-local/],
    ["[fe80::1%25eth0]", /zone/],
    ["[febf::1]:5000", /link-local/],
    ["metadata.google.internal", /metadata name/],
    ["METADATA.GOOGLE.INTERNAL", /metadata name/],
    ["metadata", /metadata name/],
    ["instance-data.ec2.internal", /metadata name/],
    ["computeMetadata.metadata.google.internal", /metadata name/],
    // unspecified, multicast, broadcast, reserved
    ["0.0.0.0", /unspecified/],
    ["0.0.0.0:5000", /unspecified/],
    ["0.1.2.3", /unspecified/],
    ["[::]", /unspecified/],
    ["[::]:5000", /unspecified/],
    ["[0:0:0:0:0:0:0:0]", /unspecified/],
    ["224.0.0.1", /multicast/],
    ["239.255.255.250", /multicast/],
    ["[ff02::1]", /multicast/],
    ["255.255.255.255", /broadcast/],
    ["240.0.0.1", /reserved/],
    // IPv6 forms of refused IPv4 addresses
    ["[::ffff:169.254.169.254]", /IPv4-mapped.*metadata/],
    ["[::ffff:a9fe:a9fe]", /IPv4-mapped.*metadata/],
    ["[0:0:0:0:0:ffff:169.254.169.254]", /IPv4-mapped/],
    ["[::169.254.169.254]", /IPv4-compatible.*metadata/],
    ["[::ffff:0.0.0.0]", /IPv4-mapped.*unspecified/],
    ["[64:ff9b::169.254.169.254]", /NAT64/],
    ["[2002:a9fe:a9fe::1]", /6to4.*metadata/],
    // obfuscated IPv4
    ["2852039166", /dotted-decimal.*169\.254\.169\.254/],
    ["0xa9fea9fe", /dotted-decimal.*169\.254\.169\.254/],
    ["0XA9FEA9FE", /dotted-decimal/],
    ["0251.0376.0251.0376", /dotted-decimal.*169\.254\.169\.254/],
    ["169.254.43518", /dotted-decimal.*169\.254\.169\.254/],
    ["169.16689662", /dotted-decimal/],
    ["0x7f.1", /dotted-decimal/],
    ["127.000.000.001", /dotted-decimal/],
    ["010.0.0.5", /dotted-decimal/],
    ["127.0.0.1.", /dotted-decimal|empty label/],
    ["256.1.1.1", /dotted-decimal/],
    ["1.2.3.4.5", /dotted-decimal/],
    ["0x", /dotted-decimal/],
    ["example.0x10", /dotted-decimal/],
    ["2852039166:80", /dotted-decimal/],
    // not a hostname
    ["", /empty/],
    ["--platform=linux", /starts or ends with "-"/],
    ["-x.example.com", /starts or ends with "-"/],
    ["a.-b.com", /starts or ends with "-"/],
    ["a-.example.com", /starts or ends with "-"/],
    ["a..b", /empty label/],
    [".example.com", /empty label/],
    ["example.com.", /empty label/],
    ["under_score.example", /not a valid hostname/],
    ["exa mple.com", /space or control/],
    ["example.com\n::warning::x", /control/],
    ["example.com\u0000", /control/],
    ["tab\there", /control/],
    ["ex\u0430mple.com", /punycode/],
    ["exa\u200bmple.com", /punycode/],
    ["\u202eexample.com", /"\\u202eexample\.com".*punycode/],
    ["ｅxample.com", /punycode/],
    ["user:secret@example.com", /credentials/],
    ["example.com:", /invalid port/],
    ["example.com:0", /invalid port/],
    ["example.com:65536", /invalid port/],
    ["example.com:123456", /invalid port/],
    ["example.com:-1", /invalid port/],
    ["example.com:80:80", /not host\[:port\]/],
    ["::1", /not host\[:port\]/],
    ["fe80::1", /not host\[:port\]/],
    ["[::1", /not host\[:port\]/],
    ["[::1]x", /not host\[:port\]/],
    ["[not-v6]", /not a valid IPv6/],
    ["[1:2:3:4:5:6:7:8:9]", /not a valid IPv6/],
    ["[1::2::3]", /not a valid IPv6/],
    ["example.com/path", /not a valid hostname/],
    ["a".repeat(64), /longer than 63/],
    [`${"a.".repeat(127)}ab`, /longer than 253/],
  ])("%j", (host, expected) => {
    expect(reason(host)).toMatch(expected);
  });

  it("never echoes a raw control character or the password of a user:secret@ host", () => {
    for (const host of ["a\nb", "x\r\n::warning::pwned", "\u0007", "user:hunter2@example.com"]) {
      const text = reason(host);
      expect(text).not.toMatch(/[^\x20-\x7e]/);
      expect(text).not.toContain("hunter2");
    }
  });
});

describe("parseIPv6", () => {
  it.each([
    ["::", [0, 0, 0, 0, 0, 0, 0, 0]],
    ["::1", [0, 0, 0, 0, 0, 0, 0, 1]],
    ["1::", [1, 0, 0, 0, 0, 0, 0, 0]],
    ["fd00:ec2::254", [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]],
    ["::ffff:1.2.3.4", [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]],
    ["1:2:3:4:5:6:1.2.3.4", [1, 2, 3, 4, 5, 6, 0x102, 0x304]],
  ])("%s", (text, groups) => {
    expect(parseIPv6(text)).toEqual(groups);
  });
  it.each(["", ":", ":::", "1:2", "12345::", "::1.2.3", "g::1", "1:2:3:4:5:6:7:1.2.3.4"])(
    "refuses %j",
    (text) => {
      expect(parseIPv6(text)).toBeNull();
    },
  );
});

// Expectations read off go-containerregistry pkg/name/registry.go Scheme() (branch without name.Insecure):
// a bare `localhost` matches neither `localhost:` nor reLocal, so crane speaks only HTTPS to it.
describe("fallsBackToHttp follows crane's Registry.Scheme()", () => {
  it.each([
    ["localhost", false],
    ["localhost:5000", true],
    ["registry.localhost", true],
    ["registry.localhost:5000", true],
    ["127.0.0.1", true],
    ["127.0.0.1:5000", true],
    ["::1", true],
    ["[::1]", true],
    ["[::1]:5000", true],
    ["10.0.0.5", true],
    ["10.0.0.5:5000", true],
    ["172.16.0.1:5000", true],
    ["172.31.255.255", true],
    ["192.168.1.10:5000", true],
    // https for everything else
    ["127.0.0.2:5000", false],
    ["172.15.0.1:5000", false],
    ["172.32.0.1:5000", false],
    ["192.169.0.1", false],
    ["010.0.0.5:5000", false],
    ["100.64.0.1:5000", false],
    ["169.254.169.254", false],
    ["[fd00::1]:5000", false],
    ["localhostx:5000", false],
    ["mylocalhost", false],
    ["LOCALHOST:5000", false],
    ["docker.io", false],
    ["example.com:80", false],
  ])("%s -> %s", (host, plain) => {
    expect(fallsBackToHttp(host)).toBe(plain);
  });
});
