// One JSON line per stand-in invocation, appended to the file named by STANDIN_LOG: argv
// (password values redacted), cwd, exit code, duration. Never stdin, never a password.
import { appendFileSync } from "node:fs";

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
      };
      appendFileSync(process.env.STANDIN_LOG, `${JSON.stringify(entry)}\n`);
    },
  };
}
