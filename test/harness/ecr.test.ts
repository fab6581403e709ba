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
  ImageStorageClassUpdateNotSupportedException,
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
  UpdateImageStorageClassCommand,
  ValidationException,
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

// The archive storage class, as the API reference and the user guide describe it (comments in ./ecr.ts).
describe("ECR's archive storage class", () => {
  const pull = (repository: string, reference: string, method = "GET") =>
    fetch(`${ecr.proxyEndpoint}/v2/${repository}/manifests/${reference}`, {
      method,
      headers: { ...auth, accept: "application/vnd.oci.image.manifest.v1+json" },
    });
  const restore = (c: ECRClient, repositoryName: string, imageTag: string, to: "STANDARD" | "ARCHIVE") =>
    c.send(
      new UpdateImageStorageClassCommand({ repositoryName, imageId: { imageTag }, targetStorageClass: to }),
    );

  it("hides an archived image from ListImages and DescribeImages unless filter.imageStatus asks, and refuses its pull", async () => {
    await create("archive/hidden");
    const v1 = await pushTinyImage(ecr.proxyEndpoint, "archive/hidden", "v1", "archive-v1", auth);
    const v2 = await pushTinyImage(ecr.proxyEndpoint, "archive/hidden", "v2", "archive-v2", auth);
    expect(ecr.archive("archive/hidden", "v1")).toBe(v1.digest);
    expect(ecr.imageStatus("archive/hidden", "v1")).toBe("ARCHIVED");

    const listed = async (imageStatus?: "ACTIVE" | "ARCHIVED" | "ACTIVATING" | "ANY") =>
      (
        await client.send(
          new ListImagesCommand({
            repositoryName: "archive/hidden",
            filter: { tagStatus: "TAGGED", ...(imageStatus ? { imageStatus } : {}) },
          }),
        )
      ).imageIds?.map((id) => id.imageTag);
    expect(await listed()).toEqual(["v2"]); // the default is ACTIVE only: the archived tag looks absent
    expect(await listed("ACTIVE")).toEqual(["v2"]);
    expect(await listed("ARCHIVED")).toEqual(["v1"]);
    expect(await listed("ACTIVATING")).toEqual([]);
    expect((await listed("ANY"))?.sort()).toEqual(["v1", "v2"]);

    const described = await client.send(
      new DescribeImagesCommand({ repositoryName: "archive/hidden", filter: { imageStatus: "ANY" } }),
    );
    const byTag = new Map(described.imageDetails?.map((d) => [d.imageTags?.[0], d]));
    expect(byTag.get("v1")).toMatchObject({ imageDigest: v1.digest, imageStatus: "ARCHIVED" });
    expect(byTag.get("v1")?.lastArchivedAt).toBeInstanceOf(Date);
    expect(byTag.get("v2")).toMatchObject({ imageDigest: v2.digest, imageStatus: "ACTIVE" });
    const active = await client.send(new DescribeImagesCommand({ repositoryName: "archive/hidden" }));
    expect(active.imageDetails?.map((d) => d.imageTags)).toEqual([["v2"]]);
    await expect(
      client.send(
        new ListImagesCommand({
          repositoryName: "archive/hidden",
          filter: { imageStatus: "DELETED" as "ANY" },
        }),
      ),
    ).rejects.toBeInstanceOf(ValidationException);

    // A pull of an archived image fails with a 404, by tag and by digest; BatchGetImage reports it per id.
    ecr.resetCounts();
    const byTagPull = await pull("archive/hidden", "v1");
    expect(byTagPull.status).toBe(404);
    expect(await byTagPull.json()).toMatchObject({ errors: [{ code: "MANIFEST_UNKNOWN" }] });
    expect((await pull("archive/hidden", v1.digest, "HEAD")).status).toBe(404);
    expect((await pull("archive/hidden", "v2")).status).toBe(200);
    expect(ecr.gateCounts()).toMatchObject({ "manifest-get": 2, "manifest-head": 1, archived: 2 });
    const got = await client.send(
      new BatchGetImageCommand({ repositoryName: "archive/hidden", imageIds: [{ imageTag: "v1" }] }),
    );
    expect(got.images).toEqual([]);
    expect(got.failures?.[0]).toMatchObject({ imageId: { imageTag: "v1" }, failureCode: "ImageNotFound" });
  });

  it("UpdateImageStorageClass archives, and restores through ACTIVATING to ACTIVE", async () => {
    // A restore here stays ACTIVATING until completeRestores(), as ECR's take up to 20 minutes.
    const slow = await startEcr({ registry, restoreDelayMs: 3_600_000 });
    const slowClient = new ECRClient({
      endpoint: slow.apiUrl,
      region: slow.region,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    try {
      await slowClient.send(new CreateRepositoryCommand({ repositoryName: "archive/slow" }));
      const slowAuth = basicAuth("AWS", slow.password);
      const image = await pushTinyImage(slow.proxyEndpoint, "archive/slow", "1.0", "archive-slow", slowAuth);
      const archived = await restore(slowClient, "archive/slow", "1.0", "ARCHIVE");
      expect(archived).toMatchObject({
        repositoryName: "archive/slow",
        imageId: { imageDigest: image.digest, imageTag: "1.0" },
        imageStatus: "ARCHIVED",
      });
      await expect(restore(slowClient, "archive/slow", "1.0", "ARCHIVE")).rejects.toBeInstanceOf(
        ImageStorageClassUpdateNotSupportedException,
      );

      const restored = await restore(slowClient, "archive/slow", "1.0", "STANDARD");
      expect(restored.imageStatus).toBe("ACTIVATING");
      expect(restored.imageId?.imageDigest).toBe(image.digest);
      const status = async (imageStatus: "ACTIVE" | "ACTIVATING") =>
        (
          await slowClient.send(
            new DescribeImagesCommand({ repositoryName: "archive/slow", filter: { imageStatus } }),
          )
        ).imageDetails?.map((d) => d.imageStatus);
      expect(await status("ACTIVATING")).toEqual(["ACTIVATING"]);
      expect(await status("ACTIVE")).toEqual([]);
      const pulled = () =>
        fetch(`${slow.proxyEndpoint}/v2/archive/slow/manifests/1.0`, {
          headers: { ...slowAuth, accept: "application/vnd.oci.image.manifest.v1+json" },
        });
      expect((await pulled()).status).toBe(404); // not pullable until the restore is done
      await expect(restore(slowClient, "archive/slow", "1.0", "STANDARD")).rejects.toBeInstanceOf(
        ImageStorageClassUpdateNotSupportedException,
      );

      slow.completeRestores();
      expect(await status("ACTIVE")).toEqual(["ACTIVE"]);
      expect((await pulled()).status).toBe(200);
      const [detail] =
        (await slowClient.send(new DescribeImagesCommand({ repositoryName: "archive/slow" }))).imageDetails ??
        [];
      expect(detail?.lastActivatedAt).toBeInstanceOf(Date);
      expect(slow.calls.UpdateImageStorageClass).toBe(4);
    } finally {
      slowClient.destroy();
      await slow.stop();
    }
  });

  it("with no restore delay, answers ACTIVATING and is ACTIVE at the next read; fails like ECR on bad requests", async () => {
    await create("archive/quick");
    await pushTinyImage(ecr.proxyEndpoint, "archive/quick", "1.0", "archive-quick", auth);
    ecr.archive("archive/quick", "1.0");
    expect((await restore(client, "archive/quick", "1.0", "STANDARD")).imageStatus).toBe("ACTIVATING");
    expect(ecr.imageStatus("archive/quick", "1.0")).toBe("ACTIVE");
    await expect(restore(client, "archive/quick", "2.0", "STANDARD")).rejects.toBeInstanceOf(
      ImageNotFoundException,
    );
    await expect(restore(client, "archive/nope", "1.0", "STANDARD")).rejects.toBeInstanceOf(
      RepositoryNotFoundException,
    );
    await expect(restore(client, "archive/quick", "1.0", "GLACIER" as "STANDARD")).rejects.toBeInstanceOf(
      ValidationException,
    );
  });

  it("refuses a push onto an archived tag of an immutable repository; a push on a mutable one restores the image", async () => {
    await create("archive/immutable", { imageTagMutability: "IMMUTABLE" });
    await pushTinyImage(ecr.proxyEndpoint, "archive/immutable", "1.0", "archive-i", auth);
    ecr.archive("archive/immutable", "1.0");
    ecr.resetCounts();
    const again = await pushTinyImage(ecr.proxyEndpoint, "archive/immutable", "1.0", "archive-i", auth);
    expect(again.response.status).toBe(400);
    expect(((await again.response.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      "TAG_INVALID",
    );
    expect(ecr.gateCounts()["tag-invalid"]).toBe(1);
    expect(ecr.imageStatus("archive/immutable", "1.0")).toBe("ARCHIVED");

    await create("archive/mutable");
    const same = await pushTinyImage(ecr.proxyEndpoint, "archive/mutable", "1.0", "archive-m", auth);
    ecr.archive("archive/mutable", "1.0");
    const repushed = await pushTinyImage(ecr.proxyEndpoint, "archive/mutable", "1.0", "archive-m", auth);
    expect(repushed.response.status).toBe(201);
    expect(repushed.digest).toBe(same.digest);
    expect(ecr.imageStatus("archive/mutable", "1.0")).toBe("ACTIVE");

    // A new image under the archived tag: the tag moves, the old image stays archived (untagged).
    ecr.archive("archive/mutable", "1.0");
    const moved = await pushTinyImage(ecr.proxyEndpoint, "archive/mutable", "1.0", "archive-m2", auth);
    expect(moved.response.status).toBe(201);
    expect(ecr.imageStatus("archive/mutable", "1.0")).toBe("ACTIVE");
    expect(ecr.imageStatus("archive/mutable", same.digest)).toBe("ARCHIVED");
  });
});
