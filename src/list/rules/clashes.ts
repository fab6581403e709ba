/** Rules across sections: an image and a chart never share a repository. */
import type { ChartEntry, ChartRange, ImageEntry, ImageRange } from "../model.js";
import type { Problems } from "../problems.js";
import { referenceName } from "../reference.js";

export function checkRepositoryClashes(
  images: (ImageEntry | ImageRange)[],
  charts: (ChartEntry | ChartRange)[],
  problems: Problems,
): void {
  const imageRepos = new Map(images.map((i) => [i.repository, i]));
  for (const chart of charts) {
    const image = imageRepos.get(chart.repository);
    if (image) {
      problems.error(
        chart.location,
        `chart ${chart.name} lands in ${chart.repository}, where the image ${referenceName(image.reference)} (line ${image.location.line}) lands too`,
        "use different target.imagePrefix and target.chartPrefix",
      );
    }
  }
}
