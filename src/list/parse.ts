/**
 * Reads a mirror-list file into the typed `MirrorList`, or into located problems. Pure: the text
 * comes in, values come out; the caller reads the file and prints or annotates the problems.
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  Parser,
  parseAllDocuments,
  type YAMLMap,
} from "yaml";
import { checkHost, checkUrl } from "./address-policy.js";
import type {
  ChartEntry,
  ChartImageDiscovery,
  ChartRange,
  ImageEntry,
  ImageReference,
  ListProblem,
  Location,
  MirrorList,
  RepositorySettings,
  TagMutability,
  Target,
  Upstream,
} from "./model.js";
import {
  CHART_VERSION,
  chartTag,
  defaultUpstreamPrefix,
  repositoryNameProblem,
  type TargetType,
} from "./naming.js";
import { hideUserinfo, quoteValue, safeMessage } from "./quote.js";
import {
  formatReference,
  isValidDomain,
  isValidTag,
  parseReference,
  referenceName,
  validateDigest,
} from "./reference.js";
import { mirrorListDefaults as defaults, mirrorListSchema } from "./schema.js";
import { parseConstraint } from "./semver.js";
import { type SchemaNode, validateStructure } from "./validate-structure.js";

export const DEFAULT_IMAGE_PREFIX: string = defaults["target.imagePrefix"];

/**
 * The largest mirror list read: 2 MiB. A 5000-image list of one reference a line weighs 220 KiB, the same list
 * as objects with three tags and a platform each 560 KiB; a 2 MiB list (50 000 references) parses in about 4 s
 * within 300 MB of memory. With MAX_LIST_ITEMS, MAX_DEPTH and the alias bound, the worst 2 MiB input measured
 * (99 990 duplicate keys) takes 5 s and under 500 MB.
 */
export const MAX_LIST_BYTES = 2 * 1024 * 1024;

/** The deepest nesting read (mappings and lists inside one another); the schema itself needs 7, chart values a few more. */
export const MAX_DEPTH = 64;

/** A value as a message shows it: quoted, escaped, credentials in a URL hidden. */
const q = (value: string): string => quoteValue(hideUserinfo(value));
export const DEFAULT_CHART_PREFIX: string = defaults["target.chartPrefix"];

/** Repository settings when the list gives none: ECR's own defaults (mutable tags, AES256, no scanning). */
export const DEFAULT_REPOSITORY_SETTINGS: Readonly<RepositorySettings> = Object.freeze<RepositorySettings>({
  imageTagMutability: defaults["target.repositorySettings.imageTagMutability"],
  imageTagMutabilityExclusionFilters: [],
  scanOnPush: defaults["target.repositorySettings.scanOnPush"],
  encryption: { type: defaults["target.repositorySettings.encryption.type"], kmsKey: null },
  tags: {},
  lifecyclePolicy: null,
  repositoryPolicy: null,
});

export interface ParseResult {
  /** The list, or null when any error was found (warnings alone keep it). */
  list: MirrorList | null;
  /** Every problem, errors and warnings, in file order. */
  problems: ListProblem[];
}

class Problems {
  readonly items: ListProblem[] = [];
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}
  at(offset: number): Location {
    const pos = this.lines.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col };
  }
  locate(node: unknown, fallback = 0): Location {
    const range = (node as Node | null | undefined)?.range;
    return this.at(range ? range[0] : fallback);
  }
  error(where: Location, message: string, hint?: string): void {
    this.items.push({ ...where, severity: "error", message, ...(hint ? { hint } : {}) });
  }
  warn(where: Location, message: string, hint?: string): void {
    this.items.push({ ...where, severity: "warning", message, ...(hint ? { hint } : {}) });
  }
  get hasErrors(): boolean {
    return this.items.some((p) => p.severity === "error");
  }
}

function get(map: unknown, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  const pair = (map as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key);
  return (pair?.value ?? undefined) as Node | undefined;
}

function keyNode(map: unknown, key: string): Node | undefined {
  if (!isMap(map)) return undefined;
  return (map as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key)?.key as Node | undefined;
}

function str(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === "string" ? node.value : undefined;
}

function bool(node: unknown): boolean | undefined {
  return isScalar(node) && typeof node.value === "boolean" ? node.value : undefined;
}

function strings(node: unknown): { value: string; node: Node }[] {
  if (!isSeq(node)) return [];
  return node.items.flatMap((item) =>
    isScalar(item) && typeof item.value === "string" ? [{ value: item.value, node: item as Node }] : [],
  );
}

/** Parses and validates a mirror list. `file` is the path shown in every problem. */
export function parseMirrorList(text: string, file: string): ParseResult {
  const first = { file, line: 1, column: 1, severity: "error" as const };
  if (text.length > MAX_LIST_BYTES) {
    return {
      list: null,
      problems: [
        {
          ...first,
          message: `the mirror list is larger than ${MAX_LIST_BYTES / 1024 / 1024} MiB (${text.length} characters)`,
          hint: "a list of 5000 images weighs about 250 KiB: split the list, or look for generated or pasted content",
        },
      ],
    };
  }
  const hostile = prescan(text);
  if (hostile) {
    const lines = new LineCounter();
    for (let i = text.indexOf("\n"); i >= 0 && i < hostile.offset; i = text.indexOf("\n", i + 1))
      lines.addNewLine(i + 1);
    const pos = lines.linePos(hostile.offset);
    return { list: null, problems: [{ ...first, line: pos.line, column: pos.col, ...hostile.problem }] };
  }
  try {
    return parseText(text, file);
  } catch (e) {
    // The yaml library catches its own stack overflows; this is the net for any other.
    if (!(e instanceof RangeError)) throw e;
    return {
      list: null,
      problems: [
        {
          ...first,
          message: `the mirror list cannot be read: it is nested too deeply (${MAX_DEPTH} levels at most)`,
          hint: "a mirror list needs a few levels of nesting; look for generated or pasted content",
        },
      ],
    };
  }
}

