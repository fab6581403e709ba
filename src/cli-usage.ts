/**
 * The CLI's commands and flags as one table, and the pure functions read from it: the command line parsed
 * (with a usage problem a person can act on instead of Node's parser text), the global help and each
 * command's help. Adding a command or a flag is one entry here; cli-commands.ts carries them out.
 */
import { closest } from "./list/validate-structure.js";
import {
  CONCURRENCY,
  CONFIGURATOR_IMAGE,
  PUT_IMAGE_RATE,
  TOOL_STALL_TIMEOUT,
  TOOL_TIMEOUT,
} from "./options.js";

export interface FlagSpec {
  /** The value's name in the help (`N`, `FILE`); absent: a switch that takes no value. */
  value?: string;
  /** One letter, `-h`. */
  short?: string;
  /** What the flag does, as the help shows it (may span lines). */
  help: string;
}

export interface CommandSpec {
  name: string;
  /** What follows the command name in `Usage:`. */
  args: string;
  /** One line for the global help. */
  summary: string;
  /** A few sentences for the command's own help. */
  description: string;
  /** The flags it takes (keys of FLAGS), besides --help and --version. */
  flags: readonly string[];
  /** Command lines, each with what it does. */
  examples: readonly (readonly [string, string])[];
  /** How many positional arguments it takes at most. */
  maxArgs: number;
}

export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  json: { help: "Print one JSON document on stdout (errors included)." },
  resync: {
    value: "MODE",
    help: "missing (default): copy absent tags only, without asking the upstreams;\ndigest: also find tags that moved upstream (manifest HEAD requests).",
  },
  region: {
    value: "REGION",
    help: "AWS region of the ECR target (else the list's target.region, else AWS_REGION).",
  },
  "registry-url": { value: "URL", help: "Use a plain OCI registry as the target (http(s)://host[:port])." },
  target: {
    value: "TARGET",
    help: "ecr (default: the list's target), local (crane's in-memory registry on 127.0.0.1,\nto try a sync without AWS; needs internet), or an http(s):// URL.",
  },
  concurrency: { value: "N", help: `Copies in flight at once (default ${CONCURRENCY.default}).` },
  "max-deletions": {
    value: "N",
    help: "The most tags this run may delete (prune), over the list's target.maxDeletions\n(default 20). Above it the plan fails and a sync fails before deleting anything.",
  },
  "put-image-rate": {
    value: "N",
    help: `Manifest PUTs a second across all copies, ECR's PutImage quota (default ${PUT_IMAGE_RATE.default};\nor ECR_MIRROR_PUT_IMAGE_RATE).`,
  },
  report: { value: "FILE", help: "Write the JSON report there." },
  "tool-stall-timeout": {
    value: "S",
    help: `Stop a crane or helm process that shows no progress (no output, no network\nor disk activity) for S seconds (default ${TOOL_STALL_TIMEOUT.default}).`,
  },
  "tool-timeout": {
    value: "M",
    help: `Stop a copy, push or pull still running after M minutes (default ${TOOL_TIMEOUT.default}).`,
  },
  out: {
    value: "DIR",
    help: "The folder to write, below the current folder: new, empty, or written by ecr-mirror\nbefore. Only the files it wrote there (DIR/.ecr-mirror-files) are replaced. Required.",
  },
  "configurator-image": {
    value: "REF",
    help: `The AWS CLI image the DaemonSet runs (default ${CONFIGURATOR_IMAGE.default}).`,
  },
  "configurator-digest": {
    value: "D",
    help: "Its digest in the mirror, to render without asking the target.",
  },
  "startup-taint": { help: "A taint for new nodes, removed once their configuration is written." },
  "node-config": {
    value: "VERSION",
    help: "Also a nodeadm NodeConfig (nodeconfig.yaml) with containerd's config_path for node\ngroups on that containerd version only: containerd-1.7 or containerd-2. Default none:\nstock AL2023 nodes need no user-data change.",
  },
  "charts-record": {
    value: "FILE",
    help: "A chart-images.json an earlier render wrote (default: none). Charts with images: true\nwhose source, name, version and values it holds are not downloaded and rendered again;\nrender writes the updated record.",
  },
  lock: {
    value: "FILE",
    help: "The image tag range lock (image-ranges.lock.json) an earlier render wrote (default: none).\nRanges it holds as written take its tags without asking the upstream; render writes the\nupdated lock into --out.",
  },
  relock: {
    help: "Resolve every tag range from the upstream's tag list again (so does --resync digest).",
  },
  pods: { value: "FILE", help: "The output of kubectl get pods -A -o json (- reads stdin)." },
  kubeconfig: {
    value: "PATH",
    help: "Read the pods from the API (token or client certificate; no exec plugins).",
  },
  context: { value: "NAME", help: "The kubeconfig context (default its current-context)." },
  "no-target": { help: "Do not ask the target (pinned digests are then not checked)." },
  shards: {
    value: "N|auto",
    help: "Split the sync into a seed shard and N sync shards (auto: one per 250 copies or 20 GiB);\nwrites shard-K.json and matrix.json into --plan-out DIR.",
  },
  "plan-out": { value: "DIR", help: "With --shards: the folder for the shard plans." },
  "max-parallel": {
    value: "N",
    help: "With --shards: sync shards running at once; they share the PutImage quota and the\nupstreams' pull budgets (default: all).",
  },
  plan: { value: "PATH", help: "Carry out one shard: its shard-K.json, or the folder with --shard K." },
  shard: { value: "K", help: "With --plan: the shard to carry out (0 is the seed, which runs first)." },
  list: { value: "FILE", help: "The mirror list (default mirrors.yaml)." },
  crane: {
    value: "PATH|URL",
    help: "Use this crane (or ECR_MIRROR_CRANE): the path of a binary (its `crane version` is\ncompared with the pinned version) or an archive, or the URL of a release archive\n(its SHA-256 is checked against the pins). Default: the pinned release, downloaded.",
  },
  helm: {
    value: "PATH|URL",
    help: "Use this helm (or ECR_MIRROR_HELM), as --crane.",
  },
  account: { value: "ID", help: "The AWS account ID (12 digits) the starter files name." },
  repo: { value: "OWNER/NAME", help: "The GitHub repository the OIDC trust policy lets assume the roles." },
  "kms-key": { value: "ARN", help: "A KMS key for the repositories' encryption (the sync role may use it)." },
  force: { help: "Overwrite files that exist." },
  chart: {
    help: "Add a chart version: add --chart https://REPO NAME VERSION [FILE], or\nadd --chart oci://HOST/PATH/NAME VERSION [FILE].",
  },
  help: { short: "h", help: "Show this help." },
  version: { help: "Print the version." },
};

