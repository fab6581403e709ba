// A recording @actions/core facade for `run(inputs, deps)` (src/main.ts): what the runner would show, as values.
import type { ActionCore, ActionDeps } from "../../src/main.js";

export interface Annotation {
  severity: "error" | "warning" | "notice";
  message: string;
  title?: string | undefined;
  file?: string | undefined;
  startLine?: number | undefined;
  startColumn?: number | undefined;
}

export interface Recorded {
  log: string[];
  groups: string[];
  outputs: Record<string, string>;
  failed: string[];
  secrets: string[];
  annotations: Annotation[];
  summary: string;
}

/** A facade that records every call, and the deps of a run in `workspace` with these variables. */
export function recordingDeps(
  workspace: string,
  env: NodeJS.ProcessEnv = {},
): { deps: ActionDeps; recorded: Recorded } {
  const recorded: Recorded = {
    log: [],
    groups: [],
    outputs: {},
    failed: [],
    secrets: [],
    annotations: [],
    summary: "",
  };
  const annotate =
    (severity: Annotation["severity"]) =>
    (message: string | Error, props: Omit<Annotation, "severity" | "message"> = {}) =>
      recorded.annotations.push({ severity, message: String(message), ...props });
  const core: ActionCore = {
    info: (line) => recorded.log.push(line),
    debug: () => {},
    group: async <T>(name: string, work: () => Promise<T>) => {
      recorded.groups.push(name);
      return work();
    },
    // @actions/core writes outputs as text.
    setOutput: (name, value) => {
      recorded.outputs[name] = typeof value === "string" ? value : JSON.stringify(value);
    },
    setFailed: (message) => recorded.failed.push(String(message)),
    setSecret: (secret) => recorded.secrets.push(secret),
    error: annotate("error"),
    warning: annotate("warning"),
    notice: annotate("notice"),
    summary: {
      addRaw(text: string) {
        return {
          write: async () => {
            recorded.summary += text;
          },
        };
      },
    },
  };
  return { deps: { core, env: { GITHUB_WORKSPACE: workspace, ...env }, cwd: workspace }, recorded };
}

/** The inputs as the runner hands them over: unset ones are empty. */
export function inputsOf(given: Record<string, string>): (name: string) => string {
  return (name) => given[name] ?? "";
}
