/**
 * `--target local`: crane's built-in registry (`crane registry serve --address 127.0.0.1:PORT`) as a throwaway
 * target, so a sync can be tried without an AWS account. Its manifests live in memory: they are gone when it stops.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { childEnv } from "../tools/child-env.js";
import { type InvocationCounter, killOnExit } from "../tools/runner.js";

export interface LocalRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Starts `crane registry serve` on a free loopback port; resolves once it says it is serving. */
export async function startLocalRegistry(
  craneBinary: string,
  opts: { counter?: InvocationCounter; timeoutMs?: number } = {},
): Promise<LocalRegistry> {
  const port = await freePort();
  opts.counter?.record("crane", "registry serve");
  const child = spawn(craneBinary, ["registry", "serve", "--address", `127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
    env: childEnv("crane", process.env),
  });
  killOnExit(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let said = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(
        new Error(`crane registry serve did not start within ${opts.timeoutMs ?? 30_000} ms: ${said.trim()}`),
      );
    }, opts.timeoutMs ?? 30_000);
    child.stderr.on("data", (chunk: Buffer) => {
      said += chunk.toString();
      if (/serving on port/.test(said)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`crane registry serve exited (${code}): ${said.trim()}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