/** Alias-like tokens (`*name`) beyond which the text is refused before the YAML parser builds them all. */
const MAX_ALIAS_TOKENS = 1000;
/**
 * Lines plus flow separators (`,`) at most: a bound on the nodes the YAML parser builds (its memory, and its
 * duplicate-key check, which is quadratic). A 5000-image list has 5000 to 25 000.
 */
export const MAX_LIST_ITEMS = 100_000;
/** Problems listed one by one; the rest are counted in one last line. */
const MAX_PROBLEMS = 200;
/** The scan's own depth bound: above MAX_DEPTH, so that checkNodes reports moderate nesting at its exact node. */
const PRESCAN_DEPTH = 2 * MAX_DEPTH;
const DEEP_HINT = "a mirror list needs a few levels of nesting; look for generated or pasted content";

/**
 * A linear scan before the YAML parser, which needs up to 1 GB for 2 MiB of `[[[[…` or `- - - …` or `*a,*a,…`:
 * refuses nesting deeper than PRESCAN_DEPTH in brackets (counted everywhere, quoted JSON included: no real list comes
 * near) or in block indicators on one line, and more alias-like tokens than any list could mean.
 */
function prescan(text: string): { offset: number; problem: { message: string; hint: string } } | null {
  let depth = 0;
  let aliases = 0;
  let lineStart = true;
  let indicators = 0;
  let items = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 0x0a || c === 0x2c) && ++items > MAX_LIST_ITEMS)
      return {
        offset: i,
        problem: {
          message: `the mirror list holds more than ${MAX_LIST_ITEMS} lines and list items`,
          hint: "a list of 5000 images has 5000 to 25 000: split the list, or look for generated or pasted content",
        },
      };
    if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > PRESCAN_DEPTH)
        return {
          offset: i,
          problem: {
            message: `the mirror list is nested too deeply here (${MAX_DEPTH} levels at most)`,
            hint: DEEP_HINT,
          },
        };
    } else if (c === 0x5d || c === 0x7d) depth = Math.max(0, depth - 1);
    else if (c === 0x2a) {
      const before = i === 0 ? 0x20 : text.charCodeAt(i - 1);
      if (
        (before === 0x20 || before === 0x0a || before === 0x2c || before === 0x5b || before === 0x09) &&
        ++aliases > MAX_ALIAS_TOKENS
      )
        return {
          offset: i,
          problem: {
            message: `the mirror list holds more than ${MAX_ALIAS_TOKENS} YAML aliases (*name); aliases are not supported`,
            hint: "write the values out in full",
          },
        };
    }
    // Block indicators (`- `, `? `, `: `) opening a line: each is a level.
    if (c === 0x0a) {
      lineStart = true;
      indicators = 0;
    } else if (lineStart) {
      if (
        (c === 0x2d || c === 0x3f || c === 0x3a) &&
        (text.charCodeAt(i + 1) === 0x20 || text.charCodeAt(i + 1) === 0x09)
      ) {
        if (++indicators > PRESCAN_DEPTH)
          return {
            offset: i,
            problem: {
              message: `the mirror list is nested too deeply here (${MAX_DEPTH} levels at most)`,
              hint: DEEP_HINT,
            },
          };
      } else if (c !== 0x20 && c !== 0x09) lineStart = false;
    }
  }
  return null;
}

