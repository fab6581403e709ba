// Issue 9, "done when": a mirror list with an HTTP chart (a version range), an OCI chart and a chart with
// image discovery syncs into the gated local ECR with only the missing versions pushed; the images found in
// the chart appear in the plan, marked with the chart, and are copied. A second sync copies nothing.
// Real pieces: an HTTP chart repository (index.yaml + packaged charts made here), distribution registries for
// the OCI chart, the test image and the ECR storage, the ECR API endpoint and gate; crane and helm are the
// stand-ins (or the real tools under ECR_MIRROR_REAL_TOOLS=1), installed from the tool cache.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateRepositoryCommand, ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readChartImagesRecord } from "../../src/charts/record.js";
import type { MirrorList } from "../../src/list/model.js";
import { parseMirrorList } from "../../src/list/parse.js";
import { CHART_IMAGES_FILE } from "../../src/render/chart-images.js";
import { formatPlan, planToJson } from "../../src/report/plan.js";
import {
  connectTarget,
  renderNodeFiles,
  type SyncRunOptions,
  type SyncRunResult,
  syncRun,
  withConfiguratorImage,
} from "../../src/run.js";
import { SecretMask } from "../../src/tools/credentials.js";
import { InvocationCounter } from "../../src/tools/runner.js";
import { type LocalEcr, startEcr } from "../harness/ecr.js";
import {
  getManifest,
  makeChartTgz,
  type PushedChart,
  pushChart,
  pushImage,
  type RunningChartRepo,
  startChartRepo,
  tagDigest,
} from "../harness/images.js";
import { validList } from "../harness/list.js";
import { type RunningRegistry, startRegistry } from "../harness/registry.js";
import { plantToolCache, readInvocationLog, STAND_IN_TOOL_VERSIONS } from "../stand-ins/stand-ins.js";

const PROV = "-----BEGIN PGP SIGNED MESSAGE-----\nweb 1.1.0 (test provenance)\n-----END PGP SIGNATURE-----\n";
const DISCO_TEMPLATES = {
  "deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.registry }}/library/app:{{ .Values.image.tag }}"
        - name: sidecar
          image: "{{ .Values.sidecar.image }}"
`,
  "cronjob.yaml": `apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ .Release.Name }}-cleanup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: cleanup
              image: "{{ .Values.image.registry }}/tools/cleanup:{{ .Chart.AppVersion }}"
`,
};

let upstream: RunningRegistry;
let backing: RunningRegistry;
let ecr: LocalEcr;
let repo: RunningChartRepo;
let root: string;
let log: string;
let ociChart: PushedChart;
let appDigest: string;
let cleanupDigest: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  [upstream, backing] = await Promise.all([startRegistry(), startRegistry()]);
  ecr = await startEcr({ registry: backing });
  root = await mkdtemp(join(tmpdir(), "sync-charts-"));
  log = join(root, "standin.jsonl");
  // crane and helm waiting in the tool cache under ecr-mirror's cache names, as the installer leaves them.
  // (Stand-in versions: the default ones are verified against SHA-256 values built into the product.)
  for (const tool of ["crane", "helm"] as const) await plantToolCache(join(root, "tool-cache"), tool);
  for (const [k, v] of Object.entries({
    RUNNER_TOOL_CACHE: join(root, "tool-cache"),
    RUNNER_TEMP: root,
    STANDIN_LOG: log,
  })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }

  const web = (version: string) => ({ name: "web", version, tgz: makeChartTgz({ name: "web", version }) });
  repo = await startChartRepo([
    web("1.0.0"),
    { ...web("1.1.0"), prov: PROV },
    web("2.0.0"),
    {
      name: "disco",
      version: "2.0.0",
      tgz: makeChartTgz({
        name: "disco",
        version: "2.0.0",
        appVersion: "0.5",
        values: { image: { registry: "docker.io", tag: "latest" }, sidecar: { image: "" } },
        templates: DISCO_TEMPLATES,
      }),
    },
  ]);
  ociChart = await pushChart(upstream.url, "charts", {
    name: "oci-app",
    version: "0.1.0",
    tgz: makeChartTgz({ name: "oci-app", version: "0.1.0" }),
  });
  await pushChart(upstream.url, "charts", {
    name: "oci-app",
    version: "0.2.0",
    tgz: makeChartTgz({ name: "oci-app", version: "0.2.0" }),
  });
  appDigest = (await pushImage(upstream.url, "library/app", "1.0", { seed: "app-1.0" })).digest;
  cleanupDigest = (await pushImage(upstream.url, "tools/cleanup", "0.5", { seed: "cleanup" })).digest;

  // The target already holds web 1.0.0: only 1.1.0 of the range may be pushed.
  await client().send(new CreateRepositoryCommand({ repositoryName: "charts/web" }));
  await pushChart(backing.url, "charts", web("1.0.0"));
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await ecr?.stop();
  await Promise.all([upstream?.stop(), backing?.stop(), repo?.stop()]);
  if (root) await rm(root, { recursive: true, force: true });
});

function client(): ECRClient {
  return new ECRClient({
    endpoint: ecr.apiUrl,
    region: ecr.region,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
}

function mirrorList(): MirrorList {
  const text = `version: 1
