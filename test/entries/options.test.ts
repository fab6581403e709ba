// One set of option rules for both entries (src/options.ts): the same bad value gives the same message from
// the action (input "concurrency") and the CLI (--concurrency), and action.yml's defaults are the rules'.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { main } from "../../src/cli-commands.js";
import { run } from "../../src/main.js";
import {
  CONCURRENCY,
  CONFIGURATOR_IMAGE,
  MAX_DELETIONS,
  NODE_CONFIG,
  REGISTRY_URL,
  RESYNC,
  TOOL_STALL_TIMEOUT,
  TOOL_TIMEOUT,
} from "../../src/options.js";
import { inputsOf, recordingDeps } from "./recording-core.js";

const repo = join(import.meta.dirname, "..", "..");

/** The action's failure for this one input, its name replaced by <option>. */
async function actionSays(input: string, value: string): Promise<string> {
  const { deps, recorded } = recordingDeps(repo);
  await run(inputsOf({ "mirror-file": "/nonexistent/mirrors.yaml", mode: "sync", [input]: value }), deps);
  expect(recorded.failed).toHaveLength(1);
  expect(recorded.failed[0]).toContain(`input "${input}"`);
  return recorded.failed[0]!.replace(`input "${input}"`, "<option>");
}

/** The CLI's usage error for this one flag, with its exit code, the flag replaced by <option>. */
async function cliSays(command: string, flag: string, value: string): Promise<string> {
  let err = "";
  const code = await main([command, "/nonexistent/mirrors.yaml", `--${flag}`, value], {
    out: () => {},
    err: (s) => (err += s),
    env: {},
  });
  expect(code).toBe(2);
  const prefix = `ecr-mirror ${command}: `;
  expect(err.startsWith(prefix)).toBe(true);
  expect(err).toContain(`--${flag}`);
  return err.slice(prefix.length).trimEnd().replace(`--${flag}`, "<option>");
}

const cases: [rule: { input: string; flag: string }, value: string, says: RegExp][] = [
  [CONCURRENCY, "0", /^<option> is "0"; expected a whole number from 1 to 64$/],
  [CONCURRENCY, "four", /^<option> is "four"; expected a whole number from 1 to 64$/],
  [CONCURRENCY, "2.5", /^<option> is "2\.5"; expected a whole number from 1 to 64$/],
  [RESYNC, "always", /^<option> is "always"; expected one of missing, digest$/],
  [MAX_DELETIONS, "2.5", /^<option> is "2\.5"; expected a whole number from 0 up$/],
  [MAX_DELETIONS, "lots", /^<option> is "lots"; expected a whole number from 0 up$/],
  [TOOL_STALL_TIMEOUT, "2m", /^<option> is "2m"; expected a whole number of seconds from 1 to 3600$/],
  [TOOL_TIMEOUT, "1441", /^<option> is "1441"; expected a whole number of minutes from 1 to 1440$/],
  [REGISTRY_URL, "https://169.254.169.254", /^<option>: "169\.254\.169\.254" is the cloud instance metadata/],
  [
    REGISTRY_URL,
    "ftp://registry.example.com",
    /^<option>: .*not a https:\/\/ or http:\/\/ URL[\s\S]*\n {2}hint: /,
  ],
];

describe("an option refused by the action and by the CLI", () => {
  it.each(cases.map(([rule, value, says]) => [rule.input, value, rule, says] as const))(
    "%s %s: the same message from both entries",
    async (_, value, rule, says) => {
      const fromAction = await actionSays(rule.input, value);
      expect(fromAction).toMatch(says);
      expect(await cliSays("sync", rule.flag, value)).toBe(fromAction);
    },
  );

  it.each([
    ["resync", RESYNC, "always"],
    ["registry-url", REGISTRY_URL, "https://169.254.169.254"],
    ["max-deletions", MAX_DELETIONS, "many"],
  ] as const)("%s %s: plan refuses it with the same message as sync", async (_, rule, value) => {
    expect(await cliSays("plan", rule.flag, value)).toBe(await cliSays("sync", rule.flag, value));
  });
});

describe("node-config", () => {
  it("the action refuses a value that names no containerd version, with the choices and a hint", async () => {
    const says = await actionSays("node-config", "2.1");
    expect(says).toMatch(
      /^<option> is "2\.1"; expected one of none, containerd-1\.7, containerd-2\n {2}hint: /,
    );
    expect(says).toContain("stock AL2023 nodes need none");
  });
});

describe("the defaults", () => {
  const inputs = (
    parse(readFileSync(join(repo, "action.yml"), "utf8")) as {
      inputs: Record<string, { default?: string }>;
    }
  ).inputs;

  it.each([CONCURRENCY, RESYNC, TOOL_STALL_TIMEOUT, TOOL_TIMEOUT, CONFIGURATOR_IMAGE, NODE_CONFIG])(
    "action.yml's default of $input is the rule's",
    (rule) => {
      expect(inputs[rule.input]?.default).toBe(String(rule.default));
    },
  );

  it("the CLI's usage states the rules' defaults", async () => {
    let out = "";
    const io = { out: (s: string) => (out += s), err: () => {}, env: {} };
    await main(["sync", "--help"], io);
    await main(["render", "--help"], io);
    expect(out).toMatch(new RegExp(`--concurrency N .*\\(default ${CONCURRENCY.default}\\)`));
    expect(out).toMatch(new RegExp(`for S seconds \\(default ${TOOL_STALL_TIMEOUT.default}\\)`));
    expect(out).toMatch(new RegExp(`after M minutes \\(default ${TOOL_TIMEOUT.default}\\)`));
    expect(out).toMatch(/--resync MODE +missing \(default\)/);
    expect(out).toContain(`(default ${CONFIGURATOR_IMAGE.default})`);
  });
});
