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
  const split = splitEmbeddedIPv4(text);
  if (!split) return null;
  const { body, tail } = split;
  const halves = body.split("::");
  if (halves.length > 2) return null;
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

/** An IPv6 text's trailing dotted quad (`::ffff:10.0.0.1`) as its two last groups; null when the quad is invalid. */
function splitEmbeddedIPv4(text: string): { body: string; tail: number[] } | null {
  const lastColon = text.lastIndexOf(":");
  if (!text.slice(lastColon + 1).includes(".")) return { body: text, tail: [] };
  const v4 = parseDottedQuad(text.slice(lastColon + 1));
  if (!v4) return null;
  const [a = 0, b = 0, c = 0, d = 0] = v4;
  const body = text.slice(0, lastColon + 1);
  return { body: body.endsWith("::") ? body : body.slice(0, -1), tail: [(a << 8) | b, (c << 8) | d] };
}

/** Colon-separated groups of 1 to 4 hex digits ("" is none); null when one is not. */
function parseGroups(s: string): number[] | null {
  if (s === "") return [];
  const out: number[] = [];
  for (const p of s.split(":")) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return null;
    out.push(Number.parseInt(p, 16));
  }
  return out;
}

/** Whether `address` starts with `prefix` (bytes of IPv4, groups of IPv6). */
function startsWith(address: readonly number[], ...prefix: number[]): boolean {
  return prefix.every((v, i) => address[i] === v);
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
  const [b0 = 0] = a;
  const hintMeta = "a mirror list never needs the instance metadata service; remove the address";
  if (startsWith(a, 169, 254, 169, 254))
    return refuse(`${q(shown)} is the cloud instance metadata address`, hintMeta);
  if (startsWith(a, 169, 254, 170, 2) || startsWith(a, 169, 254, 170, 23))
    return refuse(`${q(shown)} is the container metadata address`, hintMeta);
  if (startsWith(a, 100, 100, 100, 200))
    return refuse(`${q(shown)} is the cloud instance metadata address`, hintMeta);
  if (startsWith(a, 169, 254)) return refuse(`${q(shown)} is a link-local address (169.254.0.0/16)`);
  if (b0 === 0) return refuse(`${q(shown)} is an unspecified address (0.0.0.0/8)`);
  if (startsWith(a, 255, 255, 255, 255)) return refuse(`${q(shown)} is the broadcast address`);
  if (b0 >= 224 && b0 <= 239) return refuse(`${q(shown)} is a multicast address (224.0.0.0/4)`);
  if (b0 >= 240) return refuse(`${q(shown)} is a reserved address (240.0.0.0/4)`);
  return { ok: true };
}

function checkIPv6(g: readonly number[], shown: string): HostCheck {
  const [g0 = 0] = g;
  if (startsWith(g, 0, 0, 0, 0, 0, 0, 0, 0)) return refuse(`${q(shown)} is the unspecified address (::)`);
  if (startsWith(g, 0, 0, 0, 0, 0, 0, 0, 1)) return { ok: true };
  const viaV4 = embeddedIPv4(g);
  if (viaV4) {
    const inner = checkIPv4(viaV4.v4, viaV4.v4.join("."));
    return inner.ok ? inner : refuse(`${q(shown)} is ${viaV4.form} of ${inner.reason}`, inner.hint);
  }
  if (startsWith(g, 0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254))
    return refuse(
      `${q(shown)} is the cloud instance metadata address`,
      "a mirror list never needs the instance metadata service; remove the address",
    );
  if ((g0 & 0xffc0) === 0xfe80) return refuse(`${q(shown)} is a link-local address (fe80::/10)`);
  if ((g0 & 0xff00) === 0xff00) return refuse(`${q(shown)} is a multicast address (ff00::/8)`);
  return { ok: true };
}

