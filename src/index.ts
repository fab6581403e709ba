/** The action entry (dist/index.js): signals end the run cleanly, then the action runs (src/main.ts). */
import * as core from "@actions/core";
import { run } from "./main.js";
import { exitOnSignals } from "./signals.js";

// A cancelled job: the runner sends SIGINT, then SIGTERM. Exiting runs the handlers that remove the
// credential folders and stop crane and helm (the post step is the safety net for a SIGKILL).
exitOnSignals((line) => core.info(line));
await run((name) => core.getInput(name), { core, env: process.env, cwd: process.cwd() });
