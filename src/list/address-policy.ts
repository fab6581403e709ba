/**
 * Which hosts a mirror list, an input or a flag may name. Pure: no lookup, no I/O.
 *
 * A host is written as a URL or an image reference carries it: `name`, `name:port`, `a.b.c.d[:port]`,
 * `[ipv6][:port]`. Refused: anything that is not a plain hostname or a canonical address (so nothing
 * reaches crane or helm as a flag, and no resolver reads `0xa9fea9fe` as 169.254.169.254), link-local,
 * cloud metadata, unspecified, multicast, broadcast and reserved addresses, and IPv6 forms that embed a
 * refused IPv4 address. Loopback and RFC 1918 stay allowed: tests run on 127.0.0.1 and pull-through caches
 * in a VPC live on 10.x.
 */

import { quoteValue } from "./quote.js";

export type HostCheck = { ok: true } | { ok: false; reason: string; hint: string };

/** Names that resolve to a cloud provider's instance metadata service. */
const METADATA_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.azure.com",
  "metadata.tencentyun.com",
]);

const ADDRESS_HINT =
  "name a registry or chart repository by its public hostname, a loopback address or a private (RFC 1918) address";

function refuse(reason: string, hint: string = ADDRESS_HINT): HostCheck {
  return { ok: false, reason, hint };
}

const q = quoteValue;

/** Split `host[:port]` / `[v6][:port]`; null when the shape is wrong. */
function splitPort(input: string): { host: string; bracketed: boolean; port: string | null } | null {
  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close < 0) return null;
    const rest = input.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return null;
    return { host: input.slice(1, close), bracketed: true, port: rest === "" ? null : rest.slice(1) };
  }
  const colons = input.split(":").length - 1;
  if (colons === 0) return { host: input, bracketed: false, port: null };
  if (colons > 1) return null;
  const at = input.indexOf(":");
  return { host: input.slice(0, at), bracketed: false, port: input.slice(at + 1) };
}

/** Parse an IPv6 address (no zone) into 8 groups; null when invalid. */
export function parseIPv6(text: string): number[] | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  let tail: number[] = [];
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseDottedQuad(text.slice(lastColon + 1));
    if (!v4) return null;
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    tail = [(a << 8) | b, (c << 8) | d];
    body = text.slice(0, lastColon + 1);
    if (!body.endsWith("::")) body = body.slice(0, -1);
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === "") return [];
    const parts = s.split(":");
    const out: number[] = [];
    for (const p of parts) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return null;
      out.push(Number.parseInt(p, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0] ?? "");
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (!head || !rest) return null;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 2) {
    if (given > 7) return null;
    return [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  }
  return given === 8 ? [...head, ...tail] : null;
}

