// `ecr-mirror audit --kubeconfig`: the pods read from a local HTTPS stand-in of the Kubernetes API on 127.0.0.1
// (a throwaway certificate, a bearer token, kubectl's paging with limit and continue), compared with the same pods
// given as a file; refused credentials, exec plugins and turned-off certificate checks, each with its way out.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../harness/cli.js";
import { makeTestCertificate, type TestCertificate } from "../harness/tls.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/audit");
const LIST = join(FIXTURES, "mirrors.yaml");
const PODS = join(FIXTURES, "pods.json");
const TOKEN = "kube-token-3f9a1c0b7e";
const dir = mkdtempSync(join(tmpdir(), "ecr-mirror-audit-kube-"));

let server: Server;
let cert: TestCertificate;
let url: string;
const requests: { path: string; authorization: string | undefined }[] = [];

beforeAll(async () => {
  cert = await makeTestCertificate(dir, "kube-api");
  const items = JSON.parse(readFileSync(PODS, "utf8")).items as unknown[];
  server = createServer({ cert: cert.pem, key: readFileSync(cert.keyPath) }, (req, res) => {
    requests.push({ path: req.url ?? "", authorization: req.headers.authorization });
    const u = new URL(req.url ?? "/", "https://127.0.0.1");
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", status: "Failure", message: "Unauthorized", code: 401 }));
      return;
    }
    if (u.pathname !== "/api/v1/pods") {
      res.writeHead(404).end();
      return;
    }
    // The API may answer fewer than `limit` items a page: ten, then the rest.
    const second = u.searchParams.get("continue") === "page-2";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        kind: "PodList",
        apiVersion: "v1",
        metadata: { resourceVersion: "123", ...(second ? {} : { continue: "page-2" }) },
        items: second ? items.slice(10) : items.slice(0, 10),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  url = `https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

function kubeconfig(
  user: string,
  cluster = `certificate-authority-data: ${Buffer.from(cert.pem).toString("base64")}`,
) {
  const path = join(dir, `config-${requests.length}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
current-context: prod
contexts:
  - name: prod
    context: { cluster: prod, user: auditor }
  - name: other
    context: { cluster: prod, user: nobody }
clusters:
  - name: prod
    cluster:
      server: ${url}
      ${cluster}
users:
  - name: auditor
    user:
      ${user}
`,
  );
  return path;
}

const cli = (args: string[]) => runCli(args);

describe("audit --kubeconfig against an HTTPS stand-in of the Kubernetes API", () => {
  it("reads every page with the bearer token and audits the same as the pod list file", async () => {
    requests.length = 0;
    const config = kubeconfig(`token: ${TOKEN}`);
    const api = await cli(["audit", LIST, "--kubeconfig", config, "--no-target", "--json"]);
    const file = await cli(["audit", LIST, "--pods", PODS, "--no-target", "--json"]);
    expect(api.err).toBe("");
    expect(api.code).toBe(1);
    expect(api.out).toBe(file.out);
    expect(requests).toEqual([
      { path: "/api/v1/pods?limit=500", authorization: `Bearer ${TOKEN}` },
      { path: "/api/v1/pods?limit=500&continue=page-2", authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it("authenticates with a client certificate and key (client-certificate-data, client-key-data)", async () => {
    const client = await makeTestCertificate(dir, "kube-client");
    const seen: (string | undefined)[] = [];
    const mtls = createServer(
      {
        cert: cert.pem,
        key: readFileSync(cert.keyPath),
        ca: client.pem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        seen.push((req.socket as TLSSocket).getPeerCertificate().subject?.CN?.toString());
        res.writeHead(200, { "content-type": "application/json" });
        res.end(readFileSync(PODS));
      },
    );
    await new Promise<void>((resolve) => mtls.listen(0, "127.0.0.1", resolve));
    const port = (mtls.address() as { port: number }).port;
    try {
      const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");
      const config = kubeconfig(
        `client-certificate-data: ${b64(client.pem)}\n      client-key-data: ${b64(readFileSync(client.keyPath))}`,
      );
      const path = join(dir, "mtls-config");
      writeFileSync(path, readFileSync(config, "utf8").replace(url, `https://127.0.0.1:${port}`));
      const r = await cli(["audit", LIST, "--kubeconfig", path, "--no-target"]);
      expect(r.err).toBe("");
      expect(r.out).toContain("Audit of 14 pods (20 containers)");
      expect(seen).toEqual(["ecr-mirror test kube-client"]);
    } finally {
      await new Promise((resolve) => mtls.close(resolve));
    }
  });

  it("reads the token from tokenFile, relative to the kubeconfig's folder", async () => {
    writeFileSync(join(dir, "token"), `${TOKEN}\n`);
    const r = await cli(["audit", LIST, "--kubeconfig", kubeconfig("tokenFile: token"), "--no-target"]);
    expect(r.err).toBe("");
    expect(r.out).toContain("Audit of 14 pods");
  });

  it("a refused token fails with the API's reason and a hint, and the token is never printed", async () => {
    const r = await cli([
      "audit",
      LIST,
      "--kubeconfig",
      kubeconfig("token: wrong-token-value"),
      "--no-target",
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `GET ${url}/api/v1/pods: the API server refused the credentials (401): "Unauthorized"`,
    );
    expect(r.err).toContain("hint: the token or client certificate is wrong or expired");
    expect(r.err).not.toContain("wrong-token-value");
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it("an untrusted certificate is refused, with no token sent", async () => {
    requests.length = 0;
    const r = await cli(["audit", LIST, "--kubeconfig", kubeconfig(`token: ${TOKEN}`, ""), "--no-target"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("the API server's certificate is not trusted");
    expect(requests).toEqual([]);
  });

  it("exec plugins and insecure-skip-tls-verify are refused with the kubectl way out", async () => {
    const exec = await cli([
      "audit",
      LIST,
      "--kubeconfig",
      kubeconfig(
        "exec: { apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token] }",
      ),
      "--no-target",
    ]);
    expect(exec.code).toBe(1);
    expect(exec.err).toContain('user "auditor" authenticates with an exec plugin or auth provider');
    expect(exec.err).toContain(
      "hint: get the pods with kubectl and pipe them in: kubectl get pods -A -o json | ecr-mirror audit --pods -",
    );
    const insecure = await cli([
      "audit",
      LIST,
      "--kubeconfig",
      kubeconfig(`token: ${TOKEN}`, "insecure-skip-tls-verify: true"),
      "--no-target",
    ]);
    expect(insecure.code).toBe(1);
    expect(insecure.err).toContain("sets insecure-skip-tls-verify");
    const context = await cli([
      "audit",
      LIST,
      "--kubeconfig",
      kubeconfig(`token: ${TOKEN}`),
      "--context",
      "nope",
      "--no-target",
    ]);
    expect(context.err).toContain('has no context "nope"');
  });
});