target:
  region: ${ecr.region}
upstreams:
  "${upstream.host}": { prefix: mirrors/local }
charts:
  - source: ${repo.url}
    name: web
    versionRange: "^1.0"
  - source: oci://${upstream.host}/charts/oci-app
    versions: ["0.1.0"]
  - source: ${repo.url}
    name: disco
    versions: ["2.0.0"]
    images: true
    values:
      image: { registry: "${upstream.host}", tag: "1.0" }
`;
  return validList(text);
}

async function sync(
  list = mirrorList(),
  options: Pick<SyncRunOptions, "charts" | "counter"> = {},
): Promise<SyncRunResult> {
  const mask = new SecretMask(() => {});
  const target = await connectTarget(list, { mask, ecrClient: client() });
  return syncRun(list, target, {
    resync: "missing",
    upstreamCredentials: [],
    mask,
    log: () => {},
    crane: { version: STAND_IN_TOOL_VERSIONS.crane },
    helm: { version: STAND_IN_TOOL_VERSIONS.helm },
    ...options,
  });
}

describe("charts into the gated ECR", () => {
  let first: SyncRunResult;

  beforeAll(async () => {
    first = await sync();
  }, 60_000);

  it("plans the range's resolved versions, the OCI chart and the chart's images, marked with the chart", () => {
    const steps = planToJson(first.plan).steps.filter((s) => s.action !== "create-repository");
    expect(
      steps.map((s) => [s.action, s.repository, s.tag, s.versionRange ?? s.fromCharts?.join() ?? null]),
    ).toEqual([
      // sorted by reference, whatever order helm prints the manifests in
      ["copy", "mirrors/local/library/app", "1.0", "charts/disco:2.0.0"],
      ["copy", "mirrors/local/tools/cleanup", "0.5", "charts/disco:2.0.0"],
      ["copy", "charts/web", "1.1.0", "^1.0"],
      ["present", "charts/web", "1.0.0", "^1.0"],
      ["copy", "charts/oci-app", "0.1.0", null],
      ["copy", "charts/disco", "2.0.0", null],
    ]);
    expect(formatPlan(first.plan)).toContain(
      `${upstream.host}/library/app:1.0 -> mirrors/local/library/app:1.0  (new repository; from chart charts/disco:2.0.0)`,
    );
    // The sidecar's image is templated from an empty value: a warning naming the chart and the manifest path.
    expect(first.plan.warnings.map((w) => w.message)).toEqual([
      "chart disco 2.0.0: Deployment/disco spec.template.spec.containers[1].image (disco/templates/deployment.yaml) is empty (templated from an empty value?); that image is not mirrored",
    ]);
  });

  it("pushes only the missing versions, keeps the OCI chart's digest and the provenance file, copies the images", async () => {
    expect(first.report.ok).toBe(true);
    expect(await tagDigest(backing.url, "charts/oci-app", "0.1.0")).toBe(ociChart.digest);
    expect(await tagDigest(backing.url, "mirrors/local/library/app", "1.0")).toBe(appDigest);
    expect(await tagDigest(backing.url, "mirrors/local/tools/cleanup", "0.5")).toBe(cleanupDigest);
    const web = await getManifest(backing.url, "charts/web", "1.1.0");
    const layers = (web.json as { layers: { mediaType: string }[] }).layers.map((l) => l.mediaType);
    expect(layers).toEqual([
      "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
      "application/vnd.cncf.helm.chart.provenance.v1.prov",
    ]);
    expect(await tagDigest(backing.url, "charts/web", "2.0.0")).toBeNull();
    const pushes = readInvocationLog(log).filter((r) => r.tool === "helm" && r.argv[0] === "push");
    expect(pushes.map((r) => r.argv[1]?.split("/").pop()).sort()).toEqual([
      "disco-2.0.0.tgz",
      "web-1.1.0.tgz",
    ]);
  });

  it("a second sync copies and pushes nothing", async () => {
    const before = readInvocationLog(log).length;
    const second = await sync();
    expect(second.plan.summary).toMatchObject({ "create-repository": 0, copy: 0, update: 0 });
    expect(second.plan.summary.present).toBe(6);
    const ran = readInvocationLog(log)
      .slice(before)
      .map((r) => `${r.tool} ${r.argv[0]}`);
    // Discovery renders the chart again (pull + template); nothing is copied or pushed.
    expect(ran.sort()).toEqual(["helm pull", "helm template"]);
  }, 60_000);
});

// The chart images record: the sync renders the chart once, the node configuration carries what it found
// (chart-images.json), and a run given that file downloads and renders nothing while the chart version and
// its values stay the same.
describe("the chart images record (chart-images.json)", () => {
  function discoList(values = `{ image: { registry: "${upstream.host}", tag: "1.0" } }`): MirrorList {
    const { list, problems } = parseMirrorList(
      `version: 1