function parseText(text: string, file: string): ParseResult {
  const lines = new LineCounter();
  const problems = new Problems(file, lines);
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const all = Array.isArray(docs) ? docs : [];
  let tooDeep = false;
  for (const doc of all) {
    for (const e of doc.errors) {
      if (/Maximum call stack size exceeded/.test(e.message)) {
        if (!tooDeep)
          problems.error(
            problems.at(e.pos[0]),
            `the mirror list is nested too deeply (${MAX_DEPTH} levels at most)`,
            "a mirror list needs a few levels of nesting; look for generated or pasted content",
          );
        tooDeep = true;
        continue;
      }
      const quote = /^Missing closing (["'])quote/.exec(e.message)?.[1];
      const opened = quote ? unclosedQuoteOffset(text, quote, e.pos[0]) : null;
      if (opened !== null) {
        problems.error(
          problems.at(opened),
          `this ${quote === '"' ? "double" : "single"} quote is never closed`,
          `close it on the same line: ${quote}value${quote}`,
        );
        continue;
      }
      problems.error(problems.at(e.pos[0]), yamlMessage(e.message), yamlHint(e.code));
    }
    for (const w of doc.warnings) {
      // A core tag that does not fit its value (`!!int x`) is an error; any other tag is reported by checkNodes.
      const tag = /^Unresolved tag: (\S+)/.exec(w.message)?.[1];
      if (w.code === "TAG_RESOLVE_FAILED" && tag !== undefined) {
        if (CORE_TAGS.has(tag)) problems.error(problems.at(w.pos[0]), yamlMessage(w.message), TAG_HINT);
      } else problems.warn(problems.at(w.pos[0]), yamlMessage(w.message));
    }
    if (!tooDeep) checkNodes(doc.contents, problems);
  }
  if (all.length > 1) {
    problems.error(
      problems.locate(all[1]?.contents, all[1]?.range[0] ?? 0),
      "the file holds more than one YAML document",
      "keep one list per file: remove the second '---'",
    );
  }
  const doc = all[0];
  if (problems.hasErrors) return done(problems, null);
  const root = doc?.contents ?? null;
  if (root === null || (isScalar(root) && root.value === null)) {
    problems.error(
      problems.at(0),
      "the mirror list is empty",
      "start with `images:` and a list of references, e.g. `- redis:7.0`",
    );
    return done(problems, null);
  }
  for (const p of validateStructure(root, mirrorListSchema as SchemaNode)) {
    problems.error(problems.at(p.offset), p.message, p.hint);
  }
  // The semantic checks below read only well-typed nodes, so structural errors and these are reported together.
  const target = readTarget(get(root, "target"), problems);
  const upstreams = readUpstreams(get(root, "upstreams"), target, problems);
  const images = readImages(get(root, "images"), target, upstreams, problems);
  const { charts, chartRanges } = readCharts(get(root, "charts"), target, problems);
  checkRepositoryClashes(images, [...charts, ...chartRanges], problems);
  if (images.length === 0 && charts.length === 0 && chartRanges.length === 0 && !problems.hasErrors) {
    problems.error(
      problems.at(0),
      "the mirror list names no images and no charts",
      "add `images:` or `charts:`",
    );
  }
  // Every host an image uses is redirected on the nodes; hosts listed only in `upstreams` are too.
  const usedUpstreams = [...upstreams.values()].filter(
    (u) => u.location !== null || images.some((i) => i.reference.domain === u.host),
  );
  usedUpstreams.sort((a, b) => a.host.localeCompare(b.host));
  if (problems.hasErrors) return done(problems, null);
  return done(problems, { file, target, upstreams: usedUpstreams, images, charts, chartRanges });
}

function done(problems: Problems, list: MirrorList | null): ParseResult {
  const sorted = [...problems.items].sort((a, b) => a.line - b.line || a.column - b.column);
  const shown = sorted.slice(0, MAX_PROBLEMS).map((p) => ({
    ...p,
    message: safeMessage(p.message),
    ...(p.hint ? { hint: safeMessage(p.hint) } : {}),
  }));
  const rest = sorted.slice(MAX_PROBLEMS);
  const next = rest[0];
  if (next)
    shown.push({
      file: next.file,
      line: next.line,
      column: next.column,
      severity: rest.some((p) => p.severity === "error") ? "error" : "warning",
      message: `and ${rest.length} more problems from here on`,
      hint: "fix the ones above first; the same mistake is often repeated",
    });
  return { list, problems: shown };
}

/**
 * Where an unclosed quote opens. The yaml library reports it at the end of the file (the quoted scalar runs on
 * to there); the scalar's own token starts at the quote.
 */
function unclosedQuoteOffset(text: string, quote: string, before: number): number | null {
  const type = quote === '"' ? "double-quoted-scalar" : "single-quoted-scalar";
  let found: number | null = null;
  const stack: unknown[] = [...new Parser().parse(text)];
  while (stack.length > 0) {
    const token = stack.pop();
    if (token === null || typeof token !== "object") continue;
    const t = token as { type?: unknown; offset?: unknown };
    if (
      t.type === type &&
      typeof t.offset === "number" &&
      t.offset <= before &&
      (found === null || t.offset > found)
    )
      found = t.offset;
    for (const v of Object.values(token)) if (v !== null && typeof v === "object") stack.push(v);
  }
  return found;
}

/**
 * Refuses what the rest of the parser would misread: aliases (`*name`, which would be read as nothing, or
 * expanded into a bomb) and nesting deeper than MAX_DEPTH. Walks without recursion.
 */
function checkNodes(root: unknown, problems: Problems): void {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  const aliases: Node[] = [];
  const tagged: Node[] = [];
  const report = (nodes: Node[], what: (n: Node) => string, hint: string) => {
    nodes.sort((a, b) => (a.range?.[0] ?? 0) - (b.range?.[0] ?? 0));
    for (const n of nodes.slice(0, MAX_REPEATED)) problems.error(problems.locate(n), what(n), hint);
    if (nodes.length > MAX_REPEATED)
      problems.error(
        problems.locate(nodes[MAX_REPEATED]),
        `and ${nodes.length - MAX_REPEATED} more like it`,
        hint,
      );
  };
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    const tag = (node as { tag?: string } | null)?.tag;
    if (tag !== undefined && !CORE_TAGS.has(tag)) tagged.push(node as Node);
    if (isAlias(node)) {
      aliases.push(node);
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= MAX_DEPTH) {
      problems.error(
        problems.locate(node),
        `the mirror list is nested too deeply here (${MAX_DEPTH} levels at most)`,
        "a mirror list needs a few levels of nesting; look for generated or pasted content",
      );
      return;
    }
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        stack.push({ node: item.value, depth: depth + 1 });
        stack.push({ node: item.key, depth: depth + 1 });
      } else stack.push({ node: item, depth: depth + 1 });
    }
  }
  report(
    aliases,
    (n) =>
      `YAML aliases (${q(`*${(n as unknown as { source: string }).source}`)}) are not supported in a mirror list`,
    "write the value out in full where it is used",
  );
  report(
    tagged,
    (n) =>
      `the YAML tag ${q((n as { tag?: string }).tag!.replace(/^tag:yaml\.org,2002:/, "!!"))} is not supported`,
    TAG_HINT,
  );
}

/** YAML 1.2's core tags: `!!str 0123` keeps a value as text; every other tag (`!!binary`, `!!js/function`) is refused. */
const CORE_TAGS = new Set(
  ["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`),
);
const TAG_HINT =
  "remove the tag: a mirror list uses plain YAML values (!!str is allowed, to keep a value as text)";
/** Problems of one kind reported one by one, before a summary line. */
const MAX_REPEATED = 20;

function yamlMessage(message: string): string {
  // The yaml library appends " at line L, column C" and a code frame; we print the location ourselves.
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case "DUPLICATE_KEY":
      return "each key may appear once in a mapping; merge the two entries";
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    case "BAD_INDENT":
    case "MISSING_CHAR":
      return "check the indentation: list items under a key are indented by the same amount";
    default:
      return undefined;
  }
}

