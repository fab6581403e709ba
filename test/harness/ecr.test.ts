import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetLifecyclePolicyCommand,
  ImageNotFoundException,
  InvalidParameterException,
  LifecyclePolicyNotFoundException,
  ListImagesCommand,
  ListTagsForResourceCommand,
  PutImageTagMutabilityCommand,
  PutLifecyclePolicyCommand,
  paginateDescribeRepositories,
  paginateListImages,
  RepositoryAlreadyExistsException,
  RepositoryNotEmptyException,
  RepositoryNotFoundException,
  TagResourceCommand,
} from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isTagImmutable, type LocalEcr, startEcr } from "./ecr.js";
import { basicAuth, pushBlob, pushTinyImage, putManifest, tinyImage } from "./oci-push.js";
import { type RunningRegistry, startRegistry } from "./registry.js";

let registry: RunningRegistry;
let ecr: LocalEcr;
let client: ECRClient;
let auth: Record<string, string>;

beforeAll(async () => {
  registry = await startRegistry();
  ecr = await startEcr({ registry });
  client = new ECRClient({
    endpoint: ecr.apiUrl,
    region: ecr.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 3,
    retryMode: "standard",
  });
  auth = basicAuth("AWS", ecr.password);
});

afterAll(async () => {
  client?.destroy();
  await ecr?.stop();
  await registry?.stop();
});

beforeEach(() => ecr.resetCounts());

const create = (
  repositoryName: string,
  extra: Partial<ConstructorParameters<typeof CreateRepositoryCommand>[0]> = {},
) => client.send(new CreateRepositoryCommand({ repositoryName, ...extra }));