/** The flags every command takes. */
const EVERYWHERE = ["help", "version"] as const;

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "validate",
    args: "[FILE] [--json]",
    summary: "Check the mirror list (default mirrors.yaml) and show where each entry lands.",
    description:
      "Reads the mirror list, reports every problem with its file, line and column, and prints\nwhere each entry lands. Nothing is asked of any registry.",
    flags: ["json"],
    examples: [
      ["ecr-mirror validate", "check mirrors.yaml in this folder"],
      ["ecr-mirror validate lists/prod.yaml --json", "the entries (or the problems) as JSON"],
    ],
    maxArgs: 1,
  },
  {
    name: "plan",
    args: "[FILE] [options]",
    summary: "Compare the list with the target and show what a sync would do. Changes nothing.",
    description:
      "Reads the target (ECR, or --registry-url) and the upstreams, and prints the steps a sync\nwould carry out. Changes nothing. Exits 1 when the list is invalid or the plan cannot be made.",
    flags: [
      "json",
      "resync",
      "region",
      "registry-url",
      "max-deletions",
      "charts-record",
      "lock",
      "relock",
      "shards",
      "plan-out",
      "max-parallel",
      "helm",
    ],
    examples: [
      ["ecr-mirror plan", "what a sync of mirrors.yaml would do in the list's target"],
      ["ecr-mirror plan --resync digest", "also find tags that moved upstream"],
      ["ecr-mirror plan --registry-url http://127.0.0.1:5000 --json", "against a plain registry, as JSON"],
      ["ecr-mirror plan --shards auto --plan-out shards", "the shard plans of a sharded sync"],
    ],
    maxArgs: 1,
  },
  {
    name: "sync",
    args: "[FILE] [options]",
    summary: "Carry the plan out: create repositories, copy what is missing (verified), prune.",
    description:
      "Makes the plan and carries it out: creates repositories, copies what is missing with crane\n(each copy verified by digest), updates moved tags, and prunes when the list says so.\nExits 1 when a step failed; the report says which.",
    flags: [
      "json",
      "resync",
      "region",
      "registry-url",
      "target",
      "concurrency",
      "max-deletions",
      "put-image-rate",
      "report",
      "tool-stall-timeout",
      "tool-timeout",
      "charts-record",
      "lock",
      "relock",
      "plan",
      "shard",
      "crane",
      "helm",
    ],
    examples: [
      ["ecr-mirror sync", "mirror mirrors.yaml into the list's ECR target"],
      ["ecr-mirror sync --target local", "try it without AWS: crane's in-memory registry"],
      ["ecr-mirror sync --crane /usr/local/bin/crane --report report.json", "a crane already installed"],
      ["ecr-mirror sync --plan shards --shard 1 --report shard-1.json", "one shard of a sharded sync"],
    ],
    maxArgs: 1,
  },
  {
    name: "merge",
    args: "REPORT... [--list FILE] [options]",
    summary: "Merge the reports of a sharded sync's shards into one, and prune once all have reported.",
    description:
      "Merges the reports of a sharded sync's shards into one (--report, --json), and runs the\ndeletions (prune) once every shard has reported.",
    flags: [
      "list",
      "json",
      "report",
      "resync",
      "region",
      "registry-url",
      "max-deletions",
      "lock",
      "relock",
      "crane",
    ],
    examples: [["ecr-mirror merge shard-*.json --report report.json", "one report for the whole run"]],
    maxArgs: Number.POSITIVE_INFINITY,
  },
  {
    name: "render",
    args: "[FILE] --out DIR [options]",
    summary: "Write the node configuration (hosts.toml, the configurator DaemonSet) for the target.",
    description:
      "Writes the node configuration (containerd hosts.toml, the configurator DaemonSet, a\nkustomization.yaml) for the target. Asks the target for its address and the configurator\nimage's digest unless target.registry and --configurator-digest are given.",
    flags: [
      "out",
      "region",
      "registry-url",
      "configurator-image",
      "configurator-digest",
      "startup-taint",
      "node-config",
      "charts-record",
      "lock",
      "relock",
      "helm",
    ],
    examples: [
      ["ecr-mirror render --out deploy/ecr-mirror", "the files for the list's target"],
      ["ecr-mirror render --out deploy/ecr-mirror --node-config containerd-2", "with a nodeadm NodeConfig"],
    ],
    maxArgs: 1,
  },
  {
    name: "init",
    args: "[DIR] [options]",
    summary: "Write a starter mirrors.yaml, the caller workflow and the IAM policies into DIR (default .).",
    description:
      "Writes a starter mirrors.yaml (schema comment, every entry form commented),\n.github/workflows/mirror.yml and iam/*.json policies into DIR (default .). Existing files\nare never overwritten without --force.",
    flags: ["account", "region", "repo", "kms-key", "force"],
    examples: [
      [
        "ecr-mirror init --account 123456789012 --region eu-west-1 --repo my-org/platform-mirrors",
        "the starter files, filled in",
      ],
      [
        "ecr-mirror init mirrors-repo --kms-key arn:aws:kms:eu-west-1:123456789012:key/<id>",
        "with KMS encryption",
      ],
    ],
    maxArgs: 1,
  },
  {
    name: "add",
    args: "REF [FILE] | --chart SOURCE [NAME] VERSION [FILE]",
    summary: "Add an image or a chart version to the list, next to its source's entries, keeping comments.",
    description:
      "Adds an image (docker.io/bitnami/nginx:1.27, quay.io/x/y@sha256:…) or, with --chart, a chart\nversion to the list, next to its source's entries, keeping comments. The file is written\nonly when the edited list is valid.",
    flags: ["chart"],
    examples: [
      ["ecr-mirror add docker.io/bitnami/nginx:1.27", "one more image tag in mirrors.yaml"],
      [
        "ecr-mirror add --chart https://kubernetes.github.io/ingress-nginx ingress-nginx 4.11.0",
        "a chart version",
      ],
      ["ecr-mirror add --chart oci://ghcr.io/org/charts/app 1.2.3 lists/prod.yaml", "an OCI chart"],
    ],
    maxArgs: 5,
  },
  {
    name: "audit",
    args: "[FILE] --pods FILE|- | --kubeconfig PATH [--context NAME] [options]",
    summary: "What the cluster runs against the list: images not in it, entries no pod uses.",
    description:
      "What the cluster runs against the list: images not in it (with the lines to add), entries\nno pod uses, pinned digests the mirror lacks. The pods come from --pods (kubectl get pods -A\n-o json) or the API (--kubeconfig). Exits 1 when images are missing.",
    flags: ["pods", "kubeconfig", "context", "no-target", "json", "charts-record", "region", "registry-url"],
    examples: [
      ["kubectl get pods -A -o json | ecr-mirror audit --pods -", "the pods of the current cluster"],
      ["ecr-mirror audit --kubeconfig ~/.kube/config --context prod --json", "from the API, as JSON"],
    ],
    maxArgs: 1,
  },
  {
    name: "tools",
    args: "[crane] [helm] [--crane PATH|URL] [--helm PATH|URL]",
    summary: "Install crane and helm (pinned, checksum-verified) and print their paths. Default: both.",
    description:
      "Installs crane and helm (pinned versions, SHA-256 verified) into the tool cache, or checks\nthe ones --crane and --helm give, and prints their paths.",
    flags: ["crane", "helm"],
    examples: [
      ["ecr-mirror tools", "install both and print their paths"],
      ["ecr-mirror tools crane --crane $(command -v crane)", "check a crane already on PATH"],
    ],
    maxArgs: 2,
  },
  {
    name: "help",
    args: "[COMMAND]",
    summary: "Show the help of a command (its options and examples).",
    description: "Shows the help of COMMAND, or the list of commands.",
    flags: [],
    examples: [["ecr-mirror help plan", "plan's options and examples"]],
    maxArgs: 1,
  },
];

