// The IAM policies (src/starter/iam.ts) against the code: every ECR operation src/ sends through the AWS SDK
// has its action in the table, for a role, and every action the table says the SDK sends is one src/ sends,
// so a new SDK call without its permission (or a permission left behind) fails here.
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import {
  actionsFor,
  ECR_PERMISSIONS,
  KMS_ACTIONS,
  type PolicySettings,
  rolePolicy,
  trustPolicy,
} from "../../src/starter/iam.js";

const SRC = join(import.meta.dirname, "..", "..", "src");

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Each ECR operation src/ sends (`XCommand` or `paginateX` imported from @aws-sdk/client-ecr) and where. */
async function sdkOperations(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const file of await tsFiles(SRC)) {
    const source = ts.createSourceFile(file, await readFile(file, "utf8"), ts.ScriptTarget.Latest);
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement)) continue;
      if ((statement.moduleSpecifier as ts.StringLiteral).text !== "@aws-sdk/client-ecr") continue;
      const bindings = statement.importClause?.namedBindings;
      if (!bindings || !ts.isNamedImports(bindings)) continue;
      for (const element of bindings.elements) {
        if (element.isTypeOnly) continue;
        const name = element.name.text;
        const operation = /^(\w+)Command$/.exec(name)?.[1] ?? /^paginate(\w+)$/.exec(name)?.[1];
        if (operation) found.set(operation, relative(SRC, file));
      }
    }
  }
  return found;
}

const settings: PolicySettings = {
  account: "123456789012",
  region: "eu-west-1",
  repo: "my-org/mirrors",
  prefixes: ["mirrors", "charts"],
  kmsKeys: [],
};

describe("the IAM policies match the ECR calls the code makes", () => {
  it("every ECR operation src/ sends is granted, and every granted SDK operation is one src/ sends", async () => {
    const sent = await sdkOperations();
    // The scan itself finds what it must: the calls of observe/, execute/ and tools/.
    expect(sent.get("DescribeImages")).toBe("observe/ecr.ts");
    expect(sent.get("BatchDeleteImage")).toBe("execute/ecr-changes.ts");
    expect(sent.get("GetAuthorizationToken")).toBe("tools/ecr-authorization.ts");
    const granted = new Set(ECR_PERMISSIONS.flatMap((p) => (p.call ? [p.call] : [])));
    expect([...sent.keys()].filter((op) => !granted.has(op)).map((op) => `${op} (${sent.get(op)})`)).toEqual(
      [],
    );
    expect([...granted].filter((op) => !sent.has(op))).toEqual([]);
    for (const p of ECR_PERMISSIONS) if (p.call) expect(p.action).toBe(`ecr:${p.call}`);
  });

  it("the plan role only reads; the sync role holds everything the plan role does", () => {
    const plan = actionsFor("plan");
    expect(plan.filter((a) => !/^ecr:(Get|Describe|List|BatchGet)/.test(a))).toEqual([]);
    expect(plan.filter((a) => !actionsFor("sync").includes(a))).toEqual([]);
    expect(actionsFor("node")).toEqual([
      "ecr:GetAuthorizationToken",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]);
    expect(new Set(ECR_PERMISSIONS.map((p) => p.action)).size).toBe(ECR_PERMISSIONS.length);
  });

  it("repository actions are scoped to the mirror's prefixes in the region's partition; KMS only through ECR", () => {
    const sync = rolePolicy("sync", settings);
    expect(sync.Statement).toEqual([
      {
        Sid: "EcrRegistry",
        Effect: "Allow",
        Action: ["ecr:GetAuthorizationToken", "ecr:DescribeRepositories", "ecr:GetAccountSetting"],
        Resource: "*",
      },
      {
        Sid: "EcrMirrorRepositories",
        Effect: "Allow",
        Action: actionsFor("sync", "repositories"),
        Resource: [
          "arn:aws:ecr:eu-west-1:123456789012:repository/mirrors/*",
          "arn:aws:ecr:eu-west-1:123456789012:repository/charts/*",
        ],
      },
    ]);
    const gov = rolePolicy("sync", {
      ...settings,
      region: "us-gov-west-1",
      kmsKeys: ["arn:aws-us-gov:kms:k"],
    });
    expect(gov.Statement[1]!.Resource).toContain(
      "arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/mirrors/*",
    );
    expect(gov.Statement[2]).toEqual({
      Sid: "KmsForEcrEncryption",
      Effect: "Allow",
      Action: [...KMS_ACTIONS],
      Resource: ["arn:aws-us-gov:kms:k"],
      Condition: { StringEquals: { "kms:ViaService": "ecr.us-gov-west-1.amazonaws.com" } },
    });
    expect(rolePolicy("plan", { ...settings, kmsKeys: ["k"] }).Statement).toHaveLength(2);
  });

  it("trust policies: GitHub's OIDC provider, the audience, pull requests for plan and main for sync", () => {
    const condition = (role: "plan" | "sync") =>
      (trustPolicy(role, settings).Statement[0] as { Condition: unknown }).Condition;
    expect(trustPolicy("plan", settings).Statement[0]).toMatchObject({
      Principal: { Federated: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" },
      Action: "sts:AssumeRoleWithWebIdentity",
    });
    expect(condition("plan")).toEqual({
      StringEquals: {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:my-org/mirrors:pull_request",
      },
    });
    expect(condition("sync")).toMatchObject({
      StringEquals: { "token.actions.githubusercontent.com:sub": "repo:my-org/mirrors:ref:refs/heads/main" },
    });
  });
});

describe("the README's IAM section", () => {
  // The policies a user pastes from the README are the ones init writes and the code needs: each JSON block
  // follows the sentence naming its file (`iam/<file>.json`), with the README's example account, region and repo.
  const settings: PolicySettings = {
    account: "123456789012",
    region: "eu-west-1",
    repo: "my-org/platform-mirrors",
    prefixes: ["mirrors", "charts"],
    kmsKeys: [],
  };
  const expected: Record<string, unknown> = {
    "plan-trust-policy": trustPolicy("plan", settings),
    "plan-role-policy": rolePolicy("plan", settings),
    "sync-role-policy": rolePolicy("sync", settings),
    "node-role-policy": rolePolicy("node", settings),
  };

  it("shows each policy exactly as init writes it, and the KMS statement init adds", async () => {
    const readme = await readFile(join(SRC, "..", "README.md"), "utf8");
    const section = readme.split(/^## /m).find((s) => s.startsWith("IAM\n"));
    expect(section, "a '## IAM' section").toBeDefined();
    // Each block is named by the last `iam/<file>.json` the text before it (since the previous block) mentions.
    const shown: Record<string, unknown> = {};
    let kmsStatement: unknown;
    let last = 0;
    for (const m of section!.matchAll(/```json\n([\s\S]*?)```/g)) {
      const before = section!.slice(last, m.index);
      last = m.index + m[0].length;
      const name = [...before.matchAll(/`iam\/([\w-]+)\.json`/g)].at(-1)?.[1];
      if (name) shown[name] = JSON.parse(m[1]!);
      else kmsStatement = JSON.parse(m[1]!);
    }
    expect(shown).toEqual(expected);
    const key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    expect(kmsStatement).toEqual(rolePolicy("sync", { ...settings, kmsKeys: [key] }).Statement.at(-1));
  });
});