describe("ECR API through @aws-sdk/client-ecr", () => {
  it("hands out a token whose password opens the gate at proxyEndpoint", async () => {
    const { authorizationData } = await client.send(new GetAuthorizationTokenCommand({}));
    const data = authorizationData![0]!;
    expect(data.proxyEndpoint).toBe(ecr.proxyEndpoint);
    expect(data.expiresAt).toBeInstanceOf(Date);
    expect(data.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    const [user, password] = Buffer.from(data.authorizationToken!, "base64").toString().split(":");
    expect(user).toBe("AWS");
    const ping = await fetch(`${data.proxyEndpoint}/v2/`, { headers: basicAuth(user!, password!) });
    expect(ping.status).toBe(200);
  });

  it("creates repositories, validates names, refuses duplicates", async () => {
    const { repository } = await create("mirrors/library/redis", {
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "latest" }],
      imageScanningConfiguration: { scanOnPush: true },
      tags: [{ Key: "owner", Value: "platform" }],
    });
    expect(repository).toMatchObject({
      repositoryName: "mirrors/library/redis",
      registryId: ecr.accountId,
      repositoryArn: `arn:aws:ecr:${ecr.region}:${ecr.accountId}:repository/mirrors/library/redis`,
      repositoryUri: `${ecr.registryHost}/mirrors/library/redis`,
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "latest" }],
      imageScanningConfiguration: { scanOnPush: true },
    });
    expect(repository!.createdAt).toBeInstanceOf(Date);
    await expect(create("mirrors/library/redis")).rejects.toBeInstanceOf(RepositoryAlreadyExistsException);
    for (const bad of ["Mirrors/Redis", "a", "mirrors//redis", "mirrors/redis-", "-x"]) {
      await expect(create(bad), bad).rejects.toBeInstanceOf(InvalidParameterException);
    }
    expect(ecr.repositories().find((r) => r.repositoryName === "mirrors/library/redis")?.tags).toEqual([
      { Key: "owner", Value: "platform" },
    ]);
  });

  it("DescribeRepositories by names fails whole when one name is missing", async () => {
    await create("describe/a");
    await create("describe/b");
    const ok = await client.send(
      new DescribeRepositoriesCommand({ repositoryNames: ["describe/a", "describe/b"] }),
    );
    expect(ok.repositories?.map((r) => r.repositoryName)).toEqual(["describe/a", "describe/b"]);
    const failed = client.send(
      new DescribeRepositoriesCommand({ repositoryNames: ["describe/a", "describe/nope"] }),
    );
    await expect(failed).rejects.toBeInstanceOf(RepositoryNotFoundException);
    await expect(failed).rejects.toThrow(/describe\/nope/);
  });

  it("pages DescribeRepositories without names", async () => {
    for (const n of ["page/1", "page/2", "page/3", "page/4", "page/5"]) await create(n);
    ecr.resetCounts();
    const names: string[] = [];
    for await (const page of paginateDescribeRepositories({ client, pageSize: 2 }, {})) {
      expect(page.repositories!.length).toBeLessThanOrEqual(2);
      names.push(...page.repositories!.map((r) => r.repositoryName!));
    }
    expect(names.filter((n) => n.startsWith("page/"))).toEqual([
      "page/1",
      "page/2",
      "page/3",
      "page/4",
      "page/5",
    ]);
    expect(names).toEqual(ecr.repositories().map((r) => r.repositoryName));
    expect(ecr.calls.DescribeRepositories).toBe(Math.ceil(names.length / 2));
  });

  it("retries an injected ThrottlingException and then succeeds", async () => {
    await create("throttled/app");
    ecr.resetCounts();
    ecr.failNext("DescribeRepositories", "ThrottlingException", 1);
    const out = await client.send(new DescribeRepositoriesCommand({ repositoryNames: ["throttled/app"] }));
    expect(out.repositories?.[0]?.repositoryName).toBe("throttled/app");
    expect(ecr.calls.DescribeRepositories).toBe(2);

    // Without retries the caller sees the throttling error by name.
    const once = new ECRClient({
      endpoint: ecr.apiUrl,
      region: ecr.region,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      maxAttempts: 1,
    });
    ecr.failNext("ListImages", "ThrottlingException", 1);
    await expect(once.send(new ListImagesCommand({ repositoryName: "throttled/app" }))).rejects.toMatchObject(
      {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400 },
      },
    );
    expect((await once.send(new ListImagesCommand({ repositoryName: "throttled/app" }))).imageIds).toEqual(
      [],
    );
    once.destroy();
  });

  it("keeps lifecycle policies and resource tags; refuses to delete a non-empty repository", async () => {
    const { repository } = await create("settings/app");
    await expect(
      client.send(new GetLifecyclePolicyCommand({ repositoryName: "settings/app" })),
    ).rejects.toBeInstanceOf(LifecyclePolicyNotFoundException);
    const policy = JSON.stringify({ rules: [] });
    await client.send(
      new PutLifecyclePolicyCommand({ repositoryName: "settings/app", lifecyclePolicyText: policy }),
    );
    expect(
      (await client.send(new GetLifecyclePolicyCommand({ repositoryName: "settings/app" })))
        .lifecyclePolicyText,
    ).toBe(policy);
    await client.send(
      new TagResourceCommand({ resourceArn: repository!.repositoryArn, tags: [{ Key: "k", Value: "v" }] }),
    );
    const { tags } = await client.send(
      new ListTagsForResourceCommand({ resourceArn: repository!.repositoryArn }),
    );
    expect(tags).toEqual([{ Key: "k", Value: "v" }]);

    await pushTinyImage(ecr.proxyEndpoint, "settings/app", "1", "settings", auth);
    await expect(
      client.send(new DeleteRepositoryCommand({ repositoryName: "settings/app" })),
    ).rejects.toBeInstanceOf(RepositoryNotEmptyException);
    await client.send(new DeleteRepositoryCommand({ repositoryName: "settings/app", force: true }));
    await expect(
      client.send(new ListImagesCommand({ repositoryName: "settings/app" })),
    ).rejects.toBeInstanceOf(RepositoryNotFoundException);
  });

  it("answers unknown operations with UnknownOperationException", async () => {
    const response = await fetch(ecr.apiUrl, {
      method: "POST",
      headers: {
        "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.NoSuchThing",
        "content-type": "application/x-amz-json-1.1",
      },
      body: "{}",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: "UnknownOperationException" });
  });

  it("ListImages fails for a missing repository", async () => {
    await expect(client.send(new ListImagesCommand({ repositoryName: "not/there" }))).rejects.toBeInstanceOf(
      RepositoryNotFoundException,
    );
  });
});