const MUTABILITY: readonly TagMutability[] = [
  "MUTABLE",
  "IMMUTABLE",
  "MUTABLE_WITH_EXCLUSION",
  "IMMUTABLE_WITH_EXCLUSION",
];

function readTarget(node: Node | undefined, problems: Problems): Target {
  const type = (str(get(node, "type")) ?? defaults["target.type"]) as TargetType;
  const registryNode = get(node, "registry");
  let registry = str(registryNode) ?? null;
  if (registry !== null) {
    if (/^https?:\/\//.test(registry)) {
      problems.error(
        problems.locate(registryNode),
        "target.registry is a host, not a URL",
        `write ${q(registry.replace(/^https?:\/\//, "").replace(/\/+$/, ""))}`,
      );
      registry = null;
    } else if (!isValidDomain(registry) || !checkHost(registry).ok) {
      const refused = checkHost(registry);
      problems.error(
        problems.locate(registryNode),
        refused.ok
          ? `target.registry ${q(registry)} is not a registry host`
          : `target.registry: ${refused.reason}`,
        refused.ok ? "expected host[:port], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com" : refused.hint,
      );
      registry = null;
    }
  }
  if (type === "oci" && registry === null && !registryNode) {
    problems.error(
      problems.locate(node),
      "a target of type oci needs target.registry",
      "add registry: harbor.example.com",
    );
  }
  return {
    type,
    region: str(get(node, "region")) ?? null,
    accountId: str(get(node, "accountId")) ?? null,
    registry,
    imagePrefix: str(get(node, "imagePrefix")) ?? DEFAULT_IMAGE_PREFIX,
    chartPrefix: str(get(node, "chartPrefix")) ?? DEFAULT_CHART_PREFIX,
    prune: bool(get(node, "prune")) ?? defaults["target.prune"],
    repositorySettings: readRepositorySettings(get(node, "repositorySettings"), problems),
  };
}

function readRepositorySettings(node: Node | undefined, problems: Problems): RepositorySettings {
  const modeNode = get(node, "imageTagMutability");
  const mode = (MUTABILITY as readonly string[]).includes(str(modeNode) ?? "")
    ? (str(modeNode) as TagMutability)
    : DEFAULT_REPOSITORY_SETTINGS.imageTagMutability;
  const filtersNode = get(node, "imageTagMutabilityExclusionFilters");
  const filters = strings(filtersNode).map((f) => f.value);
  if (mode.endsWith("_WITH_EXCLUSION") && filters.length === 0) {
    problems.error(
      problems.locate(modeNode),
      `${mode} needs imageTagMutabilityExclusionFilters`,
      'add imageTagMutabilityExclusionFilters: ["latest"] (wildcards allowed), or use MUTABLE or IMMUTABLE',
    );
  }
  if (!mode.endsWith("_WITH_EXCLUSION") && filtersNode) {
    problems.error(
      problems.locate(keyNode(node, "imageTagMutabilityExclusionFilters")),
      `imageTagMutabilityExclusionFilters only apply to MUTABLE_WITH_EXCLUSION and IMMUTABLE_WITH_EXCLUSION (the mode is ${mode})`,
      "set imageTagMutability: IMMUTABLE_WITH_EXCLUSION, or remove the filters",
    );
  }
  const encryptionNode = get(node, "encryption");
  const encType = (str(get(encryptionNode, "type")) ??
    DEFAULT_REPOSITORY_SETTINGS.encryption.type) as RepositorySettings["encryption"]["type"];
  const kmsKeyNode = get(encryptionNode, "kmsKey");
  const kmsKey = str(kmsKeyNode) ?? null;
  if (kmsKey !== null && encType === "AES256") {
    problems.error(
      problems.locate(kmsKeyNode),
      "encryption.kmsKey needs encryption.type KMS or KMS_DSSE",
      "set type: KMS, or remove kmsKey",
    );
  }
  const tagPairs: [string, string][] = [];
  const tagsNode = get(node, "tags");
  if (isMap(tagsNode)) {
    for (const pair of (tagsNode as YAMLMap).items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : "";
      const v = str(pair.value);
      if (k.length < 1 || k.length > 128)
        problems.error(problems.locate(pair.key), `resource tag key ${q(k)} must be 1 to 128 characters`);
      else if (k.toLowerCase().startsWith("aws:"))
        problems.error(problems.locate(pair.key), `resource tag key ${q(k)} uses the reserved prefix aws:`);
      if (v !== undefined) tagPairs.push([k, v]);
    }
  }
  // Own properties even for `__proto__`: an assignment would set the object's prototype instead.
  const tags: Record<string, string> = Object.fromEntries(tagPairs);
  return {
    imageTagMutability: mode,
    imageTagMutabilityExclusionFilters: filters,
    scanOnPush: bool(get(node, "scanOnPush")) ?? DEFAULT_REPOSITORY_SETTINGS.scanOnPush,
    encryption: { type: encType, kmsKey },
    tags,
    lifecyclePolicy: readPolicy(get(node, "lifecyclePolicy"), "lifecyclePolicy", "rules", problems),
    repositoryPolicy: readPolicy(get(node, "repositoryPolicy"), "repositoryPolicy", "Statement", problems),
  };
}

