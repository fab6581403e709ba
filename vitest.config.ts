import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The tests that run the bundle (dist/) run it as src/ is now: a stale one is rebuilt first.
    globalSetup: ["test/e2e/fresh-bundle.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Registries, containerd and git run as real processes: keep parallelism modest on 2 cores.
    maxWorkers: 2,
    // Children of the product get an allow-listed environment: the stand-ins' invocation log is passed on by name.
    env: { ECR_MIRROR_TOOL_ENV: "STANDIN_LOG" },
  },
});
