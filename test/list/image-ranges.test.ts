// Image tag ranges as the list reads them: where each lands, what it keeps, where it is written; validate's text and
// JSON name them; a host only a range uses is redirected on the nodes like any other image's.
import { describe, expect, it } from "vitest";
import { parseMirrorList } from "../../src/list/parse.js";
import { redirectedUpstreams } from "../../src/list/redirects.js";
import { listSummary, listToJson } from "../../src/report/list-json.js";

const TEXT = `images:
  - source: quay.io/prometheus/node-exporter
    versionRange: "^1.8"
    newest: 2
    platforms: ["linux/amd64"]
  - source: nginx
    pattern: '1\\.27\\.\\d+-alpine'
    tags: ["1.27.0"]
`;

describe("image tag ranges in the list", () => {
  it("are read with their repository, platforms and line; exact tags beside them stay entries", () => {
    const { list, problems } = parseMirrorList(TEXT, "mirrors.yaml");
    expect(problems).toEqual([]);
    expect(list!.imageRanges).toEqual([
      {
        source: "quay.io/prometheus/node-exporter",
        reference: { domain: "quay.io", path: "prometheus/node-exporter", tag: null, digest: null },
        repository: "mirrors/quay.io/prometheus/node-exporter",
        platforms: ["linux/amd64"],
        platformLocations: [{ file: "mirrors.yaml", line: 5, column: 17 }],
        versionRange: "^1.8",
        pattern: null,
        newest: 2,
        location: { file: "mirrors.yaml", line: 3, column: 19 },
      },
      expect.objectContaining({
        source: "docker.io/library/nginx",
        repository: "mirrors/library/nginx",
        versionRange: null,
        pattern: "1\\.27\\.\\d+-alpine",
        newest: null,
        location: { file: "mirrors.yaml", line: 7, column: 14 },
      }),
    ]);
    expect(list!.images.map((i) => i.source)).toEqual(["docker.io/library/nginx:1.27.0"]);
    // quay.io is used by a range only: its nodes still redirect it.
    expect(redirectedUpstreams(list!).map((u) => u.host)).toEqual(["docker.io", "quay.io"]);
  });

  it("validate names them in its summary and its JSON", () => {
    const list = parseMirrorList(TEXT, "mirrors.yaml").list!;
    expect(listSummary(list)).toContain(
      'Image tag ranges (resolved at plan time, then kept in image-ranges.lock.json): quay.io/prometheus/node-exporter versionRange "^1.8", newest 2; docker.io/library/nginx pattern "1\\.27\\.\\d+-alpine".',
    );
    expect(listToJson(list).imageRanges).toEqual([
      {
        source: "quay.io/prometheus/node-exporter",
        repository: "mirrors/quay.io/prometheus/node-exporter",
        versionRange: "^1.8",
        pattern: null,
        newest: 2,
        platforms: ["linux/amd64"],
        line: 3,
      },
      {
        source: "docker.io/library/nginx",
        repository: "mirrors/library/nginx",
        versionRange: null,
        pattern: "1\\.27\\.\\d+-alpine",
        newest: null,
        line: 7,
      },
    ]);
  });

  it("a range alone is an entry: the list is not empty", () => {
    const { list, problems } = parseMirrorList("images:\n  - source: redis\n    newest: 1\n", "m.yaml");
    expect(problems).toEqual([]);
    expect(list!.imageRanges).toHaveLength(1);
  });
});
