import { describe, expect, it } from "vitest";
import {
  assetFor,
  DEFAULT_VERSIONS,
  normaliseVersion,
  parseChecksumFile,
  parsePinnedChecksums,
  publishedChecksum,
  ToolInstallError,
} from "../../src/tools/assets.js";

describe("assetFor: the names each project publishes", () => {
  it.each([
    ["crane", "linux", "x64", "go-containerregistry_Linux_x86_64.tar.gz", "crane"],
    ["crane", "linux", "arm64", "go-containerregistry_Linux_arm64.tar.gz", "crane"],
    ["crane", "darwin", "x64", "go-containerregistry_Darwin_x86_64.tar.gz", "crane"],
    ["crane", "darwin", "arm64", "go-containerregistry_Darwin_arm64.tar.gz", "crane"],
    ["helm", "linux", "x64", "helm-v4.3.0-linux-amd64.tar.gz", "linux-amd64/helm"],
    ["helm", "linux", "arm64", "helm-v4.3.0-linux-arm64.tar.gz", "linux-arm64/helm"],
    ["helm", "darwin", "x64", "helm-v4.3.0-darwin-amd64.tar.gz", "darwin-amd64/helm"],
    ["helm", "darwin", "arm64", "helm-v4.3.0-darwin-arm64.tar.gz", "darwin-arm64/helm"],
  ] as const)("%s on %s/%s -> %s", (tool, platform, arch, archive, binary) => {
    const version = tool === "crane" ? "0.22.1" : "4.3.0";
    const asset = assetFor(tool, version, platform, arch);
    expect(asset.archive).toBe(archive);
    expect(asset.binaryInArchive).toBe(binary);
    expect(asset.cacheArch).toBe(arch);
  });

  it("builds the release URLs and checksum files beside them", () => {
    expect(assetFor("crane", "0.22.1", "linux", "x64")).toMatchObject({
      archiveUrl:
        "https://github.com/google/go-containerregistry/releases/download/v0.22.1/go-containerregistry_Linux_x86_64.tar.gz",
      checksumUrl: "https://github.com/google/go-containerregistry/releases/download/v0.22.1/checksums.txt",
    });
    expect(assetFor("helm", "4.3.0", "linux", "arm64")).toMatchObject({
      archiveUrl: "https://get.helm.sh/helm-v4.3.0-linux-arm64.tar.gz",
      checksumUrl: "https://get.helm.sh/helm-v4.3.0-linux-arm64.tar.gz.sha256sum",
    });
  });

  it("serves a mirror from a base URL (trailing slash ignored)", () => {
    const helm = assetFor("helm", "4.3.0", "linux", "x64", "https://artifactory.example.com/helm/");
    expect(helm.archiveUrl).toBe("https://artifactory.example.com/helm/helm-v4.3.0-linux-amd64.tar.gz");
    const crane = assetFor(
      "crane",
      "0.22.1",
      "darwin",
      "arm64",
      "https://ghe.example.com/google/go-containerregistry/releases/download",
    );
    expect(crane.checksumUrl).toBe(
      "https://ghe.example.com/google/go-containerregistry/releases/download/v0.22.1/checksums.txt",
    );
  });

  it("refuses platforms it cannot install, by name", () => {
    expect(() => assetFor("crane", "0.22.1", "win32", "x64")).toThrow(/platform "win32" is not supported/);
    expect(() => assetFor("helm", "4.3.0", "linux", "s390x")).toThrow(
      /architecture "s390x" is not supported/,
    );
  });
});

describe("normaliseVersion", () => {
  it("accepts exact versions with or without v", () => {
    expect(normaliseVersion("helm", "v4.3.0")).toBe("4.3.0");
    expect(normaliseVersion("crane", " 0.22.1 ")).toBe("0.22.1");
    expect(normaliseVersion("helm", "4.0.0-rc.1")).toBe("4.0.0-rc.1");
  });
  it.each(["latest", "4.x", "^4.3.0", "4.3", ""])("rejects %j: never another version silently", (input) => {
    expect(() => normaliseVersion("helm", input)).toThrow(ToolInstallError);
  });
  it("keeps helm on its one major version", () => {
    expect(() => normaliseVersion("helm", "3.19.2")).toThrow(/Helm 3.*Use a 4\.x version/s);
  });
  it("has pinned defaults that pass its own checks", () => {
    expect(normaliseVersion("crane", DEFAULT_VERSIONS.crane)).toBe(DEFAULT_VERSIONS.crane);
    expect(normaliseVersion("helm", DEFAULT_VERSIONS.helm)).toBe(DEFAULT_VERSIONS.helm);
  });
});

const A = "a".repeat(64);
const B = "B".repeat(64);

describe("parseChecksumFile / publishedChecksum", () => {
  it("reads goreleaser's checksums.txt", () => {
    const text = `${A}  go-containerregistry_Darwin_arm64.tar.gz\n${B}  go-containerregistry_Linux_x86_64.tar.gz\n`;
    const entries = parseChecksumFile(text);
    expect(publishedChecksum(entries, "go-containerregistry_Linux_x86_64.tar.gz")).toBe("b".repeat(64));
    expect(publishedChecksum(entries, "go-containerregistry_Linux_arm64.tar.gz")).toBeNull();
  });
  it("reads helm's .sha256sum, binary-mode markers, CRLF and bare hashes", () => {
    expect(
      publishedChecksum(
        parseChecksumFile(`${A}  helm-v4.3.0-linux-amd64.tar.gz\r\n`),
        "helm-v4.3.0-linux-amd64.tar.gz",
      ),
    ).toBe(A);
    expect(publishedChecksum(parseChecksumFile(`${A} *dist/x.tar.gz`), "x.tar.gz")).toBe(A);
    expect(publishedChecksum(parseChecksumFile(`${A}\n`), "anything.tar.gz")).toBe(A);
  });
  it("finds nothing in a page that is not a checksum list", () => {
    expect(parseChecksumFile("<html><body>Not Found</body></html>")).toEqual([]);
    expect(publishedChecksum([], "x.tar.gz")).toBeNull();
  });
});

describe("parsePinnedChecksums", () => {
  it("accepts one or several values, sha256: prefix allowed", () => {
    expect(parsePinnedChecksums("crane", "")).toEqual([]);
    expect(parsePinnedChecksums("crane", null)).toEqual([]);
    expect(parsePinnedChecksums("crane", `sha256:${B}\n${A}, ${A}`)).toEqual(["b".repeat(64), A, A]);
  });
  it("names the input when a value is not a SHA-256", () => {
    expect(() => parsePinnedChecksums("helm", "abc123")).toThrow(/helm-sha256 "abc123" is not a SHA-256/);
  });
});
