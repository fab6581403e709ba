// One JSON line per stand-in invocation, appended to the file named by STANDIN_LOG: argv
// (password values redacted), cwd, exit code, duration, and the environment the process got as names with a
// hash of each value (so a test can tell which values reached the tool without the log holding them).
// Never stdin, never a password.
import { createHash } from "node:crypto";
import { appendFileSync } from "node:fs";

/** First 16 hex characters of the SHA-256 of `value`: what the invocation log keeps of an environment value. */
export function envValueHash(value) {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

const SECRET_FLAGS = new Set(["-p", "--password"]);

/** argv with the value of any password flag replaced, whether it was given as `-p X` or `--password=X`. */
export function redactArgv(argv) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    if (arg.startsWith("-") && eq > 0 && SECRET_FLAGS.has(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=<redacted>`);
    } else if (SECRET_FLAGS.has(arg)) {
      out.push(arg);
      if (i + 1 < argv.length) {
        out.push("<redacted>");
        i++;
      }
    } else {
      out.push(arg);
    }
  }
  return out;
}

export function startInvocationLog(tool, argv) {
  const started = Date.now();
  let written = false;
  return {
    finish(exitCode) {
      if (written || !process.env.STANDIN_LOG) return;
      written = true;
      const entry = {
        tool,
        argv: redactArgv(argv),
        cwd: process.cwd(),
        exitCode,
        durationMs: Date.now() - started,
        startedAt: new Date(started).toISOString(),
        env: Object.fromEntries(
          Object.entries(process.env)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, envValueHash(v)]),
        ),
      };
      appendFileSync(process.env.STANDIN_LOG, `${JSON.stringify(entry)}\n`);
    },
  };
}
