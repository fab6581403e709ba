// Image discovery from recorded `helm template` output (test/fixtures/charts, modelled on ingress-nginx
// 4.11.3: controller Deployment, admission-webhook Jobs, plus a CronJob and the other workload kinds).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { readChartMetadata } from "../../src/charts/archive.js";
import { imagesFromManifests } from "../../src/charts/images.js";
import { makeChartTgz } from "../harness/images.js";

const fixtures = join(import.meta.dirname, "..", "fixtures", "charts");
const rendered = readFileSync(join(fixtures, "ingress-nginx-4.11.3.template.yaml"), "utf8");
const chartYaml = parseYaml(readFileSync(join(fixtures, "ingress-nginx-4.11.3.Chart.yaml"), "utf8")) as {
  annotations: Record<string, string>;
};
const CONTROLLER =
  "registry.k8s.io/ingress-nginx/controller:v1.11.3@sha256:d56f135b6462cfc476447cfe564b83a45e8bb7da2774963b00d12161112270b7";

describe("imagesFromManifests", () => {
  const result = imagesFromManifests(rendered, {
    name: "ingress-nginx",
    version: "4.11.3",
    annotations: chartYaml.annotations,
  });

  it("finds every container, init and ephemeral container in every workload kind, normalised", () => {
    expect(result.images).toEqual([
      "registry.k8s.io/ingress-nginx/opentelemetry-1.25.3:v20240813-b933310d@sha256:f7604ac0547ed64d79b98d92133234e66c2c8aade3c1f4809fed5eec1fb7f922",
      CONTROLLER,
      "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.4@sha256:a9f03b34a3cbfbb26d103a14046ab2c5130a80c3d69d526ff8063d2b37b9fd3f",
      "docker.io/bitnamilegacy/kubectl:1.31.1", // CronJob
      "cr.fluentbit.io/fluent/fluent-bit:3.1.9", // DaemonSet
      "docker.io/library/redis:latest", // StatefulSet, no tag: what the kubelet pulls
      "docker.io/library/busybox:1.37", // Pod
      "docker.io/nicolaka/netshoot:v0.13", // ephemeral container
      "docker.io/hashicorp/http-echo:1.0", // ReplicationController, index.docker.io normalised
      "registry.k8s.io/pause:3.10", // ReplicaSet
      "registry.k8s.io/ingress-nginx/controller-chroot:v1.11.3", // only in the helm.sh/images annotation
    ]);
  });

  it("ignores image-looking keys outside pod specs", () => {
    expect(result.images.some((i) => i.includes("an-image"))).toBe(false);
  });

  it("warns about images templated from empty values, naming the chart and the manifest path", () => {
    expect(result.warnings.map((w) => w.path)).toEqual([
      "Deployment/ingress-nginx/ingress-nginx-controller spec.template.spec.containers[1].image (ingress-nginx/templates/controller-deployment.yaml)",
      "Deployment/ingress-nginx/ingress-nginx-defaultbackend spec.template.spec.containers[0].image (ingress-nginx/templates/default-backend-deployment.yaml)",
    ]);
    expect(result.warnings[0]!.message).toMatch(/^chart ingress-nginx 4\.11\.3: .* is empty/);
    expect(result.warnings[1]!.message).toContain('"registry.k8s.io/defaultbackend-amd64:"');
  });

  it("reads CronJob pod templates at spec.jobTemplate.spec.template.spec", () => {
    const cron = `apiVersion: batch/v1
kind: CronJob
metadata: { name: c }
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{ name: i, image: "" }]
          containers: [{ name: a, image: "quay.io/x/y:1" }]
`;
    const r = imagesFromManifests(cron, { name: "c", version: "1.0.0" });
    expect(r.images).toEqual(["quay.io/x/y:1"]);
    expect(r.warnings[0]!.path).toBe("CronJob/c spec.jobTemplate.spec.template.spec.initContainers[0].image");
  });

  it("warns about a malformed images annotation instead of failing", () => {
    const r = imagesFromManifests("", {
      name: "a",
      version: "1.0.0",
      annotations: { "artifacthub.io/images": "image: not-a-list" },
    });
    expect(r.images).toEqual([]);
    expect(r.warnings[0]!.message).toContain("artifacthub.io/images annotation in Chart.yaml is not a list");
  });
});

describe("readChartMetadata", () => {
  it("reads Chart.yaml and its annotations from a packaged chart", () => {
    const tgz = makeChartTgz({ name: "demo", version: "1.2.3+build.1", appVersion: "9.9" });
    expect(readChartMetadata(tgz)).toEqual({
      name: "demo",
      version: "1.2.3+build.1",
      appVersion: "9.9",
      annotations: {},
    });
  });

  it("says so when the archive is not a chart", () => {
    expect(() => readChartMetadata(Buffer.from("plain text"))).toThrow(/not gzip/);
  });
});
