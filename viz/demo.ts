/**
 * Writes the report for synthetic fixture data, plus a PNG of every chart, to inspect the layout:
 * `deno run -A viz/demo.ts [out-dir]` (default `runs/viz-demo`).
 *
 * @module
 */
import { join } from "node:path";
import { renderFigures, writeReport } from "./report.ts";
import { syntheticReportData } from "./fixtures.ts";
import { rasterizeSvg } from "./raster.ts";

if (import.meta.main) {
  const dir = Deno.args[0] ?? "runs/viz-demo";
  const data = syntheticReportData();
  const written = await writeReport(dir, data);
  for (const figure of renderFigures(data)) {
    const png = rasterizeSvg(figure.svg).png;
    const path = join(dir, figure.fileName.replace(/\.svg$/, ".png"));
    await Deno.writeFile(path, png);
    written.push(path);
  }
  console.log(written.join("\n"));
}
