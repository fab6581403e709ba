// ECR calls through the real SDK client the product builds (createEcrClient) against the local ECR:
// one retry layer (the SDK's), a bounded number of attempts and time, and a message naming the call.
import type { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ecrTargetChanges } from "../../src/execute/ecr-changes.js";
import { type ExecuteDeps, executePlan } from "../../src/execute/execute.js";
import { DEFAULT_REPOSITORY_SETTINGS } from "../../src/list/parse.js";
import { createEcrClient, ECR_MAX_ATTEMPTS } from "../../src/observe/ecr.js";
import type { Plan } from "../../src/plan/model.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

let registry: RunningRegistry;
let ecr: LocalEcr;

beforeAll(async () => {
  registry = await startRegistry();
  ecr = await startEcr({ registry });
}, 60_000);
afterAll(async () => {
  await ecr?.stop();
  await registry?.stop();
});

function client(extra: Parameters<typeof createEcrClient>[1] = {}): ECRClient {
  return createEcrClient(ecr.region, {
    endpoint: ecr.apiUrl,
    credentials: { accessKeyId: "AKIDLOCALECRTEST", secretAccessKey: "local-ecr-test-secret" },
    ...extra,
  });
}

/** Only repository creation runs in these plans; a copy would be a bug in the test. */
const deps = (c: ECRClient): ExecuteDeps => ({
  ...ecrTargetChanges(c),
  copy: () => Promise.reject(new Error("no copy in this plan")),
  verify: () => Promise.reject(new Error("no verify in this plan")),
});

function createPlan(name: string): Plan {
  return {
    registry: ecr.registryHost,
    resync: "missing",
    summary: {
      "create-repository": 1,
      "reconcile-settings": 0,
      copy: 0,
      update: 0,
      restore: 0,
      blocked: 0,
      present: 0,
      delete: 0,
    },
    warnings: [],
    steps: [
      {
        action: "create-repository",
        kind: "repository",
        repository: name,
        reason: "missing",
        location: { file: "mirrors.yaml", line: 1, column: 1 },
      },
    ],
  };
}

/** Runs the plan that creates `repository` through client `c` (destroyed after); its report and seconds. */
async function createWith(c: ECRClient, repository: string) {
  const t0 = performance.now();
  try {
    const report = await executePlan(createPlan(repository), deps(c), {
      repositorySettings: DEFAULT_REPOSITORY_SETTINGS,
      progress: () => {},
    });
    return { report, seconds: (performance.now() - t0) / 1000 };
  } finally {
    c.destroy();
  }
}

describe("ECR calls: one retry layer, bounded", () => {
  it("a throttled CreateRepository fails after the SDK's attempts only, in bounded time, naming the call", async () => {
    ecr.resetCounts();
    ecr.failNext("CreateRepository", "ThrottlingException", 1000);
    const { report, seconds } = await createWith(client(), "mirrors/throttled");
    // The SDK's attempts and no more: withRetries does not retry an error the SDK already retried.
    expect(ecr.calls.CreateRepository).toBe(ECR_MAX_ATTEMPTS);
    expect(report.steps[0]).toMatchObject({ outcome: "failed", attempts: 1 });
    expect(report.steps[0]!.error).toMatch(
      new RegExp(
        `^ECR throttled ecr:CreateRepository on mirrors/throttled \\(Injected ThrottlingException for CreateRepository\\) after ${ECR_MAX_ATTEMPTS} attempts\\nhint: `,
      ),
    );
    // The SDK waits up to 0.5 s * 2^n between throttled attempts (1 + 2 + 4 + 8 s at worst for 5), plus its
    // adaptive rate limiter; before, 32 attempts took 178 s.
    expect(seconds).toBeLessThan(30);
    console.log(
      `throttled CreateRepository failed after ${ecr.calls.CreateRepository} attempts in ${seconds.toFixed(1)} s`,
    );
  }, 40_000);

  it("a CreateRepository that fails twice with a 500 succeeds on the SDK's third attempt", async () => {
    ecr.resetCounts();
    ecr.failNext("CreateRepository", "ServerException", 2);
    const { report } = await createWith(client(), "mirrors/flaky");
    expect(report.steps[0]).toMatchObject({ outcome: "created" });
    expect(ecr.calls.CreateRepository).toBe(3);
  }, 40_000);

  it("a stalled ECR endpoint fails within the request timeout, not never", async () => {
    ecr.resetCounts();
    ecr.failNext("CreateRepository", "stall", 1000);
    // The product's client with the request timeout shortened (the default is ECR_REQUEST_TIMEOUT_MS).
    const c = client({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 500, requestTimeout: 500, throwOnRequestTimeout: true },
    });
    const { report, seconds } = await createWith(c, "mirrors/stalled");
    expect(report.steps[0]).toMatchObject({ outcome: "failed" });
    expect(report.steps[0]!.error).toMatch(/^ECR did not answer ecr:CreateRepository on mirrors\/stalled/);
    expect(seconds).toBeLessThan(5);
  }, 20_000);

  it("the product's client bounds every attempt (connection and request timeouts)", async () => {
    const c = createEcrClient("eu-west-1");
    const handler = c.config.requestHandler as { configProvider?: Promise<Record<string, unknown>> };
    const config = await handler.configProvider;
    expect(config).toMatchObject({ connectionTimeout: 10_000, requestTimeout: 60_000 });
    expect(await c.config.maxAttempts()).toBe(ECR_MAX_ATTEMPTS);
    c.destroy();
  });
});
