// `ecr-mirror init` through the CLI's main(): the files a new repository gets, in a real temporary folder;
// the list is one the product reads, the workflow calls the reusable workflow with inputs it has, the policies
// are the ones src/starter/iam.ts builds, and nothing that exists is overwritten without --force.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseMirrorList } from "../../src/list/parse.js";
import { PROJECT, RELEASE_REF } from "../../src/starter/files.js";
import { rolePolicy, trustPolicy } from "../../src/starter/iam.js";
import { runCli } from "../harness/cli.js";

const ROOT = join(import.meta.dirname, "..", "..");
const FILES = [
  "mirrors.yaml",
  ".github/workflows/mirror.yml",
  "iam/plan-role-policy.json",
  "iam/plan-trust-policy.json",
  "iam/sync-role-policy.json",
  "iam/sync-trust-policy.json",
  "iam/node-role-policy.json",
];

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ecr-mirror-init-"));
  dirs.push(d);
  return d;
}

const run = (args: string[]) => runCli(args, { env: {} });

const read = (dir: string, path: string) => readFile(join(dir, path), "utf8");

describe("ecr-mirror init", () => {
  it("writes the list, the caller workflow and the IAM policies, filled in from the flags", async () => {
    const dir = await folder();
    const r = await run([
      "init",
      dir,
      "--account",
      "123456789012",
      "--region",
      "eu-west-1",
      "--repo",
      "my-org/mirrors",
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(FILES.map((f) => `wrote ${join(dir, f)}\n`).join(""));
    expect(r.err).not.toContain("Replace the placeholders");
    for (const f of FILES) expect(await read(dir, f)).not.toMatch(/ACCOUNT_ID|REGION|OWNER\/REPO|KEY_ID/);

    const list = await read(dir, "mirrors.yaml");
    expect(list.split("\n")[0]).toBe(
      `# yaml-language-server: $schema=https://raw.githubusercontent.com/${PROJECT}/${RELEASE_REF}/schema/mirrors.schema.json`,
    );
    const parsed = parseMirrorList(list, "mirrors.yaml");
    expect(parsed.problems).toEqual([]);
    expect(parsed.list?.target).toMatchObject({
      region: "eu-west-1",
      accountId: "123456789012",
      prune: false,
    });
    expect(parsed.list?.images.map((i) => i.source)).toEqual(["public.ecr.aws/aws-cli/aws-cli:2.15.62"]);

    const settings = {
      account: "123456789012",
      region: "eu-west-1",
      repo: "my-org/mirrors",
      prefixes: ["mirrors", "charts"],
      kmsKeys: [],
    };
    expect(JSON.parse(await read(dir, "iam/plan-role-policy.json"))).toEqual(rolePolicy("plan", settings));
    expect(JSON.parse(await read(dir, "iam/sync-role-policy.json"))).toEqual(rolePolicy("sync", settings));
    expect(JSON.parse(await read(dir, "iam/node-role-policy.json"))).toEqual(rolePolicy("node", settings));
    expect(JSON.parse(await read(dir, "iam/plan-trust-policy.json"))).toEqual(trustPolicy("plan", settings));
    expect(JSON.parse(await read(dir, "iam/sync-trust-policy.json"))).toEqual(trustPolicy("sync", settings));
  });

  it("the caller workflow calls the reusable workflow with inputs and secrets it declares", async () => {
    const dir = await folder();
    await run(["init", dir, "--account", "123456789012", "--region", "us-gov-west-1"]);
    const caller = parse(await read(dir, ".github/workflows/mirror.yml"));
    const job = caller.jobs.mirror;
    expect(job.uses).toBe(`${PROJECT}/.github/workflows/mirror.yml@${RELEASE_REF}`);
    expect(Object.keys(caller.on)).toEqual(["pull_request", "push", "schedule", "workflow_dispatch"]);
    expect(job.with).toEqual({
      "aws-region": "us-gov-west-1",
      "plan-role-arn": "arn:aws-us-gov:iam::123456789012:role/ecr-mirror-plan",
      "sync-role-arn": "arn:aws-us-gov:iam::123456789012:role/ecr-mirror-sync",
    });
    const reusable = parse(await readFile(join(ROOT, ".github", "workflows", "mirror.yml"), "utf8"));
    const call = reusable.on.workflow_call;
    expect(Object.keys(job.with).filter((k) => !(k in call.inputs))).toEqual([]);
    expect(Object.keys(job.secrets).filter((k) => !(k in call.secrets))).toEqual([]);
    // The caller grants what the called jobs ask for (its permissions are their ceiling).
    expect(job.permissions).toEqual({ contents: "write", "pull-requests": "write", "id-token": "write" });
  });

  it("without flags: placeholders, named on stderr, and still a list the product reads", async () => {
    const dir = await folder();
    const r = await run(["init", dir]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      "Replace the placeholders ACCOUNT_ID (--account), REGION (--region), OWNER/REPO (--repo) in the files above.",
    );
    expect(await read(dir, "iam/plan-trust-policy.json")).toContain('"repo:OWNER/REPO:pull_request"');
    expect(parseMirrorList(await read(dir, "mirrors.yaml"), "mirrors.yaml").problems).toEqual([]);
  });

  it("--kms-key: the list encrypts with it and the sync role may use it through ECR", async () => {
    const dir = await folder();
    const key = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-1111-2222-3333-444455556666";
    expect((await run(["init", dir, "--region", "eu-west-1", "--kms-key", key])).code).toBe(0);
    const list = parseMirrorList(await read(dir, "mirrors.yaml"), "mirrors.yaml").list;
    expect(list?.target.repositorySettings.encryption).toEqual({ type: "KMS", kmsKey: key });
    const sync = JSON.parse(await read(dir, "iam/sync-role-policy.json"));
    expect(sync.Statement[2]).toMatchObject({
      Action: ["kms:DescribeKey", "kms:CreateGrant", "kms:RetireGrant", "kms:GenerateDataKey", "kms:Decrypt"],
      Resource: [key],
      Condition: { StringEquals: { "kms:ViaService": "ecr.eu-west-1.amazonaws.com" } },
    });
    expect(JSON.parse(await read(dir, "iam/plan-role-policy.json")).Statement).toHaveLength(2);
  });

  it("never overwrites: names every file that exists and writes nothing; --force overwrites", async () => {
    const dir = await folder();
    await mkdir(join(dir, ".github", "workflows"), { recursive: true });
    await writeFile(join(dir, "mirrors.yaml"), "images:\n  - redis:7.0   # mine\n");
    await writeFile(join(dir, ".github", "workflows", "mirror.yml"), "# mine\n");
    const r = await run(["init", dir]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      `ecr-mirror init: these files exist in ${dir}: mirrors.yaml, .github/workflows/mirror.yml; nothing was written\n` +
        "  hint: move them away, or pass --force to overwrite them\n",
    );
    expect(await read(dir, "mirrors.yaml")).toBe("images:\n  - redis:7.0   # mine\n");
    await expect(read(dir, "iam/sync-role-policy.json")).rejects.toThrow(/ENOENT/);

    const forced = await run(["init", dir, "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toContain(`overwrote ${join(dir, "mirrors.yaml")}\n`);
    expect(forced.out).toContain(`wrote ${join(dir, "iam/sync-role-policy.json")}\n`);
    expect(await read(dir, "mirrors.yaml")).toContain("# yaml-language-server: $schema=");
  });

  it("refuses a malformed --account, --region or --repo as a usage error, writing nothing", async () => {
    const dir = await folder();
    const account = await run(["init", dir, "--account", "12345"]);
    expect(account).toMatchObject({ code: 2, out: "" });
    expect(account.err).toBe(
      'ecr-mirror init: --account "12345" is not valid (for example --account 123456789012)\n',
    );
    expect((await run(["init", dir, "--region", "EU-WEST-1"])).err).toContain(
      '--region "EU-WEST-1" is not valid',
    );
    expect((await run(["init", dir, "--repo", "just-a-name"])).err).toContain(
      '--repo "just-a-name" is not valid',
    );
    await expect(read(dir, "mirrors.yaml")).rejects.toThrow(/ENOENT/);
  });
});