describe("the registry gate", () => {
  it("asks for Basic auth on every path, the /v2/ ping included", async () => {
    await create("gate/auth");
    const ping = await fetch(`${ecr.proxyEndpoint}/v2/`);
    expect(ping.status).toBe(401);
    expect(ping.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    const push = await fetch(`${ecr.proxyEndpoint}/v2/gate/auth/blobs/uploads/`, { method: "POST" });
    expect(push.status).toBe(401);
    const wrong = await fetch(`${ecr.proxyEndpoint}/v2/gate/auth/blobs/uploads/`, {
      method: "POST",
      headers: basicAuth("AWS", "not-the-password"),
    });
    expect(wrong.status).toBe(401);
    // Nothing reached the registry behind the gate.
    expect(registry.accessLog().filter((e) => e.path.startsWith("/v2/gate/auth"))).toEqual([]);
    expect(ecr.gateCounts()).toMatchObject({ ping: 1, "blob-upload": 2, unauthorized: 3 });
    expect(ecr.gateRequests().every((r) => !r.authorized)).toBe(true);
  });

  it("refuses pushes and pulls for repositories not created through the API", async () => {
    const push = await fetch(`${ecr.proxyEndpoint}/v2/gate/uncreated/blobs/uploads/`, {
      method: "POST",
      headers: auth,
    });
    expect(push.status).toBe(404);
    expect(await push.json()).toMatchObject({ errors: [{ code: "NAME_UNKNOWN" }] });
    const pull = await fetch(`${ecr.proxyEndpoint}/v2/gate/uncreated/manifests/latest`, { headers: auth });
    expect(pull.status).toBe(404);
    expect(ecr.gateCounts()).toMatchObject({ "blob-upload": 1, "manifest-get": 1, "name-unknown": 2 });
  });

  it("sees a pushed image through ListImages, BatchGetImage, DescribeImages; BatchDeleteImage removes it", async () => {
    await create("gate/pushed");
    const { response, digest } = await pushTinyImage(ecr.proxyEndpoint, "gate/pushed", "v1", "pushed", auth);
    expect(response.status).toBe(201);
    expect(response.headers.get("docker-content-digest")).toBe(digest);
    expect(ecr.gateCounts()).toMatchObject({ "blob-upload": 4, "manifest-put": 1 });

    // Same content pushed by digest only: an untagged second manifest.
    const other = tinyImage("untagged");
    await pushBlob(ecr.proxyEndpoint, "gate/pushed", other.config, auth);
    await pushBlob(ecr.proxyEndpoint, "gate/pushed", other.layer, auth);
    expect(
      (await putManifest(ecr.proxyEndpoint, "gate/pushed", other.digest, other.manifest, auth)).status,
    ).toBe(201);

    const list = (tagStatus: "TAGGED" | "UNTAGGED" | "ANY") =>
      client.send(new ListImagesCommand({ repositoryName: "gate/pushed", filter: { tagStatus } }));
    expect((await list("TAGGED")).imageIds).toEqual([{ imageDigest: digest, imageTag: "v1" }]);
    expect((await list("UNTAGGED")).imageIds).toEqual([{ imageDigest: other.digest }]);
    expect((await list("ANY")).imageIds).toHaveLength(2);

    const got = await client.send(
      new BatchGetImageCommand({
        repositoryName: "gate/pushed",
        imageIds: [{ imageTag: "v1" }, { imageTag: "missing" }],
      }),
    );
    expect(got.images?.[0]?.imageId).toEqual({ imageDigest: digest, imageTag: "v1" });
    expect(got.images?.[0]?.imageManifestMediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(JSON.parse(got.images![0]!.imageManifest!).layers).toHaveLength(1);
    expect(got.failures).toEqual([
      { imageId: { imageTag: "missing" }, failureCode: "ImageNotFound", failureReason: expect.any(String) },
    ]);

    const described = await client.send(
      new DescribeImagesCommand({ repositoryName: "gate/pushed", imageIds: [{ imageDigest: digest }] }),
    );
    expect(described.imageDetails?.[0]).toMatchObject({ imageDigest: digest, imageTags: ["v1"] });
    expect(described.imageDetails?.[0]?.imagePushedAt).toBeInstanceOf(Date);
    await expect(
      client.send(
        new DescribeImagesCommand({
          repositoryName: "gate/pushed",
          imageIds: [{ imageDigest: digest }, { imageTag: "missing" }],
        }),
      ),
    ).rejects.toBeInstanceOf(ImageNotFoundException);

    const deleted = await client.send(
      new BatchDeleteImageCommand({
        repositoryName: "gate/pushed",
        imageIds: [{ imageTag: "v1" }, { imageTag: "gone" }],
      }),
    );
    expect(deleted.imageIds).toEqual([{ imageDigest: digest, imageTag: "v1" }]);
    expect(deleted.failures?.map((f) => f.failureCode)).toEqual(["ImageNotFound"]);
    expect((await list("ANY")).imageIds).toEqual([{ imageDigest: other.digest }]);
    const pull = await fetch(`${ecr.proxyEndpoint}/v2/gate/pushed/manifests/${digest}`, {
      headers: { ...auth, accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(pull.status).toBe(404);
  });

  it("lets a real client (skopeo) push through the gate with the token's password", async () => {
    const upstream = await startRegistry();
    const work = await mkdtemp(join(tmpdir(), "ecr-gate-skopeo-"));
    try {
      await create("gate/skopeo");
      await pushTinyImage(upstream.url, "source/app", "1.0", "skopeo");
      const copy = (destination: string, creds: string[]) =>
        promisify(execFile)("skopeo", [
          "copy",
          "--src-tls-verify=false",
          "--dest-tls-verify=false",
          ...creds,
          "--digestfile",
          join(work, "digest"),
          `docker://${upstream.host}/source/app:1.0`,
          `docker://${ecr.registryHost}/${destination}`,
        ]);
      await copy("gate/skopeo:1.0", ["--dest-creds", `AWS:${ecr.password}`]);
      const digest = (await readFile(join(work, "digest"), "utf8")).trim();
      const listed = await client.send(new ListImagesCommand({ repositoryName: "gate/skopeo" }));
      expect(listed.imageIds).toEqual([{ imageDigest: digest, imageTag: "1.0" }]);
      expect(ecr.gateCounts()).toMatchObject({ ping: 1, unauthorized: 1, "manifest-put": 1 });

      await expect(copy("gate/skopeo:anonymous", [])).rejects.toThrow(/unauthorized/i);
      await expect(copy("gate/uncreated:1.0", ["--dest-creds", `AWS:${ecr.password}`])).rejects.toThrow(
        /name unknown/i,
      );
    } finally {
      await rm(work, { recursive: true, force: true });
      await upstream.stop();
    }
  });

  it("pages ListImages with small maxResults", async () => {
    await create("gate/many");
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      await pushTinyImage(ecr.proxyEndpoint, "gate/many", `t${i}`, `many-${i}`, auth);
      expected.push(`t${i}`);
    }
    ecr.resetCounts();
    const tags: string[] = [];
    for await (const page of paginateListImages({ client, pageSize: 2 }, { repositoryName: "gate/many" })) {
      expect(page.imageIds!.length).toBeLessThanOrEqual(2);
      tags.push(...page.imageIds!.map((id) => id.imageTag!));
    }
    expect(tags.sort()).toEqual(expected);
    expect(ecr.calls.ListImages).toBe(3);
    await expect(
      client.send(new ListImagesCommand({ repositoryName: "gate/many", maxResults: 1001 })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });

  it("enforces tag immutability with exclusion filters like ECR", async () => {
    await create("gate/immutable", { imageTagMutability: "IMMUTABLE" });
    const first = await pushTinyImage(ecr.proxyEndpoint, "gate/immutable", "1.0", "a", auth);
    expect(first.response.status).toBe(201);
    const moved = await pushTinyImage(ecr.proxyEndpoint, "gate/immutable", "1.0", "b", auth);
    expect(moved.response.status).toBe(400);
    const body = (await moved.response.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe("TAG_INVALID");
    expect(body.errors[0]?.message).toMatch(
      /already exists .* cannot be overwritten because the tag is immutable/,
    );
    // ECR refuses even the same digest on an existing immutable tag.
    expect((await pushTinyImage(ecr.proxyEndpoint, "gate/immutable", "1.0", "a", auth)).response.status).toBe(
      400,
    );
    const tagged = await client.send(
      new ListImagesCommand({ repositoryName: "gate/immutable", filter: { tagStatus: "TAGGED" } }),
    );
    expect(tagged.imageIds).toEqual([{ imageDigest: first.digest, imageTag: "1.0" }]);

    await create("gate/immutable-except-latest", {
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "latest*" }],
    });
    const repo = "gate/immutable-except-latest";
    await pushTinyImage(ecr.proxyEndpoint, repo, "latest", "a", auth);
    await pushTinyImage(ecr.proxyEndpoint, repo, "2.0", "a", auth);
    expect((await pushTinyImage(ecr.proxyEndpoint, repo, "latest", "b", auth)).response.status).toBe(201);
    expect((await pushTinyImage(ecr.proxyEndpoint, repo, "2.0", "b", auth)).response.status).toBe(400);

    await create("gate/mutable-except-release", {
      imageTagMutability: "MUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "release-*" }],
    });
    const mut = "gate/mutable-except-release";
    await pushTinyImage(ecr.proxyEndpoint, mut, "release-1", "a", auth);
    await pushTinyImage(ecr.proxyEndpoint, mut, "dev", "a", auth);
    expect((await pushTinyImage(ecr.proxyEndpoint, mut, "release-1", "b", auth)).response.status).toBe(400);
    expect((await pushTinyImage(ecr.proxyEndpoint, mut, "dev", "b", auth)).response.status).toBe(201);
    expect(ecr.gateCounts()["tag-invalid"]).toBe(4);

    // Changing the mode through the API takes effect at the gate.
    await client.send(
      new PutImageTagMutabilityCommand({ repositoryName: mut, imageTagMutability: "MUTABLE" }),
    );
    expect((await pushTinyImage(ecr.proxyEndpoint, mut, "release-1", "c", auth)).response.status).toBe(201);
  });

  it("decides mutability per mode and wildcard filter", () => {
    const f = [{ filterType: "WILDCARD" as const, filter: "v*-rc" }];
    expect(isTagImmutable("v1-rc", "IMMUTABLE_WITH_EXCLUSION", f)).toBe(false);
    expect(isTagImmutable("v1", "IMMUTABLE_WITH_EXCLUSION", f)).toBe(true);
    expect(isTagImmutable("v1-rc", "MUTABLE_WITH_EXCLUSION", f)).toBe(true);
    expect(isTagImmutable("v1.rcx", "MUTABLE_WITH_EXCLUSION", f)).toBe(false);
    expect(isTagImmutable("anything", "IMMUTABLE", [])).toBe(true);
    expect(isTagImmutable("anything", "MUTABLE", [])).toBe(false);
  });
});