target:
  region: ${ecr.region}
upstreams:
  "${upstream.host}": { prefix: mirrors/local }
charts:
  - source: ${repo.url}
    name: disco
    versions: ["2.0.0"]
    images: true
    values: ${values}
`,
      "mirrors.yaml",
    );
    if (!list) throw new Error(problems.map((p) => p.message).join("\n"));
    return list;
  }
  const helmRuns = (from: number) =>
    readInvocationLog(log)
      .slice(from)
      .filter((r) => r.tool === "helm")
      .map((r) => `helm ${r.argv[0]}`)
      .sort();

  let first: SyncRunResult;
  let firstHelm: string[];
  let firstRequests: string[];
  let recordPath: string;

  beforeAll(async () => {
    const before = readInvocationLog(log).length;
    const requests = repo.requests.length;
    first = await sync(discoList());
    firstHelm = helmRuns(before);
    firstRequests = repo.requests.slice(requests).map((r) => `${r.method} ${r.path}`);
    // Rendered as the action renders after a sync: the planned list and the plan's record.
    const { list, entry } = withConfiguratorImage(first.list, "public.ecr.aws/aws-cli/aws-cli:2.15.62");
    const rendered = renderNodeFiles(
      list,
      { registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", region: ecr.region },
      { entry, digest: `sha256:${"ab".repeat(32)}` },
      { startupTaint: false, chartImages: first.chartImages },
    );
    if (!rendered.ok) throw new Error(rendered.problems.map((p) => p.message).join("\n"));
    const file = rendered.files.find((f) => f.path === CHART_IMAGES_FILE);
    if (!file)
      throw new Error(`no ${CHART_IMAGES_FILE} among ${rendered.files.map((f) => f.path).join(", ")}`);
    recordPath = join(root, CHART_IMAGES_FILE);
    await writeFile(recordPath, file.content);
  }, 60_000);

  it("without a record, the sync downloads and renders the chart", () => {
    expect(first.report.ok).toBe(true);
    expect(firstHelm).toEqual(["helm pull", "helm template"]);
    expect(first.processes).toEqual({ "helm pull": 1, "helm template": 1 });
    expect(firstRequests).toContain("GET /disco-2.0.0.tgz");
    expect(first.chartsRendered).toBe(1);
  });

  it("renders the record: the chart version, its values' hash and the images found, sorted", async () => {
    const { record, warning } = await readChartImagesRecord(recordPath);
    expect(warning).toBeNull();
    expect(record?.charts).toEqual([
      {
        source: repo.url,
        name: "disco",
        version: "2.0.0",
        valuesSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        images: [`${upstream.host}/library/app:1.0`, `${upstream.host}/tools/cleanup:0.5`],
        warnings: [
          "chart disco 2.0.0: Deployment/disco spec.template.spec.containers[1].image (disco/templates/deployment.yaml) is empty (templated from an empty value?); that image is not mirrored",
        ],
      },
    ]);
  });

  it("given the record, a sync starts no process, asks the chart repository nothing and plans the same", async () => {
    const { record } = await readChartImagesRecord(recordPath);
    const before = readInvocationLog(log).length;
    const requests = repo.requests.length;
    const counter = new InvocationCounter();
    const second = await sync(discoList(), { charts: { known: record }, counter });
    expect(helmRuns(before)).toEqual([]);
    expect(counter.count()).toBe(0);
    expect(second.processes).toEqual({});
    expect(repo.requests.slice(requests)).toEqual([]);
    expect(second.chartsRendered).toBe(0);
    // The images found in the chart are still in the plan, present in the target, marked with the chart.
    const steps = planToJson(second.plan).steps;
    expect(steps.map((s) => [s.action, s.repository, s.tag, s.fromCharts?.join() ?? null])).toEqual([
      ["present", "mirrors/local/library/app", "1.0", "charts/disco:2.0.0"],
      ["present", "mirrors/local/tools/cleanup", "0.5", "charts/disco:2.0.0"],
      ["present", "charts/disco", "2.0.0", null],
    ]);
    expect(second.plan.warnings).toEqual(first.plan.warnings);
    expect(second.chartImages).toEqual(first.chartImages);
  }, 60_000);

  it("changed values miss the record: the chart is rendered again", async () => {
    const { record } = await readChartImagesRecord(recordPath);
    const before = readInvocationLog(log).length;
    const changed = await sync(
      discoList(
        `{ image: { registry: "${upstream.host}", tag: "1.0" }, sidecar: { image: "${upstream.host}/library/app:1.0" } }`,
      ),
      { charts: { known: record } },
    );
    expect(helmRuns(before)).toEqual(["helm pull", "helm template"]);
    expect(changed.chartsRendered).toBe(1);
    expect(changed.plan.warnings).toEqual([]); // the sidecar's image is no longer empty
  }, 60_000);
});
