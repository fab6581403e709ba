// The ECR observer's error paths, with the AWS API mocked in-process (aws-sdk-client-mock).
// The mock replaces the client's send, so the SDK's own retries are proven against the local ECR
// endpoint instead (test/plan/plan-run.test.ts).
import {
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  RepositoryNotFoundException,
} from "@aws-sdk/client-ecr";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import { EcrObserver } from "../../src/observe/ecr.js";
import { connectTarget } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";

const ecrMock = mockClient(ECRClient);
afterEach(() => ecrMock.reset());

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const client = () =>
  new ECRClient({
    region: "eu-west-1",
    credentials: { accessKeyId: "x", secretAccessKey: "y" },
    retryMode: "adaptive",
    maxAttempts: 4,
  });

describe("EcrObserver", () => {
  it("pages through the registry's repositories and every DescribeImages page, archived tags included", async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolvesOnce({
        repositories: [
          { repositoryName: "mirrors/library/redis", imageTagMutability: "IMMUTABLE" },
          { repositoryName: "other/app" },
        ],
        nextToken: "p2",
      })
      .resolvesOnce({
        repositories: [
          {
            repositoryName: "mirrors/library/nginx",
            imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "latest" }],
          },
        ],
      });
    ecrMock
      .on(DescribeImagesCommand, { repositoryName: "mirrors/library/redis" })
      .resolvesOnce({
        imageDetails: [{ imageTags: ["7.0", "7"], imageDigest: A, imageStatus: "ARCHIVED" }],
        nextToken: "n",
      })
      .resolvesOnce({ imageDetails: [{ imageTags: ["7.2"], imageDigest: B, imageStatus: "ACTIVE" }] });
    ecrMock
      .on(DescribeImagesCommand, { repositoryName: "mirrors/library/nginx" })
      .resolves({ imageDetails: [{ imageTags: ["1.27"], imageDigest: B, imageStatus: "ACTIVATING" }] });
    const observer = new EcrObserver(client());
    const observed = await observer.observe(
      "r",
      new Set(["mirrors/library/redis", "mirrors/library/nginx", "mirrors/library/absent"]),
      [],
    );
    expect([...observed.repositories.keys()].sort()).toEqual([
      "mirrors/library/nginx",
      "mirrors/library/redis",
    ]);
    const redis = observed.repositories.get("mirrors/library/redis")!;
    expect([...redis.tags]).toEqual([
      ["7.0", A],
      ["7", A],
      ["7.2", B],
    ]);
    expect([...(redis.archived ?? [])]).toEqual([
      ["7.0", "ARCHIVED"],
      ["7", "ARCHIVED"],
    ]);
    expect(observed.repositories.get("mirrors/library/nginx")).toMatchObject({
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: ["latest"],
      archived: new Map([["1.27", "ACTIVATING"]]),
    });
    expect(observer.calls).toEqual({ DescribeRepositories: 2, DescribeImages: 3 });
    // TAGGED only, every storage status (ECR's default is ACTIVE only), 1000 a page; other/app is neither
    // wanted nor under a pruned prefix, so never listed.
    expect(ecrMock.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input)).toContainEqual({
      repositoryName: "mirrors/library/nginx",
      filter: { tagStatus: "TAGGED", imageStatus: "ANY" },
      maxResults: 1000,
    });
    expect(
      ecrMock.commandCalls(DescribeImagesCommand).some((c) => c.args[0].input.repositoryName === "other/app"),
    ).toBe(false);
  });

  it("treats a repository deleted between the two calls as absent", async () => {
    ecrMock.on(DescribeRepositoriesCommand).resolves({ repositories: [{ repositoryName: "mirrors/gone" }] });
    ecrMock
      .on(DescribeImagesCommand)
      .rejects(new RepositoryNotFoundException({ message: "gone", $metadata: {} }));
    const observed = await new EcrObserver(client()).observe("r", new Set(["mirrors/gone"]), []);
    expect(observed.repositories.size).toBe(0);
  });

  it("turns access denied into a message naming the permissions", async () => {
    const denied = Object.assign(
      new Error(
        "User: arn:aws:sts::1:assumed-role/ci is not authorized to perform: ecr:DescribeRepositories",
      ),
      { name: "AccessDeniedException" },
    );
    ecrMock.on(DescribeRepositoriesCommand).rejects(denied);
    const failure = new EcrObserver(client()).observe("r", new Set(["mirrors/x"]), []);
    await expect(failure).rejects.toThrow(/^ECR denied ecr:DescribeRepositories: User: .* is not authorized/);
    await expect(failure).rejects.toMatchObject({ hint: expect.stringContaining("ecr:DescribeImages") });
    await expect(failure).rejects.toMatchObject({
      hint: expect.stringContaining("ecr:UpdateImageStorageClass (to restore archived tags)"),
    });
  });
});

describe("connectTarget for ECR", () => {
  const list = (extra = "") =>
    parseMirrorList(`target: { region: eu-west-1${extra} }\nimages: [redis:7.0]\n`, "m.yaml").list!;
  const token = {
    authorizationToken: Buffer.from("AWS:secret-password").toString("base64"),
    proxyEndpoint: "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com",
    expiresAt: new Date(),
  };

  it("takes the registry address from the authorization data's proxyEndpoint and masks the token", async () => {
    ecrMock.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [token] });
    const masked: string[] = [];
    const t = await connectTarget(list(), {
      mask: new SecretMask((s) => masked.push(s)),
      ecrClient: client(),
    });
    expect(t.registry).toBe("111111111111.dkr.ecr.eu-west-1.amazonaws.com");
    expect(masked).toEqual(expect.arrayContaining(["secret-password", token.authorizationToken]));
  });

  it("refuses credentials that reach another account than the list targets", async () => {
    ecrMock.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [token] });
    await expect(
      connectTarget(list(`, accountId: "222222222222"`), {
        mask: new SecretMask(() => {}),
        ecrClient: client(),
      }),
    ).rejects.toThrow(
      "the AWS credentials reach account 111111111111, but the mirror list targets 222222222222",
    );
  });

  it("needs a region", async () => {
    const l = parseMirrorList("images: [redis:7.0]\n", "m.yaml").list!;
    await expect(connectTarget(l, { mask: new SecretMask(() => {}), env: {} })).rejects.toMatchObject({
      message: "no AWS region for the ECR target",
      hint: expect.stringContaining("aws-region"),
    });
  });
});