/** Four decimal numbers 0-255 without leading zeros, or null. */
function parseDottedQuad(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function checkIPv4(a: readonly number[], shown: string): HostCheck {
  const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = a;
  const hintMeta = "a mirror list never needs the instance metadata service; remove the address";
  if (b0 === 169 && b1 === 254 && b2 === 169 && b3 === 254)
    return refuse(`${q(shown)} is the cloud instance metadata address`, hintMeta);
  if (b0 === 169 && b1 === 254 && b2 === 170 && (b3 === 2 || b3 === 23))
    return refuse(`${q(shown)} is the container metadata address`, hintMeta);
  if (b0 === 100 && b1 === 100 && b2 === 100 && b3 === 200)
    return refuse(`${q(shown)} is the cloud instance metadata address`, hintMeta);
  if (b0 === 169 && b1 === 254) return refuse(`${q(shown)} is a link-local address (169.254.0.0/16)`);
  if (b0 === 0) return refuse(`${q(shown)} is an unspecified address (0.0.0.0/8)`);
  if (b0 === 255 && b1 === 255 && b2 === 255 && b3 === 255)
    return refuse(`${q(shown)} is the broadcast address`);
  if (b0 >= 224 && b0 <= 239) return refuse(`${q(shown)} is a multicast address (224.0.0.0/4)`);
  if (b0 >= 240) return refuse(`${q(shown)} is a reserved address (240.0.0.0/4)`);
  return { ok: true };
}

function checkIPv6(g: readonly number[], shown: string): HostCheck {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  const embeddedShown = embedded.join(".");
  const zeroHead = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroHead && g5 === 0 && g6 === 0 && g7 === 0)
    return refuse(`${q(shown)} is the unspecified address (::)`);
  if (zeroHead && g5 === 0 && g6 === 0 && g7 === 1) return { ok: true };
  const viaV4 = (what: string, v4: readonly number[], v4Shown: string): HostCheck => {
    const inner = checkIPv4(v4, v4Shown);
    return inner.ok ? inner : refuse(`${q(shown)} is ${what} of ${inner.reason}`, inner.hint);
  };
  if (zeroHead && g5 === 0xffff) return viaV4("the IPv4-mapped form", embedded, embeddedShown);
  if (zeroHead && g5 === 0) return viaV4("the IPv4-compatible form", embedded, embeddedShown);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return viaV4("the NAT64 form", embedded, embeddedShown);
  if (g0 === 0x2002) {
    const v4 = [g1 >> 8, g1 & 0xff, g2 >> 8, g2 & 0xff];
    return viaV4("the 6to4 form", v4, v4.join("."));
  }
  if (
    g0 === 0xfd00 &&
    g1 === 0x0ec2 &&
    g2 === 0 &&
    g3 === 0 &&
    g4 === 0 &&
    g5 === 0 &&
    g6 === 0 &&
    g7 === 0x254
  )
    return refuse(
      `${q(shown)} is the cloud instance metadata address`,
      "a mirror list never needs the instance metadata service; remove the address",
    );
  if ((g0 & 0xffc0) === 0xfe80) return refuse(`${q(shown)} is a link-local address (fe80::/10)`);
  if ((g0 & 0xff00) === 0xff00) return refuse(`${q(shown)} is a multicast address (ff00::/8)`);
  return { ok: true };
}

/** Labels of letters, digits and `-`, none empty, none starting or ending with `-`, at most 63 long. */
function checkHostname(host: string, input: string): HostCheck {
  if (host.length > 253)
    return refuse(`host ${q(input)} is longer than 253 characters`, "use a shorter hostname");
  const labels = host.split(".");
  for (const label of labels) {
    if (label === "")
      return refuse(
        `host ${q(input)} has an empty label`,
        "write the hostname without leading, trailing or doubled dots",
      );
    if (label.length > 63)
      return refuse(`host ${q(input)} has a label longer than 63 characters`, "use a shorter hostname");
    if (label.startsWith("-") || label.endsWith("-"))
      return refuse(
        `host ${q(input)} has a label that starts or ends with "-"`,
        "a hostname label starts and ends with a letter or digit (a leading - would reach crane or helm as a flag)",
      );
    if (!/^[A-Za-z0-9-]+$/.test(label))
      return refuse(
        `host ${q(input)} is not a valid hostname`,
        /[^\x20-\x7e]/.test(label)
          ? "hostnames are ASCII letters, digits, - and .; write an internationalised name in its xn-- (punycode) form"
          : "hostnames are letters, digits, - and . (no _, spaces, @, / or other characters)",
      );
  }
  const lower = host.toLowerCase();
  if (METADATA_NAMES.has(lower) || lower.endsWith(".metadata.google.internal"))
    return refuse(
      `${q(input)} is a cloud instance metadata name`,
      "a mirror list never needs the instance metadata service; remove the host",
    );
  return { ok: true };
}

/**
 * A last label made of digits (or `0x` hex) makes the WHATWG URL parser, curl and Go's resolver fallbacks
 * read the whole host as an IPv4 address in one of its old forms: `2852039166`, `0xa9fea9fe`,
 * `0251.0376.0251.0376`, `169.254.43518`.
 */
function looksNumeric(host: string): boolean {
  const last = host.split(".").pop() ?? "";
  return /^(\d+|0[xX][0-9A-Fa-f]*)$/.test(last);
}

