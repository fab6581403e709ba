// Every credential a run can know arrives in its environment (the action's inputs as INPUT_* variables):
// loaded into the mask before anything runs, each is registered with the runner and redacted from any text.
import { describe, expect, it } from "vitest";
import { maskRunSecrets, SecretMask } from "../../src/tools/credentials.js";

function load(env: NodeJS.ProcessEnv) {
  const masked: string[] = [];
  const mask = new SecretMask((s) => masked.push(s));
  maskRunSecrets(mask, env);
  return { mask, masked };
}

describe("maskRunSecrets", () => {
  it("masks the AWS keys, the GitHub tokens, the secret inputs and the CLI's variables, raw and base64", () => {
    const env = {
      AWS_ACCESS_KEY_ID: "AKIACANARY0001",
      AWS_SECRET_ACCESS_KEY: "aws-secret-canary",
      AWS_SESSION_TOKEN: "aws-session-canary",
      GITHUB_TOKEN: "ghs_githubtokencanary",
      ACTIONS_RUNTIME_TOKEN: "runtime-canary",
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "idtoken-canary",
      "INPUT_GITHUB-TOKEN": "ghp_inputcanary",
      "INPUT_DOCKER-HUB-TOKEN": "dckr_pat_canary",
      "INPUT_REGISTRY-PASSWORD": "target-password-canary",
      ECR_MIRROR_TARGET_PASSWORD: "cli-target-canary",
      ECR_MIRROR_DOCKER_HUB_TOKEN: "cli-hub-canary",
      HOME: "/home/runner",
      CI: "true",
    };
    const { mask, masked } = load(env);
    for (const [name, value] of Object.entries(env)) {
      if (name === "HOME" || name === "CI") continue;
      expect(masked, name).toContain(value);
      expect(masked, name).toContain(Buffer.from(value).toString("base64"));
      expect(mask.redact(`x ${value} y`)).toBe("x *** y");
    }
    expect(masked).not.toContain("true");
    expect(mask.redact("/home/runner")).toBe("/home/runner");
  });

  it("masks every token of the registry-credentials lines, also on a malformed line", () => {
    const { mask } = load({
      "INPUT_REGISTRY-CREDENTIALS": "# comment\nghcr.io bot ghcr-token-canary\n\nquay.io quay-only-token\n",
      ECR_MIRROR_REGISTRY_CREDENTIALS: "registry.example.com user cli-line-token",
    });
    expect(mask.redact("ghcr-token-canary quay-only-token cli-line-token")).toBe("*** *** ***");
    expect(mask.redact(Buffer.from("bot:ghcr-token-canary").toString("base64"))).toBe("***");
    expect(mask.redact("ghcr.io bot")).toBe("ghcr.io bot");
  });

  it("masks credentials inside URLs of any variable, percent-encoded or not", () => {
    const { mask } = load({
      HTTPS_PROXY: "http://proxyuser:proxy%40pass@proxy.internal:3128",
      "INPUT_CRANE-BASE-URL": "https://tokenonly-canary@mirror.example.com/crane",
    });
    expect(mask.redact("proxy%40pass proxy@pass tokenonly-canary")).toBe("*** *** ***");
    expect(mask.redact("proxy.internal:3128")).toBe("proxy.internal:3128");
  });
});