/** The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible, NAT64, 6to4), and the form's name. */
function embeddedIPv4(g: readonly number[]): { form: string; v4: number[] } | null {
  const [, g1 = 0, g2 = 0, , , , g6 = 0, g7 = 0] = g;
  const last = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (startsWith(g, 0, 0, 0, 0, 0, 0xffff)) return { form: "the IPv4-mapped form", v4: last };
  if (startsWith(g, 0, 0, 0, 0, 0, 0)) return { form: "the IPv4-compatible form", v4: last };
  if (startsWith(g, 0x64, 0xff9b, 0, 0, 0, 0)) return { form: "the NAT64 form", v4: last };
  if (startsWith(g, 0x2002)) return { form: "the 6to4 form", v4: [g1 >> 8, g1 & 0xff, g2 >> 8, g2 & 0xff] };
  return null;
}

/** Labels of letters, digits and `-`, none empty, none starting or ending with `-`, at most 63 long. */
function checkHostname(host: string, input: string): HostCheck {
  if (host.length > 253)
    return refuse(`host ${q(input)} is longer than 253 characters`, "use a shorter hostname");
  for (const label of host.split(".")) {
    const refused = checkLabel(label, input);
    if (refused) return refused;
  }
  const lower = host.toLowerCase();
  if (METADATA_NAMES.has(lower) || lower.endsWith(".metadata.google.internal"))
    return refuse(
      `${q(input)} is a cloud instance metadata name`,
      "a mirror list never needs the instance metadata service; remove the host",
    );
  return { ok: true };
}

/** One label of a hostname; null when it is fine. */
function checkLabel(label: string, input: string): HostCheck | null {
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
  return null;
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
  const textRefused = checkHostText(input);
  if (textRefused) return textRefused;
  const split = splitPort(input);
  if (!split)
    return refuse(
      `host ${q(input)} is not host[:port]`,
      "write IPv6 addresses in brackets ([fd00::1]:5000) and at most one :port",
    );
  const { host, bracketed, port } = split;
  if (port !== null && !/^\d{1,5}$/.test(port))
    return refuse(`host ${q(input)} has an invalid port`, PORT_HINT);
  if (port !== null && (Number(port) < 1 || Number(port) > 65535))
    return refuse(`host ${q(input)} has an invalid port`, PORT_HINT);
  if (bracketed) return checkBracketed(host, input);
  if (host === "")
    return refuse(`host ${q(input)} is empty`, "write a hostname such as registry.example.com");
  if (looksNumeric(host)) return checkNumeric(host, input);
  return checkHostname(host, input);
}

const PORT_HINT = "a port is a number from 1 to 65535";

/** Refuses an empty host, spaces and control characters, and credentials; null when none. */
function checkHostText(input: string): HostCheck | null {
  if (input === "") return refuse("the host is empty", "write a hostname such as registry.example.com");
  if (/[^\x21-\x7e\u00a0-\uffff]/.test(input))
    return refuse(
      `host ${q(input)} contains a space or control character`,
      "write the host without spaces, tabs, newlines or control characters",
    );
  if (input.includes("@"))
    return refuse(
      `host ${q(input.replace(/^.*@/, "***@"))} carries credentials (user@host)`,
      "never write credentials into the list; give them through the registry-credentials or docker-hub-token inputs",
    );
  return null;
}

/** `[address]`: an IPv6 address without a zone, checked as an address. */
function checkBracketed(host: string, input: string): HostCheck {
  if (host.includes("%"))
    return refuse(`host ${q(input)} has an IPv6 zone`, "name the registry by an address without a %zone");
  const groups = parseIPv6(host);
  if (!groups)
    return refuse(`host ${q(input)} is not a valid IPv6 address`, "check the address between [ and ]");
  return checkIPv6(groups, host);
}

/** A host a URL parser reads as IPv4: only the dotted-decimal form, checked as an address. */
function checkNumeric(host: string, input: string): HostCheck {
  const quad = parseDottedQuad(host);
  if (quad) return checkIPv4(quad, host);
  const decoded = decodedIPv4(host);
  return refuse(
    `host ${q(input)} is not a dotted-decimal IPv4 address${decoded && decoded !== host ? ` (a URL parser reads it as ${decoded})` : ""}`,
    "write an IPv4 address as four decimal numbers 0-255 without leading zeros, e.g. 10.0.0.5",
  );
}

// --- crane's plain-HTTP rule -------------------------------------------------------------------------

