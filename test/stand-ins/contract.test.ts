import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_VERSIONS } from "../../src/tools/assets.js";
import { runStandIn } from "./stand-ins.js";

interface Flag {
  flag: string;
  short?: string;
  takesValue: boolean;
  doc: string;
}
interface Command {
  command: string;
  usage: string;
  flags: Flag[];
  doc: string;
  standIn: string;
}
interface ToolContract {
  emulates: string;
  globalFlags: Flag[];
  commands: Command[];
}

const contract = JSON.parse(readFileSync(new URL("./contract.json", import.meta.url), "utf8")) as Record<
  "crane" | "helm",
  ToolContract
>;

describe("the stand-in contract table", () => {
  it("emulates the versions the product pins, so the contract is read from the right docs", () => {
    expect(contract.crane.emulates).toBe(`crane v${DEFAULT_VERSIONS.crane}`);
    expect(contract.helm.emulates).toBe(`helm v${DEFAULT_VERSIONS.helm}`);
  });

  it("cites the real tool's documentation for every command and flag", () => {
    const docPattern = {
      crane: /^cmd\/crane\/doc\/crane(_[a-z_]+)?\.md\b/,
      helm: /^docs\/helm\/helm(_[a-z_]+)?\.md\b/,
    };
    for (const tool of ["crane", "helm"] as const) {
      for (const command of contract[tool].commands) {
        expect(command.doc, `${tool} ${command.command}`).toMatch(docPattern[tool]);
        expect(command.standIn.length).toBeGreaterThan(0);
        for (const flag of command.flags)
          expect(flag.doc, `${tool} ${command.command} ${flag.flag}`).toMatch(docPattern[tool]);
      }
      for (const flag of contract[tool].globalFlags)
        expect(flag.doc, `${tool} ${flag.flag}`).toMatch(docPattern[tool]);
    }
    expect(contract.helm.emulates).toMatch(/^helm v4\./);
  });

  it("is what --help prints", async () => {
    for (const tool of ["crane", "helm"] as const) {
      const help = await runStandIn(tool, ["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/STAND-IN \(ecr-mirror test harness\)/);
      for (const command of contract[tool].commands) expect(help.stdout).toContain(command.usage);
    }
  });

  it("leaves out password flags: passwords travel on stdin only", () => {
    for (const tool of ["crane", "helm"] as const) {
      const flags = contract[tool].commands.flatMap((c) => c.flags).map((f) => f.flag);
      expect(flags).not.toContain("--password");
    }
  });
});
