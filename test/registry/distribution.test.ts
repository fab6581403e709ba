// The default scheme for a registry: crane's rule, so in-process requests (tag lists, digest checks,
// verification) reach the same endpoint crane copies from.
import { describe, expect, it } from "vitest";
import { schemeFor } from "../../src/registry/distribution.js";

describe("schemeFor", () => {
  it.each([
    ["127.0.0.1:5000", "http"],
    ["localhost:5000", "http"],
    ["[::1]:5000", "http"],
    ["10.0.0.5:5000", "http"],
    ["192.168.1.20", "http"],
    ["172.20.0.3:443", "http"],
    ["172.32.0.3", "https"],
    ["quay.io", "https"],
    ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", "https"],
  ])("%s -> %s", (host, scheme) => {
    expect(schemeFor(host)).toBe(scheme);
  });
});