/** A policy document given as a mapping or a JSON string, returned as compact JSON text. */
function readPolicy(
  node: Node | undefined,
  name: string,
  requiredKey: string,
  problems: Problems,
): string | null {
  if (!node) return null;
  let value: unknown;
  if (isMap(node)) value = node.toJSON();
  else if (typeof str(node) === "string") {
    try {
      value = JSON.parse(str(node)!);
    } catch (e) {
      problems.error(
        problems.locate(node),
        `${name} is not valid JSON: ${(e as Error).message}`,
        "give the policy as a YAML mapping instead of a JSON string",
      );
      return null;
    }
  } else return null;
  if (
    typeof value !== "object" ||
    value === null ||
    Array.isArray(value) ||
    !Object.hasOwn(value, requiredKey)
  ) {
    problems.error(
      problems.locate(node),
      `${name} has no "${requiredKey}"`,
      name === "lifecyclePolicy"
        ? "an ECR lifecycle policy is { rules: [ … ] }"
        : 'an IAM policy document is { Version: "2012-10-17", Statement: [ … ] }',
    );
    return null;
  }
  return JSON.stringify(value);
}

function readUpstreams(node: Node | undefined, target: Target, problems: Problems): Map<string, Upstream> {
  const result = new Map<string, Upstream>();
  if (!isMap(node)) return result;
  for (const pair of (node as YAMLMap).items) {
    const keyLoc = problems.locate(pair.key);
    if (!isScalar(pair.key) || typeof pair.key.value !== "string") continue; // reported by the structure check
    let host = pair.key.value;
    if (/^[a-z]+:\/\//i.test(host)) {
      problems.error(
        keyLoc,
        `upstream ${q(host)} is a URL; upstreams are keyed by registry host`,
        `write ${q(
          hideUserinfo(host)
            .replace(/^[a-z]+:\/\//i, "")
            .replace(/\/.*$/, ""),
        )}`,
      );
      continue;
    }
    const hostRefused = checkHost(host);
    if (!hostRefused.ok) {
      problems.error(keyLoc, `upstream: ${hostRefused.reason}`, hostRefused.hint);
      continue;
    }
    if (!isValidDomain(host)) {
      problems.error(
        keyLoc,
        `upstream ${q(host)} is not a registry host`,
        "expected host[:port] as image names carry it, e.g. quay.io or registry.k8s.io",
      );
      continue;
    }
    if (host === "index.docker.io") host = "docker.io";
    if (result.has(host)) {
      problems.error(
        keyLoc,
        `upstream ${host} is listed twice (index.docker.io is docker.io)`,
        "merge the two entries",
      );
      continue;
    }
    const prefixNode = get(pair.value, "prefix");
    const prefix = str(prefixNode) ?? defaultUpstreamPrefix(host, target.imagePrefix);
    const prefixProblem = repositoryNameProblem(prefix, target.type);
    if (prefixProblem) {
      problems.error(
        problems.locate(prefixNode ?? pair.key),
        `upstream ${host} cannot land under ${q(prefix)}: ${prefixProblem}`,
        `give it a prefix of its own: upstreams: { "${host}": { prefix: "${target.imagePrefix}/${host
          .replace(/[^a-z0-9.]+/gi, "-")
          .replace(/^-|-$/g, "")
          .toLowerCase()}" } }`,
      );
    }
    const endpointNode = get(pair.value, "endpoint");
    let endpoint = str(endpointNode)?.replace(/\/+$/, "") ?? null;
    if (endpoint !== null) {
      const problem = endpointProblem(endpoint);
      if (problem) {
        problems.error(
          problems.locate(endpointNode),
          `upstream ${host} endpoint: ${problem.reason}`,
          problem.hint,
        );
        endpoint = null;
      }
    }
    result.set(host, {
      host,
      prefix,
      endpoint,
      redirect: bool(get(pair.value, "redirect")) ?? defaults["upstreams.<host>.redirect"],
      fallback: bool(get(pair.value, "fallback")) ?? defaults["upstreams.<host>.fallback"],
      location: keyLoc,
    });
  }
  return result;
}