export function commandNamed(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** A command line the user must fix: the message, and the command it was for (null: none known). */
export interface UsageProblem {
  ok: false;
  message: string;
  command: string | null;
}

export interface CommandLine {
  ok: true;
  /** null: none given. */
  command: string | null;
  /** The arguments after the command. */
  args: string[];
  /** Flag name (no dashes) to its value; `true` for a switch. */
  values: Record<string, string | true>;
  /** The flags as given, in order, for the applicability check. */
  given: string[];
}

function problem(message: string, command: string | null): UsageProblem {
  return { ok: false, message, command };
}

const flagNames = Object.keys(FLAGS);

function flagNamed(token: string): { name: string | null; spelled: string } {
  if (token.startsWith("--")) {
    const name = token.slice(2);
    return { name: FLAGS[name] ? name : null, spelled: token };
  }
  const name = flagNames.find((n) => FLAGS[n]?.short === token.slice(1)) ?? null;
  return { name, spelled: token };
}

/** The flags a flag applies to, worded: `sync`, `plan and sync`, `plan, sync and render`. */
function commandsTaking(flag: string): string {
  const names = COMMANDS.filter((c) => c.flags.includes(flag)).map((c) => c.name);
  return names.length <= 1
    ? (names[0] ?? "no command")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

interface Tokens {
  positionals: string[];
  values: Record<string, string | true>;
  given: string[];
}

/** One flag token (and its value, the next token, when it takes one): how many tokens it used, or what is wrong. */
function readFlag(argv: readonly string[], i: number, into: Tokens): number | string {
  const token = argv[i]!;
  const eq = token.startsWith("--") ? token.indexOf("=") : -1;
  const { name, spelled } = flagNamed(eq > 0 ? token.slice(0, eq) : token);
  if (name === null) {
    const near = closest(spelled.replace(/^-+/, ""), flagNames);
    return `unknown flag ${spelled}${near ? `; did you mean --${near}?` : ""}`;
  }
  into.given.push(name);
  if (!FLAGS[name]!.value) {
    if (eq > 0) return `--${name} takes no value`;
    into.values[name] = true;
    return 1;
  }
  if (eq > 0) {
    into.values[name] = token.slice(eq + 1);
    return 1;
  }
  const next = argv[i + 1];
  if (next === undefined || next.startsWith("--")) return `--${name} needs a value`;
  into.values[name] = next;
  return 2;
}

/** Flags go anywhere (`--flag value`, `--flag=value`); `--` ends them. */
function readTokens(argv: readonly string[]): Tokens | string {
  const tokens: Tokens = { positionals: [], values: {}, given: [] };
  for (let i = 0; i < argv.length; ) {
    const token = argv[i]!;
    if (token === "--") {
      tokens.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      tokens.positionals.push(token);
      i++;
      continue;
    }
    const used = readFlag(argv, i, tokens);
    if (typeof used === "string") return used;
    i += used;
  }
  return tokens;
}

/**
 * argv as the table reads it. Problems, in the order a person fixes them: an unknown flag, a missing value,
 * an unknown command, a flag the command does not take, too many arguments.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine | UsageProblem {
  const tokens = readTokens(argv);
  if (typeof tokens === "string")
    return problem(tokens, argv.find((a) => !a.startsWith("-") && commandNamed(a)) ?? null);
  const { values, given } = tokens;
  const [command, ...args] = tokens.positionals;
  if (command === undefined) return { ok: true, command: null, args: [], values, given };
  const spec = commandNamed(command);
  if (!spec) {
    const near = closest(
      command,
      COMMANDS.map((c) => c.name),
    );
    return problem(`unknown command "${command}"${near ? `; did you mean "${near}"?` : ""}`, null);
  }
  if (values.help || values.version) return { ok: true, command, args, values, given };
  const misplaced = given.find(
    (f) => !spec.flags.includes(f) && !(EVERYWHERE as readonly string[]).includes(f),
  );
  if (misplaced) return problem(`--${misplaced} applies to ${commandsTaking(misplaced)} only`, command);
  if (args.length > spec.maxArgs) {
    const noun = /^\[(\w+)\]/.exec(spec.args)?.[1];
    const what = spec.maxArgs === 1 && noun ? `one ${noun}` : `at most ${spec.maxArgs} arguments`;
    return problem(`expected ${what}, got ${args.length}: ${args.join(" ")}`, command);
  }
  return { ok: true, command, args, values, given };
}

function flagLines(names: readonly string[]): string[] {
  const heads = names.map((n) => {
    const f = FLAGS[n]!;
    return `${f.short ? `-${f.short}, ` : ""}--${n}${f.value ? ` ${f.value}` : ""}`;
  });
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  return names.flatMap((n, i) => {
    const [first, ...more] = FLAGS[n]!.help.split("\n");
    return [`  ${heads[i]!.padEnd(width)}${first}`, ...more.map((l) => `  ${"".padEnd(width)}${l}`)];
  });
}

const ENVIRONMENT = `Environment:
  AWS credentials as the AWS SDK reads them; AWS_ENDPOINT_URL_ECR for another ECR endpoint.
  ECR_MIRROR_DOCKER_HUB_USERNAME, ECR_MIRROR_DOCKER_HUB_TOKEN   Docker Hub credentials.
  ECR_MIRROR_REGISTRY_CREDENTIALS   Other upstream credentials, one "host username token" a line.
  ECR_MIRROR_TARGET_USERNAME, ECR_MIRROR_TARGET_PASSWORD        Credentials for --registry-url.
  ECR_MIRROR_CRANE, ECR_MIRROR_HELM   As --crane and --helm.
  ECR_MIRROR_CRANE_VERSION, ECR_MIRROR_CRANE_SHA256, ECR_MIRROR_CRANE_BASE_URL   Another crane (an exact
                         version, its archive's SHA-256 pins, a mirror of the release downloads); likewise HELM.
  ECR_MIRROR_TOOL_ENV    Extra variable names passed to crane, helm and git (comma-separated; never secrets).
  ECR_MIRROR_PROGRESS    Progress on stderr while a sync runs: a start line per phase and per copy, and a
                         heartbeat every N seconds (ECR_MIRROR_PROGRESS=N; 0: off). Default: every 10 s
                         when stderr is a terminal, off otherwise.
`;

/** `ecr-mirror --help`: the commands, the options every command takes, the environment. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "Usage: ecr-mirror <command> [FILE] [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Options:",
    ...flagLines(EVERYWHERE),
    "",
    'Run "ecr-mirror help <command>" (or "ecr-mirror <command> --help") for its options and examples.',
    "",
    ENVIRONMENT,
  ].join("\n");
}

/** `ecr-mirror plan --help`: usage, what it does, its options, examples. */
export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: ecr-mirror ${spec.name} ${spec.args}`,
    "",
    spec.description,
    "",
    "Options:",
    ...flagLines([...spec.flags, ...EVERYWHERE]),
    "",
    "Examples:",
    ...spec.examples.flatMap(([line, what]) => [`  ${line}`, `      ${what}`]),
    "",
  ].join("\n");
}

/** What follows a usage problem on stderr: the command's usage line and where its help is. */
export function usageFooter(command: string | null): string {
  const spec = command ? commandNamed(command) : undefined;
  if (!spec)
    return 'Usage: ecr-mirror <command> [FILE] [options]\nRun "ecr-mirror --help" for the commands.\n';
  return `Usage: ecr-mirror ${spec.name} ${spec.args}\nRun "ecr-mirror help ${spec.name}" for its options and examples.\n`;
}
