// Tag lists longer than a page. docker-registry sends a `Link` to the next page; crane's own registry
// (`crane registry serve`, go-containerregistry pkg/registry/manifest.go handleTags: sorted, offset by
// `last`, cut at `n`, no Link) does not, so the client asks on with `last=<last tag>` (Distribution spec).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DistributionClient } from "../../src/registry/distribution.js";
import { pushImage } from "../harness/images.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";

const TAGS = ["1.0", "1.1", "1.2", "2.0", "2.1", "3.0", "latest"];

/** Answers tag lists as crane's registry does; `ignoreLast` plays a registry that answers page one again. */
function craneLikeRegistry(tags: string[], opts: { ignoreLast?: boolean } = {}) {
  const queries: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/v2/") return void res.writeHead(200).end("{}");
    if (url.pathname !== "/v2/demo/tags/list") return void res.writeHead(404).end();
    queries.push(url.search);
    let list = [...tags].sort();
    const last = url.searchParams.get("last");
    if (last && !opts.ignoreLast) list = list.filter((t) => t > last);
    const n = Number(url.searchParams.get("n") ?? list.length);
    list = list.slice(0, n);
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ name: "demo", tags: list }));
  });
  return { server, queries };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let registry: RunningRegistry;
const servers: Server[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  for (const tag of TAGS) await pushImage(registry.url, "demo", tag, { seed: `demo-${tag}` });
});

afterAll(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  await registry?.stop();
});

describe("listTags across pages", () => {
  it("a registry that cuts at n and sends no Link (crane's): every tag, asked on with last", async () => {
    const { server, queries } = craneLikeRegistry(TAGS);
    servers.push(server);
    const client = new DistributionClient({ baseUrl: await listen(server), tagPageSize: 3 });
    expect(await client.listTags("demo")).toEqual([...TAGS].sort());
    expect(queries).toEqual(["?n=3", "?n=3&last=1.2", "?n=3&last=3.0"]);
  });

  it("with the default page (n=1000): a repository of 1001 tags lists all 1001", async () => {
    const many = Array.from({ length: 1001 }, (_, i) => `v${String(i).padStart(4, "0")}`);
    const { server, queries } = craneLikeRegistry(many);
    servers.push(server);
    const client = new DistributionClient({ baseUrl: await listen(server) });
    expect(await client.listTags("demo")).toEqual(many);
    expect(queries).toEqual(["?n=1000", "?n=1000&last=v0999"]);
  });

  it("a full last page is followed by one empty page, then the listing stops", async () => {
    const six = TAGS.slice(0, 6);
    const { server, queries } = craneLikeRegistry(six);
    servers.push(server);
    const client = new DistributionClient({ baseUrl: await listen(server), tagPageSize: 3 });
    expect(await client.listTags("demo")).toEqual(six);
    expect(queries).toEqual(["?n=3", "?n=3&last=1.2", "?n=3&last=3.0"]);
  });

  it("a registry that ignores last: the repeated page ends the listing, no tag twice", async () => {
    const { server, queries } = craneLikeRegistry(TAGS, { ignoreLast: true });
    servers.push(server);
    const client = new DistributionClient({ baseUrl: await listen(server), tagPageSize: 3 });
    expect(await client.listTags("demo")).toEqual(["1.0", "1.1", "1.2"]);
    expect(queries).toEqual(["?n=3", "?n=3&last=1.2"]);
  });

  it("docker-registry (sends Link): every tag, following its Link", async () => {
    const client = new DistributionClient({ baseUrl: registry.url, tagPageSize: 3 });
    expect((await client.listTags("demo"))?.sort()).toEqual([...TAGS].sort());
  });
});

/** A registry whose every tag page links on as `link(page)` says (a hostile or broken one). */
function linkingRegistry(link: (page: number) => string, tags: (page: number) => string[] = () => ["1.0"]) {
  let asked = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/v2/") return void res.writeHead(200).end("{}");
    const page = Number(url.searchParams.get("page") ?? 0);
    asked++;
    res
      .writeHead(200, { "content-type": "application/json", link: link(page) })
      .end(JSON.stringify({ name: "demo", tags: tags(page) }));
  });
  servers.push(server);
  return { server, asked: () => asked };
}

describe("listTags against a registry that pages without end", () => {
  it("a Link back to the page just read: refused at once, not read 1000 times", async () => {
    const { server, asked } = linkingRegistry(() => '</v2/demo/tags/list?n=1000>; rel="next"');
    const client = new DistributionClient({ baseUrl: await listen(server) });
    await expect(client.listTags("demo")).rejects.toThrow("its next page links back to a page already read");
    expect(asked()).toBe(1);
  });

  it("new pages that bring nothing new: refused at the first one", async () => {
    const { server, asked } = linkingRegistry((p) => `</v2/demo/tags/list?n=1000&page=${p + 1}>; rel="next"`);
    const client = new DistributionClient({ baseUrl: await listen(server) });
    await expect(client.listTags("demo")).rejects.toThrow("page 2 brought no new tag: its paging loops");
    expect(asked()).toBe(2);
  });

  it("more tags than the limit: refused past it, naming the limit", async () => {
    const { server, asked } = linkingRegistry(
      (p) => `</v2/demo/tags/list?n=1000&page=${p + 1}>; rel="next"`,
      (p) => Array.from({ length: 100 }, (_, i) => `${p}.${i}`),
    );
    const client = new DistributionClient({ baseUrl: await listen(server) });
    await expect(client.listTags("demo", 250)).rejects.toThrow(
      "it lists more than 250 tags; not read further",
    );
    expect(asked()).toBe(3);
  });
});
