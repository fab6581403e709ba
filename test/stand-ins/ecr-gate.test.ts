// The stand-ins against the local ECR (test/harness/ecr.ts): the path the product takes, with the
// password from GetAuthorizationToken handed over on stdin only.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, ECRClient, ListImagesCommand } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { makeChartTgz, pushIndex } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { runStandIn } from "./stand-ins.js";

describe("stand-ins against the local ECR gate", () => {
  let upstream: RunningRegistry;
  let backing: RunningRegistry;
  let ecr: LocalEcr;
  let client: ECRClient;
  let work: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
    ecr = await startEcr({ registry: backing });
    client = new ECRClient({
      endpoint: ecr.apiUrl,
      region: ecr.region,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    work = await mkdtemp(join(tmpdir(), "stand-ins-ecr-"));
    env = {
      DOCKER_CONFIG: join(work, "docker"),
      HELM_REGISTRY_CONFIG: join(work, "helm.json"),
      STANDIN_LOG: join(work, "log.jsonl"),
    };
  });
  afterAll(async () => {
    client?.destroy();
    await ecr?.stop();
    await Promise.all([upstream?.stop(), backing?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("crane logs in as AWS and copies an index into a created repository, digest kept", async () => {
    const nginx = await pushIndex(upstream.url, "library/nginx", "1.27", {
      platforms: ["linux/amd64", "linux/arm64"],
      seed: "ecr-nginx",
    });
    await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/library/nginx" }));
    const login = await runStandIn(
      "crane",
      ["auth", "login", ecr.registryHost, "-u", "AWS", "--password-stdin"],
      {
        env,
        input: ecr.password,
      },
    );
    expect(login.code, login.stderr).toBe(0);
    const src = `${upstream.host}/library/nginx:1.27`;
    const copy = await runStandIn("crane", ["copy", src, `${ecr.registryHost}/mirrors/library/nginx:1.27`], {
      env,
    });
    expect(copy.code, copy.stderr).toBe(0);
    const listed = await client.send(new ListImagesCommand({ repositoryName: "mirrors/library/nginx" }));
    expect(listed.imageIds).toContainEqual({ imageTag: "1.27", imageDigest: nginx.digest });

    const uncreated = await runStandIn(
      "crane",
      ["copy", src, `${ecr.registryHost}/mirrors/library/absent:1.27`],
      {
        env,
      },
    );
    expect(uncreated.code).toBe(1);
    expect(uncreated.stderr).toMatch(/NAME_UNKNOWN/);
  });

  it("helm logs in with the host only and pushes a chart into charts/<name>", async () => {
    await client.send(new CreateRepositoryCommand({ repositoryName: "charts/demo" }));
    const login = await runStandIn(
      "helm",
      ["registry", "login", ecr.registryHost, "--username", "AWS", "--password-stdin", "--plain-http"],
      { env, input: ecr.password },
    );
    expect(login.code, login.stderr).toBe(0);
    const file = join(work, "demo-2.0.0.tgz");
    await writeFile(file, makeChartTgz({ name: "demo", version: "2.0.0" }));
    const push = await runStandIn(
      "helm",
      ["push", file, `oci://${ecr.registryHost}/charts`, "--plain-http"],
      { env },
    );
    expect(push.code, push.stderr).toBe(0);
    const digest = /^Digest: (\S+)$/m.exec(push.stdout)?.[1];
    const listed = await client.send(new ListImagesCommand({ repositoryName: "charts/demo" }));
    expect(listed.imageIds).toContainEqual({ imageTag: "2.0.0", imageDigest: digest });
  });
});