/** What a URL parser makes of a non-canonical IPv4 form, for the message ("" when it cannot tell). */
function decodedIPv4(host: string): string {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return "";
  }
}

export function checkHost(input: string): HostCheck {
  if (input === "") return refuse("the host is empty", "write a hostname such as registry.example.com");
  if (/[^\x21-\x7e\u00a0-\uffff]/.test(input))
    return refuse(
      `host ${q(input)} contains a space or control character`,
      "write the host without spaces, tabs, newlines or control characters",
    );
  if (input.includes("@"))
    return refuse(
      `host ${q(input.replace(/^.*@/, "…@"))} carries credentials (user@host)`,
      "never write credentials into the list; give them through the registry-credentials or docker-hub-token inputs",
    );
  const split = splitPort(input);
  if (!split)
    return refuse(
      `host ${q(input)} is not host[:port]`,
      "write IPv6 addresses in brackets ([fd00::1]:5000) and at most one :port",
    );
  const { host, bracketed, port } = split;
  if (port !== null) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
      return refuse(`host ${q(input)} has an invalid port`, "a port is a number from 1 to 65535");
  }
  if (bracketed) {
    if (host.includes("%"))
      return refuse(`host ${q(input)} has an IPv6 zone`, "name the registry by an address without a %zone");
    const groups = parseIPv6(host);
    if (!groups)
      return refuse(`host ${q(input)} is not a valid IPv6 address`, "check the address between [ and ]");
    return checkIPv6(groups, host);
  }
  if (host === "")
    return refuse(`host ${q(input)} is empty`, "write a hostname such as registry.example.com");
  if (looksNumeric(host)) {
    const quad = parseDottedQuad(host);
    if (!quad) {
      const decoded = decodedIPv4(host);
      return refuse(
        `host ${q(input)} is not a dotted-decimal IPv4 address${decoded && decoded !== host ? ` (a URL parser reads it as ${decoded})` : ""}`,
        "write an IPv4 address as four decimal numbers 0-255 without leading zeros, e.g. 10.0.0.5",
      );
    }
    return checkIPv4(quad, host);
  }
  return checkHostname(host, input);
}

// --- crane's plain-HTTP rule -------------------------------------------------------------------------

/*
 * A faithful port of go-containerregistry pkg/name/registry.go `Registry.Scheme()` (the branch without
 * `name.Insecure`, which ecr-mirror never sets):
 *   isRFC1918(): `net.ParseIP(strings.Split(name, ":")[0])` inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16
 *   `name == "localhost" || strings.HasPrefix(name, "localhost:")`
 *   reLocal        `.*\.localhost(?::\d{1,5})?$`
 *   reLoopback     `^127\.0\.0\.1(?::\d{1,5})?$`
 *   reipv6Loopback `^(::1|\[::1\](?::\d{1,5})?)$`
 * Everything else is https. Go's matching is case-sensitive, and so is this.
 */
const RE_LOCAL = /\.localhost(?::\d{1,5})?$/;
const RE_LOOPBACK = /^127\.0\.0\.1(?::\d{1,5})?$/;
const RE_IPV6_LOOPBACK = /^(::1|\[::1\](?::\d{1,5})?)$/;

function isRFC1918(name: string): boolean {
  // Go's net.ParseIP: dotted decimal, no leading zeros (Go >= 1.17); an IPv6 address cannot survive the split.
  const ip = parseDottedQuad(name.split(":")[0] ?? "");
  if (!ip) return false;
  const [a = 0, b = 0] = ip;
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/** Whether crane reaches `host[:port]` over plain HTTP by its own rule, without `--insecure`. */
export function speaksPlainHttp(host: string): boolean {
  return (
    isRFC1918(host) ||
    host === "localhost" ||
    host.startsWith("localhost:") ||
    RE_LOCAL.test(host) ||
    RE_LOOPBACK.test(host) ||
    RE_IPV6_LOOPBACK.test(host)
  );
}
