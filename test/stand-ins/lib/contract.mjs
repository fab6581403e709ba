// Reads a stand-in's command line against test/stand-ins/contract.json: a subcommand or flag
// outside the table is a ContractViolation (the stand-ins exit 2 and name it).
import { readFileSync } from "node:fs";
import { setDefaultCACertificates } from "node:tls";
import { startInvocationLog } from "./invocation-log.mjs";

/**
 * crane and helm are Go programs: on Linux, Go's crypto/x509 takes its roots from SSL_CERT_FILE (and
 * SSL_CERT_DIR) when set, instead of the system bundle (crypto/x509/root_unix.go). The stand-ins trust
 * exactly the certificates of that file, as the real tools do.
 */
function trustRootsLikeGo() {
  const file = process.env.SSL_CERT_FILE;
  if (!file) return;
  const pems = readFileSync(file, "utf8").match(
    /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
  );
  setDefaultCACertificates(pems ?? []);
}

export const CONTRACT_PATH = new URL("../contract.json", import.meta.url);

export function loadContract(tool) {
  const all = JSON.parse(readFileSync(CONTRACT_PATH, "utf8"));
  const contract = all[tool];
  if (!contract) throw new Error(`no contract for ${tool}`);
  return contract;
}

export class ContractViolation extends Error {}

function findFlag(flags, token) {
  return flags.find((f) => f.flag === token || f.short === token);
}

/**
 * @returns {{ command: string, args: string[], flags: Map<string, string[]>, help: boolean }}
 *   flags keyed by long name; a flag without value maps to ["true"].
 */
export function parseCommandLine(tool, contract, argv) {
  const allFlags = [...contract.globalFlags, ...contract.commands.flatMap((c) => c.flags)];
  const words = [];
  const given = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--") {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (token === "-h" || token === "--help") {
      help = true;
      continue;
    }
    if (token.startsWith("-") && token !== "-") {
      const eq = token.indexOf("=");
      const name = eq > 0 ? token.slice(0, eq) : token;
      const known = findFlag(allFlags, name);
      let value = "true";
      if (eq > 0) value = token.slice(eq + 1);
      else if (known?.takesValue) {
        if (i + 1 >= argv.length) throw new ContractViolation(`flag needs an argument: ${name}`);
        value = argv[++i];
      }
      given.push({ name, value });
      continue;
    }
    words.push(token);
  }

  let command;
  for (const candidate of contract.commands) {
    const names = [candidate.command, ...(candidate.aliases ?? [])];
    for (const name of names) {
      const parts = name.split(" ");
      if (parts.every((p, k) => words[k] === p) && (!command || parts.length > command.depth)) {
        command = { spec: candidate, depth: parts.length };
      }
    }
  }
  if (!command) {
    if (words.length === 0 && help) return { command: "", args: [], flags: new Map(), help };
    const attempted = words.slice(0, 2).join(" ") || "(none)";
    throw new ContractViolation(
      `subcommand "${tool} ${attempted}" is not in the stand-in contract (supported: ${contract.commands
        .map((c) => c.command)
        .join(", ")})`,
    );
  }
  const spec = command.spec;
  // A command's own flag shadows a global one of the same name (crane index filter's repeatable --platform).
  const allowed = [...spec.flags, ...contract.globalFlags];
  const flags = new Map();
  for (const { name, value } of given) {
    const flag = findFlag(allowed, name);
    if (!flag) {
      throw new ContractViolation(
        `flag "${name}" of "${tool} ${spec.command}" is not in the stand-in contract (test/stand-ins/contract.json)`,
      );
    }
    const values = flags.get(flag.flag) ?? [];
    if (values.length > 0 && !flag.repeatable && flag.takesValue) {
      throw new ContractViolation(`flag "${name}" given twice; the stand-in contract allows it once`);
    }
    values.push(value);
    flags.set(flag.flag, values);
  }
  const args = words.slice(command.depth);
  const [min, max] = spec.args;
  if (!help && (args.length < min || args.length > max)) {
    throw new ContractViolation(
      `"${tool} ${spec.command}" takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${args.length}: usage ${spec.usage}`,
    );
  }
  return { command: spec.command, args, flags, help };
}

/** `--help` text: the contract itself, marked as a stand-in. */
export function helpText(tool, contract) {
  const lines = [
    `${tool}: STAND-IN (ecr-mirror test harness) for ${contract.emulates}, not the real tool.`,
    `It accepts only the command lines in test/stand-ins/contract.json and moves real bytes between real registries.`,
    "",
    "Commands:",
  ];
  for (const c of contract.commands) {
    lines.push(`  ${c.usage}`);
    for (const f of c.flags)
      lines.push(`      ${f.short ? `${f.short}, ` : ""}${f.flag}${f.takesValue ? " VALUE" : ""}`);
    lines.push(`      stand-in: ${c.standIn}`);
  }
  lines.push("", "Global flags:");
  for (const f of contract.globalFlags)
    lines.push(`  ${f.short ? `${f.short}, ` : ""}${f.flag}${f.takesValue ? " VALUE" : ""}`);
  return `${lines.join("\n")}\n`;
}

/**
 * One stand-in invocation: the command line is checked against the contract, handed to the
 * handler for its subcommand, and logged; a contract violation exits 2, any other failure 1.
 * `handlers` maps a subcommand ("copy", "registry login") to `(parsed, invocation) => Promise`.
 */
export async function runStandIn(tool, contract, argv, handlers) {
  const invocation = startInvocationLog(tool, argv);
  let exitCode = 0;
  try {
    trustRootsLikeGo();
    const parsed = parseCommandLine(tool, contract, argv);
    if (parsed.help) {
      process.stdout.write(helpText(tool, contract));
      return 0;
    }
    const handler = handlers[parsed.command];
    if (!handler)
      throw new ContractViolation(`subcommand "${parsed.command}" has no stand-in implementation`);
    await handler(parsed, invocation);
  } catch (error) {
    if (error instanceof ContractViolation) {
      process.stderr.write(`Error: ${tool} stand-in: ${error.message}\n`);
      exitCode = 2;
    } else {
      process.stderr.write(`Error: ${error.message}\n`);
      exitCode = 1;
      // TEST-ONLY, not real crane or helm behaviour: a tool that prints its whole environment when it fails,
      // so the canary test can see where a credential handed to a child process would end up.
      if (process.env.STANDIN_PRINT_ENV_ON_FAILURE === "1") {
        const env = Object.fromEntries(Object.entries(process.env).sort(([a], [b]) => a.localeCompare(b)));
        process.stderr.write(`stand-in environment: ${JSON.stringify(env)}\n`);
      }
    }
  } finally {
    invocation.finish(exitCode);
  }
  return exitCode;
}