/** A repository path as distribution's grammar writes it: components of [a-z0-9] joined by `.`, `_`, `__` or `-`. */
const REPOSITORY_PATH = /^(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** An upstream endpoint: an http(s) URL crane can reach without --insecure, whose path is a repository prefix. */
function endpointProblem(endpoint: string): { reason: string; hint: string } | null {
  const checked = checkUrl(endpoint, ["https", "http"]);
  if (!checked.ok) return checked;
  if (!REPOSITORY_PATH.test(checked.path))
    return {
      reason: `the path of ${q(endpoint)} is not a repository prefix`,
      hint: "an endpoint is https://host[:port] with an optional path of lower-case repository components (no query, no .., no %-escapes)",
    };
  return null;
}

function upstreamFor(host: string, target: Target, upstreams: Map<string, Upstream>): Upstream {
  let upstream = upstreams.get(host);
  if (!upstream) {
    upstream = {
      host,
      prefix: defaultUpstreamPrefix(host, target.imagePrefix),
      endpoint: null,
      redirect: defaults["upstreams.<host>.redirect"],
      fallback: defaults["upstreams.<host>.fallback"],
      location: null,
    };
    upstreams.set(host, upstream);
  }
  return upstream;
}

/** Where an image lands: its upstream (added to `upstreams` when new), the repository, and why it cannot, if so. */
function targetRepositoryOf(
  ref: ImageReference,
  target: Target,
  upstreams: Map<string, Upstream>,
): { upstream: Upstream; repository: string; problem: string | null } {
  const upstream = upstreamFor(ref.domain, target, upstreams);
  const repository = `${upstream.prefix}/${ref.path}`;
  return { upstream, repository, problem: repositoryNameProblem(repository, target.type) };
}

export type ImageEntryResult =
  | { ok: true; entry: ImageEntry; upstreams: Upstream[] }
  | { ok: false; error: string; hint?: string };

/**
 * An image reference found outside the list (in a chart's manifests) turned into the entry the list
 * would make of it: normalised, mapped to its target repository with the list's upstream prefixes.
 * Without a tag or digest it is `:latest`, as the kubelet pulls it. `upstreams` is the list's upstreams
 * plus the reference's host when the list had none for it (nodes redirect every host an image uses).
 */
export function imageEntryFor(reference: string, list: MirrorList, location: Location): ImageEntryResult {
  const parsed = parseReference(reference);
  if (!parsed.ok) return { ok: false, error: parsed.error, ...(parsed.hint ? { hint: parsed.hint } : {}) };
  const refused = checkHost(parsed.value.domain);
  if (!refused.ok) return { ok: false, error: refused.reason, hint: refused.hint };
  const ref: ImageReference =
    parsed.value.tag === null && parsed.value.digest === null
      ? { ...parsed.value, tag: "latest" }
      : parsed.value;
  const upstreams = new Map(list.upstreams.map((u) => [u.host, u]));
  const { repository, problem } = targetRepositoryOf(ref, list.target, upstreams);
  if (problem) {
    return {
      ok: false,
      error: `it cannot land in the target: ${problem}`,
      hint: `give ${ref.domain} a prefix of its own under upstreams:`,
    };
  }
  const all = [...upstreams.values()].sort((a, b) => a.host.localeCompare(b.host));
  return {
    ok: true,
    entry: { source: formatReference(ref), reference: ref, repository, platforms: [], location },
    upstreams: all,
  };
}

interface Wanted {
  tag: string | null;
  digest: string | null;
  node: Node;
}

function readImages(
  node: Node | undefined,
  target: Target,
  upstreams: Map<string, Upstream>,
  problems: Problems,
): ImageEntry[] {
  const entries: ImageEntry[] = [];
  const byKey = new Map<string, ImageEntry>();
  const byRepository = new Map<string, ImageEntry>();
  if (!isSeq(node)) return entries;
  for (const item of node.items) {
    const isObject = isMap(item);
    const sourceNode = isObject ? get(item, "source") : (item as Node);
    const source = str(sourceNode);
    if (source === undefined) continue; // structural problem, already reported
    if (hideUserinfo(source) !== source) {
      problems.error(
        problems.locate(sourceNode),
        `image reference ${q(source)} carries credentials (user:password@)`,
        "never write credentials into the list: give them through the registry-credentials or docker-hub-token inputs",
      );
      continue;
    }
    const parsed = parseReference(source);
    if (!parsed.ok) {
      problems.error(
        problems.locate(sourceNode),
        `invalid image reference ${q(source)}: ${parsed.error}`,
        parsed.hint,
      );
      continue;
    }
    const ref = parsed.value;
    const domainRefused = checkHost(ref.domain);
    if (!domainRefused.ok) {
      problems.error(
        problems.locate(sourceNode),
        `image ${q(source)}: ${domainRefused.reason}`,
        domainRefused.hint,
      );
      continue;
    }
    const wanted: Wanted[] = [];
    if (ref.tag !== null || ref.digest !== null)
      wanted.push({ tag: ref.tag, digest: ref.digest, node: sourceNode as Node });
    const platformsNode = isObject ? get(item, "platforms") : undefined;
    const platforms = strings(platformsNode).map((p) => p.value);
    if (isObject) {
      for (const t of strings(get(item, "tags"))) {
        if (!isValidTag(t.value)) {
          problems.error(
            problems.locate(t.node),
            `invalid tag ${q(t.value)}`,
            "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
          );
        } else wanted.push({ tag: t.value, digest: null, node: t.node });
      }
      for (const d of strings(get(item, "digests"))) {
        const problem = validateDigest(d.value);
        if (problem) problems.error(problems.locate(d.node), `invalid digest ${q(d.value)}: ${problem}`);
        else wanted.push({ tag: null, digest: d.value, node: d.node });
      }
      if (ref.tag !== null && get(item, "tags")) {
        problems.error(
          problems.locate(sourceNode),
          `source ${q(source)} carries a tag and the entry also lists tags`,
          "put every tag in tags: and leave the source without one",
        );
      }
    }
    if (wanted.length === 0) {
      problems.error(
        problems.locate(sourceNode),
        `${q(source)} names no tag or digest`,
        isObject
          ? 'add tags: ["1.2.3"] or digests: ["sha256:…"]'
          : `write ${q(`${source}:<tag>`)} (ecr-mirror never assumes :latest; write :latest if you mean it)`,
      );
      continue;
    }
    if (platforms.length > 0 && wanted.some((w) => w.digest !== null)) {
      problems.error(
        problems.locate(keyNode(item, "platforms")),
        "platforms can only filter tag-only entries",
        "filtering writes a new single-platform manifest whose digest differs from the pinned one, so a digest-pinned pull would fail on the node; remove platforms or the digest",
      );
    }
    const { upstream, repository, problem: nameProblem } = targetRepositoryOf(ref, target, upstreams);
    if (nameProblem) {
      const hostIsTheProblem = repositoryNameProblem(upstream.prefix, target.type) !== null;
      problems.error(
        problems.locate(sourceNode),
        hostIsTheProblem
          ? `"${ref.domain}" cannot be nested in an ECR repository name: ${nameProblem}`
          : `${q(source)} cannot land in the target: ${nameProblem}`,
        hostIsTheProblem
          ? `give the upstream a prefix of its own: upstreams: { "${ref.domain}": { prefix: "${target.imagePrefix}/${ref.domain
              .replace(/[^a-zA-Z0-9.]+/g, "-")
              .replace(/^-|-$/g, "")
              .toLowerCase()}" } }`
          : repository.length > 256
            ? "shorten target.imagePrefix or the upstream's prefix"
            : "ECR allows lower-case letters, digits and single '.', '_' or '-' between them",
      );
      continue;
    }
    for (const w of wanted) {
      const entryRef: ImageReference = { domain: ref.domain, path: ref.path, tag: w.tag, digest: w.digest };
      const entry: ImageEntry = {
        source: formatReference(entryRef),
        reference: entryRef,
        repository,
        platforms,
        location: problems.locate(w.node),
      };
      const owner = byRepository.get(repository);
      if (owner && referenceName(owner.reference) !== referenceName(entryRef)) {
        problems.error(
          entry.location,
          `${referenceName(entryRef)} and ${referenceName(owner.reference)} (line ${owner.location.line}) both land in repository ${repository}`,
          "give one of the upstreams its own prefix under upstreams:",
        );
        continue;
      }
      byRepository.set(repository, entry);
      const key = `${repository}${w.tag !== null ? `:${w.tag}` : `@${w.digest}`}`;
      const previous = byKey.get(key);
      if (previous) {
        if (previous.reference.digest !== entryRef.digest) {
          problems.error(
            entry.location,
            `${key} is pinned differently here and on line ${previous.location.line}`,
            "keep one entry per tag; pin it to one digest or none",
          );
        } else if (previous.platforms.join() !== platforms.join()) {
          problems.error(
            entry.location,
            `${key} is listed here and on line ${previous.location.line} with different platforms`,
            "keep one entry per tag",
          );
        }
        continue; // a true duplicate merges into the first
      }
      byKey.set(key, entry);
      entries.push(entry);
    }
  }
  return entries;
}

function readCharts(
  node: Node | undefined,
  target: Target,
  problems: Problems,
): { charts: ChartEntry[]; chartRanges: ChartRange[] } {
  const entries: ChartEntry[] = [];
  const ranges: ChartRange[] = [];
  const byKey = new Map<string, ChartEntry>();
  if (!isSeq(node)) return { charts: entries, chartRanges: ranges };
  for (const item of node.items) {
    const sourceNode = get(item, "source");
    const raw = str(sourceNode);
    if (raw === undefined) continue;
    const nameNode = get(item, "name");
    let name = str(nameNode);
    let kind: ChartEntry["kind"];
    let source: string;
    const urlRefused = checkUrl(raw, ["https", "http", "oci"]);
    if (!urlRefused.ok) {
      problems.error(problems.locate(sourceNode), `chart source: ${urlRefused.reason}`, urlRefused.hint);
      continue;
    }
    if (raw.startsWith("oci://")) {
      kind = "oci";
      const rest = raw.slice("oci://".length).replace(/\/+$/, "");
      const parsed = parseReference(rest);
      if (
        !parsed.ok ||
        !rest.includes("/") ||
        (parsed.value.domain === "docker.io" && !rest.startsWith("docker.io/"))
      ) {
        problems.error(
          problems.locate(sourceNode),
          `invalid OCI chart reference ${q(raw)}${parsed.ok ? ": it names no registry host" : `: ${parsed.error}`}`,
          "expected oci://host/path/name, e.g. oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
        );
        continue;
      }
      if (parsed.value.tag !== null || parsed.value.digest !== null) {
        problems.error(
          problems.locate(sourceNode),
          `the OCI chart reference ${q(raw)} carries a version`,
          "leave the version out of source and list it under versions:",
        );
        continue;
      }
      source = `oci://${referenceName(parsed.value)}`;
      const last = parsed.value.path.split("/").pop()!;
      if (name !== undefined && name !== last) {
        problems.error(
          problems.locate(nameNode),
          `name ${q(name)} differs from the chart named by the OCI reference (${q(last)})`,
          "remove name: for OCI charts, or use target: to store it under another name",
        );
        continue;
      }
      name = last;
    } else {
      kind = "http";
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        problems.error(
          problems.locate(sourceNode),
          `${q(raw)} is not a URL`,
          "expected an HTTP chart repository URL or oci://host/path/name",
        );
        continue;
      }
      if (url.search || url.hash) {
        problems.error(
          problems.locate(sourceNode),
          "a chart repository URL has no query or fragment",
          "give the repository's base URL, where index.yaml lives",
        );
        continue;
      }
      source = url.toString().replace(/\/+$/, "");
      if (source.endsWith("/index.yaml")) {
        problems.error(
          problems.locate(sourceNode),
          "give the chart repository's base URL, not its index.yaml",
          `write ${q(source.slice(0, -"/index.yaml".length))}`,
        );
        continue;
      }
      if (name === undefined) {
        problems.error(
          problems.locate(sourceNode),
          "a chart from an HTTP repository needs name:",
          "add name: <chart name> as it appears in the repository's index.yaml",
        );
        continue;
      }
      const nameRefused = chartNameProblem(name);
      if (nameRefused) {
        problems.error(
          problems.locate(nameNode),
          `chart name ${q(name)} ${nameRefused}`,
          "give the chart's name as its Chart.yaml and the repository's index.yaml spell it (letters, digits, '.', '_', '-')",
        );
        continue;
      }
    }
    const targetNode = get(item, "target");
    const targetName = str(targetNode) ?? name;
    const repository = `${target.chartPrefix}/${targetName}`;
    const nameProblem = repositoryNameProblem(repository, target.type);
    if (nameProblem) {
      problems.error(
        problems.locate(nameNode ?? sourceNode),
        `chart ${q(name)} cannot land in the target: ${nameProblem}`,
        "use target: to give it a valid repository name",
      );
      continue;
    }
    if (kind === "http" && targetNode && targetName.split("/").pop() !== name) {
      // helm push names the repository after the chart (`<remote>/<name from Chart.yaml>`): it can
      // nest a chart deeper, but never rename it.
      problems.error(
        problems.locate(targetNode),
        `a chart from an HTTP repository cannot be renamed: helm push stores ${name} as <prefix>/${name}`,
        `keep the name as the last part and nest it instead, e.g. target: ${targetName.replace(/[^a-z0-9._-]+/g, "-")}/${name}`,
      );
      continue;
    }
    const images = readChartImages(item, problems);
    /** Another chart already landing in this repository, reported at `location`; true when there is one. */
    const clashes = (location: Location): boolean => {
      const other = [...entries, ...ranges].find(
        (e) => e.repository === repository && (e.source !== source || e.name !== name),
      );
      if (!other) return false;
      problems.error(
        location,
        `charts ${name} from ${source} and ${other.name} from ${other.source} (line ${other.location.line}) both land in ${repository}`,
        "give one chart its own repository name with target:",
      );
      return true;
    };
    const versionsNode = get(item, "versions");
    const rangeNode = get(item, "versionRange");
    const newestNode = get(item, "newest");
    if (!versionsNode && !rangeNode) {
      problems.error(
        problems.locate(sourceNode),
        `chart ${name} names no version`,
        'add versions: ["1.2.3"] or versionRange: ">=1.2.0 <2.0.0"',
      );
      continue;
    }
    if (newestNode && !rangeNode) {
      problems.error(
        problems.locate(keyNode(item, "newest")),
        "newest: only applies to a versionRange",
        "add versionRange:, or remove newest:",
      );
    }
    const range = str(rangeNode);
    if (range !== undefined) {
      const parsed = parseConstraint(range);
      if (!parsed.ok) {
        problems.error(
          problems.locate(rangeNode),
          `version range ${q(range)} is not valid: ${parsed.error}`,
          'write it as helm reads --version: ">=4.10.0 <5.0.0", "~4.11", "^1.2 || ^2.0", "4.x"',
        );
      } else if (!clashes(problems.locate(rangeNode))) {
        const newest = isScalar(newestNode) && typeof newestNode.value === "number" ? newestNode.value : null;
        ranges.push({
          kind,
          source,
          name,
          repository,
          range,
          newest,
          images,
          location: problems.locate(rangeNode),
        });
      }
    }
    for (const v of strings(versionsNode)) {
      const location = problems.locate(v.node);
      if (!CHART_VERSION.test(v.value)) {
        problems.error(
          location,
          `chart version ${q(v.value)} is not a semantic version`,
          parseConstraint(v.value).ok
            ? `versions: lists exact versions; for a range write versionRange: ${q(v.value)}`
            : "Helm chart versions are SemVer 2, e.g. 4.11.3 or 1.0.0-rc.1",
        );
        continue;
      }
      const tag = chartTag(v.value);
      if (!isValidTag(tag)) {
        problems.error(location, `chart version ${q(v.value)} cannot be stored as an OCI tag (${q(tag)})`);
        continue;
      }
      const entry: ChartEntry = { kind, source, name, repository, version: v.value, tag, location, images };
      const key = `${repository}:${tag}`;
      const previous = byKey.get(key);
      if (previous) {
        if (previous.source !== source || previous.name !== name) {
          problems.error(
            location,
            `${repository}:${tag} would hold both ${name} from ${source} and ${previous.name} from ${previous.source} (line ${previous.location.line})`,
            "give one chart its own repository name with target:",
          );
        }
        continue;
      }
      if (clashes(location)) continue;
      byKey.set(key, entry);
      entries.push(entry);
    }
  }
  return { charts: entries, chartRanges: ranges };
}

