/**
 * The action's post step (dist/post.js): removes credential folders a cancelled or killed run left
 * in this job's RUNNER_TEMP. A finished run has removed its own already; this is the safety net.
 */
import * as core from "@actions/core";
import { removeLeftoverSessions } from "./tools/credentials.js";

const root = process.env.RUNNER_TEMP;
if (root) {
  const removed = removeLeftoverSessions(root);
  core.info(
    removed.length === 0
      ? "No credential folder left behind."
      : `Removed ${removed.length} credential folder(s) left behind by an interrupted run.`,
  );
}
