// Image tag ranges against real registries: an upstream docker-registry behind a counting proxy (as docker.io's
// endpoint) and the local ECR. A range plans the same tags on every run while the lock holds it, at zero upstream
// requests; a tag pushed upstream joins only on resync digest or --relock; tags that fall out of the range are
// deleted only with prune on. Hostile upstreams (a Link loop, paging without end, a huge tag list) fail the plan on
// the range's line, quickly, naming the limit.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MirrorError } from "../../src/errors.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { formatRangesLock, RANGES_LOCK_FILE, type RangesLock } from "../../src/list/tag-ranges.js";
import { readRangesLock } from "../../src/observe/tag-ranges.js";
import { stepFields } from "../../src/plan/model.js";
import { renderNodeConfig } from "../../src/render/index.js";
import { formatPlan, planToJson } from "../../src/report/plan.js";
import { planMarkdown } from "../../src/report/plan-markdown.js";
import { connectTarget, planRun } from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { type RunningProxy, startCountingProxy } from "../harness/counting-proxy.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

let targetRegistry: RunningRegistry;
let upstreamRegistry: RunningRegistry;
let upstream: RunningProxy;
let ecr: LocalEcr;
let client: ECRClient;

beforeAll(async () => {
  [targetRegistry, upstreamRegistry] = await Promise.all([startRegistry(), startRegistry()]);
  upstream = await startCountingProxy({ url: upstreamRegistry.url });
  ecr = await startEcr({ registry: targetRegistry });
  client = new ECRClient({
    region: ecr.region,
    endpoint: ecr.apiUrl,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  for (const tag of ["0.9.0", "1.0.0", "1.1.0", "2.0.0-rc.1", "latest", "1.1.0-alpine"])
    await pushImage(upstreamRegistry.url, "team/app", tag, { seed: `app-${tag}` });
  // The target already holds 0.9.0, which the range leaves out.
  await client.send(new CreateRepositoryCommand({ repositoryName: "mirrors/team/app" }));
  await pushImage(`http://${ecr.registryHost}`, "mirrors/team/app", "0.9.0", {
    seed: "app-0.9.0",
    auth: { user: "AWS", password: ecr.password },
  });
});

afterAll(async () => {
  await ecr?.stop();
  await upstream?.stop();
  await Promise.all([targetRegistry?.stop(), upstreamRegistry?.stop()]);
});

function listText(endpoint: string, entry: string, prune = false): string {
  return `target:
  prune: ${prune}
upstreams:
  docker.io: { endpoint: "${endpoint}" }
images:
${entry}
`;
}

const RANGE = `  - source: team/app
    versionRange: ">=1.0.0 <2.0.0"`;

async function plan(
  text: string,
  options: { resync?: "missing" | "digest"; lock?: RangesLock | null; relock?: boolean } = {},
) {
  const parsed = parseMirrorList(text, "mirrors.yaml");
  expect(parsed.problems).toEqual([]);
  const list = parsed.list!;
  const target = await connectTarget(list, {
    mask: new SecretMask(() => {}),
    ecrClient: client,
    region: ecr.region,
  });
  return planRun(list, target, {
    resync: options.resync ?? "missing",
    upstreamCredentials: [],
    ranges: { lock: options.lock ?? null, ...(options.relock ? { relock: true } : {}) },
  });
}

const copied = (r: Awaited<ReturnType<typeof plan>>) =>
  r.plan.steps
    .map(stepFields)
    .filter((s) => s.action === "copy")
    .map((s) => s.tag);

/** The lock as the render folder keeps it: written as a file and read back. */
async function throughFile(lock: RangesLock | null): Promise<RangesLock | null> {
  const dir = mkdtempSync(join(tmpdir(), "ranges-lock-"));
  writeFileSync(join(dir, RANGES_LOCK_FILE), formatRangesLock(lock!));
  const read = await readRangesLock(join(dir, RANGES_LOCK_FILE));
  expect(read.warning).toBeNull();
  return read.lock;
}

describe("an image tag range", () => {
  it("plans the same tags on two runs until the upstream changes; the new tag joins only on resync digest or relock", async () => {
    const text = listText(upstream.url, RANGE);
    upstream.resetCounts();
    const first = await plan(text);
    expect(copied(first)).toEqual(["1.1.0", "1.0.0"]);
    expect(first.plan.ranges).toEqual([
      {
        source: "docker.io/team/app",
        range: 'versionRange ">=1.0.0 <2.0.0"',
        tags: ["1.1.0", "1.0.0"],
        from: "upstream",
        line: 7,
      },
    ]);
    // Resolving cost one tag list and nothing else upstream.
    expect(upstream.requests().map((r) => r.kind)).toEqual(["tags-list"]);
    expect(first.cost.upstream).toEqual({ "tags-list": 1 });
    const lock = await throughFile(first.rangesLock);
    expect(lock).toEqual({
      version: 1,
      ranges: [
        {
          source: "docker.io/team/app",
          versionRange: ">=1.0.0 <2.0.0",
          pattern: null,
          newest: null,
          tags: ["1.1.0", "1.0.0"],
        },
      ],
    });

    upstream.resetCounts();
    const second = await plan(text, { lock });
    expect(copied(second)).toEqual(["1.1.0", "1.0.0"]);
    expect(second.plan.ranges?.[0]).toMatchObject({ tags: ["1.1.0", "1.0.0"], from: "lock" });
    expect(upstream.requests()).toEqual([]);

    await pushImage(upstreamRegistry.url, "team/app", "1.2.0", { seed: "app-1.2.0" });
    upstream.resetCounts();
    const stillLocked = await plan(text, { lock });
    expect(copied(stillLocked)).toEqual(["1.1.0", "1.0.0"]);
    expect(upstream.requests()).toEqual([]);

    const digest = await plan(text, { lock, resync: "digest" });
    expect(copied(digest)).toEqual(["1.2.0", "1.1.0", "1.0.0"]);
    expect(digest.plan.ranges?.[0]).toMatchObject({ from: "upstream" });
    const relocked = await plan(text, { lock, relock: true });
    expect(copied(relocked)).toEqual(["1.2.0", "1.1.0", "1.0.0"]);

    // The new lock holds 1.2.0: a plain run takes it from there, again without asking.
    const newLock = await throughFile(relocked.rangesLock);
    upstream.resetCounts();
    expect(copied(await plan(text, { lock: newLock }))).toEqual(["1.2.0", "1.1.0", "1.0.0"]);
    expect(upstream.requests()).toEqual([]);
  });

  it("a lock written for another range is not used: the changed range is asked for, and shown", async () => {
    const first = await plan(listText(upstream.url, RANGE));
    upstream.resetCounts();
    const changed = await plan(
      listText(upstream.url, `  - source: team/app\n    versionRange: ">=1.0.0 <2.0.0"\n    newest: 1`),
      { lock: first.rangesLock },
    );
    expect(copied(changed)).toEqual(["1.2.0"]);
    expect(changed.plan.ranges?.[0]).toMatchObject({ range: 'versionRange ">=1.0.0 <2.0.0", newest 1' });
    expect(upstream.requests().map((r) => r.kind)).toEqual(["tags-list"]);
  });

  it("a pattern, with exact tags beside it; the plan's text, JSON and Markdown say what the range expands to", async () => {
    const r = await plan(
      listText(
        upstream.url,
        `  - source: team/app\n    pattern: '\\d+\\.\\d+\\.\\d+-alpine|latest'\n    tags: ["1.0.0"]`,
      ),
    );
    expect(copied(r)).toEqual(["1.1.0-alpine", "latest", "1.0.0"]);
    const text = formatPlan(r.plan);
    expect(text).toContain(
      'Tag range docker.io/team/app pattern "\\d+\\.\\d+\\.\\d+-alpine|latest" -> 1.1.0-alpine, latest (2 tags, resolved from the upstream\'s tags now; line 7)',
    );
    expect(text).toMatch(
      /copy +docker\.io\/team\/app:latest -> mirrors\/team\/app:latest .*from tag range pattern/,
    );
    const json = planToJson(r.plan);
    expect(json.ranges?.[0]?.tags).toEqual(["1.1.0-alpine", "latest"]);
    expect(json.steps.find((s) => s.tag === "latest")?.tagRange).toBe(
      'pattern "\\d+\\.\\d+\\.\\d+-alpine|latest"',
    );
    expect(json.steps.find((s) => s.tag === "1.0.0")?.tagRange).toBeUndefined();
    expect(planMarkdown(r.plan)).toContain("Tag range docker.io/team/app");
  });

  it("two ranges of one repository share one tag list, and a tag both select is planned once", async () => {
    upstream.resetCounts();
    const r = await plan(
      listText(
        upstream.url,
        `${RANGE}\n  - source: team/app\n    versionRange: "~1.1"\n    tags: ["latest"]`,
      ),
    );
    expect(upstream.counts()["tags-list"]).toBe(1);
    expect(copied(r)).toEqual(["1.2.0", "1.1.0", "1.0.0", "latest"]);
    expect(r.plan.ranges?.map((x) => x.tags)).toEqual([["1.2.0", "1.1.0", "1.0.0"], ["1.1.0"]]);
  });

  it("tags that fall out of the range are deleted only with prune on", async () => {
    const kept = await plan(listText(upstream.url, RANGE, false));
    expect(kept.plan.steps.filter((s) => s.action === "delete")).toEqual([]);
    const pruned = await plan(listText(upstream.url, RANGE, true));
    expect(
      pruned.plan.steps
        .map(stepFields)
        .filter((s) => s.action === "delete")
        .map((s) => `${s.repository}:${s.tag}`),
    ).toEqual(["mirrors/team/app:0.9.0"]);
  });

  it("the lock is rendered into the node configuration folder, and only when the list has ranges", async () => {
    const r = await plan(listText(upstream.url, RANGE));
    const input = {
      registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      region: "eu-west-1",
      configuratorImage: {
        repository: "mirrors/public.ecr.aws/aws-cli/aws-cli",
        digest: `sha256:${"a".repeat(64)}`,
      },
    };
    const rendered = renderNodeConfig(r.list, { ...input, rangesLock: r.rangesLock });
    expect(rendered.ok).toBe(true);
    const file = rendered.ok ? rendered.files.find((f) => f.path === RANGES_LOCK_FILE) : undefined;
    expect(file?.content).toBe(formatRangesLock(r.rangesLock!));
    const none = renderNodeConfig(r.list, { ...input, rangesLock: null });
    expect(none.ok && none.files.some((f) => f.path === RANGES_LOCK_FILE)).toBe(false);
  });

  it("a range that matches no tag fails the plan on its line, naming the newest tags", async () => {
    const failure = await plan(listText(upstream.url, `  - source: team/app\n    versionRange: "^5"`)).catch(
      (e) => e,
    );
    expect(failure).toBeInstanceOf(MirrorError);
    expect((failure as MirrorError).problems).toEqual([
      expect.objectContaining({
        line: 7,
        message: expect.stringContaining("the tag range of docker.io/team/app matches none of the"),
        hint: "its newest release tags are 1.2.0, 1.1.0, 1.0.0",
      }),
    ]);
  });
});

/** A registry that answers tag lists as `pages(url)` says; counts what it was asked. */
async function hostileRegistry(
  page: (url: URL) => { tags: string[]; link?: string },
): Promise<{ url: string; asked: () => number; server: Server }> {
  let asked = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/v2/") return void res.writeHead(200).end("{}");
    asked++;
    const { tags, link } = page(url);
    res
      .writeHead(200, { "content-type": "application/json", ...(link ? { link } : {}) })
      .end(JSON.stringify({ name: "team/app", tags }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked: () => asked, server };
}

describe("a hostile upstream", () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  async function failure(registry: { url: string; server: Server }) {
    servers.push(registry.server);
    const started = performance.now();
    const error = await plan(listText(registry.url, RANGE)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MirrorError);
    const problem = (error as MirrorError).problems[0]!;
    expect(problem).toMatchObject({ line: 7, severity: "error" });
    return { message: problem.message, ms: performance.now() - started };
  }

  it("a Link back to the same page: stopped at the second page", async () => {
    const registry = await hostileRegistry(() => ({
      tags: ["1.0.0"],
      link: '</v2/team/app/tags/list?n=1000>; rel="next"',
    }));
    const { message } = await failure(registry);
    expect(message).toContain("its next page links back to a page already read; not followed");
    expect(registry.asked()).toBe(1);
  });

  it("endless new pages with nothing new on them: stopped at the first such page", async () => {
    const registry = await hostileRegistry((url) => ({
      tags: ["1.0.0"],
      link: `</v2/team/app/tags/list?n=1000&page=${Number(url.searchParams.get("page") ?? 0) + 1}>; rel="next"`,
    }));
    const { message } = await failure(registry);
    expect(message).toContain("brought no new tag: its paging loops");
    expect(registry.asked()).toBe(2);
  });

  it("a huge tag list: stopped past 50000 tags, with the limit named", async () => {
    const registry = await hostileRegistry((url) => {
      const p = Number(url.searchParams.get("page") ?? 0);
      return {
        tags: Array.from({ length: 1000 }, (_, i) => `1.${p}.${i}`),
        link: `</v2/team/app/tags/list?n=1000&page=${p + 1}>; rel="next"`,
      };
    });
    const { message, ms } = await failure(registry);
    expect(message).toContain("it lists more than 50000 tags; not read further");
    expect(registry.asked()).toBe(51);
    expect(ms).toBeLessThan(30_000);
  });
});