/**
 * Helm's rule for a chart name: pkg/chart/metadata.go `Validate` refuses `.`, `..` and any name that is not its
 * own `filepath.Base` (a `/`), and pkg/chartutil/create.go allows `^[a-zA-Z0-9._-]+$`. A leading `-` would reach
 * `helm pull` as a flag.
 */
function chartNameProblem(name: string): string | null {
  if (name === "." || name === "..") return "is not allowed (helm refuses . and ..)";
  if (/[/\\]/.test(name)) return "is a path; a chart name has no /";
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) return "has characters helm does not allow in a chart name";
  if (name.startsWith("-")) return "starts with -";
  return null;
}

/** `images: true` and `values:` of a chart entry. */
function readChartImages(item: unknown, problems: Problems): ChartImageDiscovery | null {
  const valuesNode = get(item, "values");
  const values = isMap(valuesNode) ? ((valuesNode as YAMLMap).toJSON() as Record<string, unknown>) : {};
  if ((bool(get(item, "images")) ?? defaults["charts[].images"]) === true) return { values };
  if (valuesNode) {
    problems.warn(
      problems.locate(keyNode(item, "values")),
      "values: is only used to discover the chart's images, and images: is not true",
      "add images: true to mirror the images the chart deploys, or remove values:",
    );
  }
  return null;
}

function checkRepositoryClashes(
  images: ImageEntry[],
  charts: (ChartEntry | ChartRange)[],
  problems: Problems,
): void {
  const imageRepos = new Map(images.map((i) => [i.repository, i]));
  for (const chart of charts) {
    const image = imageRepos.get(chart.repository);
    if (image) {
      problems.error(
        chart.location,
        `chart ${chart.name} lands in ${chart.repository}, where the image ${referenceName(image.reference)} (line ${image.location.line}) lands too`,
        "use different target.imagePrefix and target.chartPrefix",
      );
    }
  }
}