/*
 * A faithful port of go-containerregistry pkg/name/registry.go `Registry.Scheme()` (the branch without
 * `name.Insecure`, which ecr-mirror never sets), read at commit 3f4ff3c (2026-08):
 *   isRFC1918(): `net.ParseIP(strings.Split(name, ":")[0])` inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16
 *   `strings.HasPrefix(name, "localhost:")` (a bare `localhost`, without a port, is https)
 *   reLocal        `.*\.localhost(?::\d{1,5})?$`
 *   reLoopback     `^127\.0\.0\.1(?::\d{1,5})?$`
 *   reipv6Loopback `^(::1|\[::1\](?::\d{1,5})?)$`
 * Everything else is https. Go's matching is case-sensitive, and so is this. "http" does not mean plain
 * HTTP: crane pings https first and falls back to http (pkg/v1/remote/transport/ping.go), without
 * skipping certificate checks anywhere else. src/registry/scheme.ts applies the same order in process.
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

/** Whether crane falls back to plain HTTP for `host[:port]` when HTTPS gets no answer (`Registry.Scheme()` is "http"). */
export function fallsBackToHttp(host: string): boolean {
  return (
    isRFC1918(host) ||
    host.startsWith("localhost:") ||
    RE_LOCAL.test(host) ||
    RE_LOOPBACK.test(host) ||
    RE_IPV6_LOOPBACK.test(host)
  );
}

// --- URLs ----------------------------------------------------------------------------------------------

export type UrlCheck =
  | { ok: true; scheme: string; host: string; path: string }
  | { ok: false; reason: string; hint: string };

export const PLAIN_HTTP_REASON =
  "plain http:// is accepted only for loopback and private (RFC 1918) hosts: crane would need --insecure, which also disables certificate checks on the push to ECR";
export const PLAIN_HTTP_HINT =
  "use https://, or reach the registry by a loopback or private address (10.x, 172.16-31.x, 192.168.x, localhost:PORT)";

/**
 * A URL the list or an input gives (`https://host[:port]/path`), checked on its raw text: no credentials
 * (`user:secret@`, never echoed), a host checkHost allows, and `http://` only where crane speaks plain HTTP
 * by its own rule. The raw authority is checked, not what a URL parser makes of it (which would silently
 * turn `0xa9fea9fe` into 169.254.169.254, or drop a tab).
 */
export function checkUrl(url: string, schemes: readonly string[]): UrlCheck {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
  const scheme = m?.[1]?.toLowerCase() ?? "";
  if (!m || !schemes.includes(scheme))
    return {
      ok: false,
      reason: `${quoteValue(url.replace(/\/\/[^/@]*@/, "//***@"))} is not a ${schemes.map((s) => `${s}://`).join(" or ")} URL`,
      hint: `write ${schemes[0]}://host[:port]`,
    };
  const authority = m[2] ?? "";
  if (authority.includes("@"))
    return {
      ok: false,
      reason: `the URL ${quoteValue(`${scheme}://***@${authority.slice(authority.lastIndexOf("@") + 1)}`)} carries credentials (user:password@)`,
      hint: "never write credentials into a URL: give them through the registry-credentials or docker-hub-token inputs (ECR_MIRROR_REGISTRY_CREDENTIALS on the command line)",
    };
  const host = checkHost(authority);
  if (!host.ok) return host;
  if (scheme === "http" && !fallsBackToHttp(authority))
    return { ok: false, reason: `${quoteValue(url)}: ${PLAIN_HTTP_REASON}`, hint: PLAIN_HTTP_HINT };
  return { ok: true, scheme, host: authority, path: m[3] ?? "" };
}

/** The `registry-url` input and the CLI's `--registry-url` / `--target URL`: `http(s)://host[:port]`, nothing more. */
export function registryUrlProblem(url: string): { reason: string; hint: string } | null {
  const checked = checkUrl(url, ["https", "http"]);
  if (!checked.ok) return checked;
  if (checked.path !== "" && checked.path !== "/")
    return {
      reason: `${quoteValue(url)} has a path, query or fragment`,
      hint: "give the registry as http(s)://host[:port]; repositories are named by the list's prefixes",
    };
  return null;
}
