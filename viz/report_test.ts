import assert from "node:assert/strict";
import { join } from "node:path";
import { escapeHtml, renderFigures, renderReport, writeReport } from "./report.ts";
import { checkWellFormedXml } from "./xml.ts";
import {
  CIFAR10_CLASSES,
  syntheticGallery,
  syntheticLog,
  syntheticReportData,
  syntheticResults,
  syntheticVerify,
  withSyntheticScan,
} from "./fixtures.ts";
import { clusterImageGrid, neighbourPurityChart } from "./cluster_charts.ts";
import { CHROMIUM_PATH, chromiumAvailable, loadInChromium } from "./chromium.ts";
import { formatPercent } from "./svg.ts";
import type { ReportData } from "./types.ts";

const full = syntheticReportData(5000);

/** Occurrences of `needle` in `text`. */
function count(text: string, needle: string | RegExp): number {
  return text.split(needle).length - 1;
}

Deno.test("full report: well-formed, every figure inline with a caption, headline numbers", () => {
  const figures = renderFigures(full);
  assert.deepEqual(figures.map((f) => f.fileName), [
    "training-loss-lr.svg",
    "collapse-monitors.svg",
    "pca-simclr.svg",
    "pca-raw-pixels.svg",
    "pca-random-encoder.svg",
    "tsne-simclr.svg",
    "tsne-raw-pixels.svg",
    "tsne-random-encoder.svg",
    "kmeans-contingency.svg",
    "probe-confusion.svg",
    "per-class-accuracy.svg",
    "verify.svg",
    "augmentations.svg",
  ]);
  for (const f of figures) assert.ok(!f.caption.includes("\n"), `one-line caption: ${f.caption}`);
  const html = renderReport(full, figures);
  // The page is written as well-formed markup (void elements self-closed), so a strict XML check
  // proves every tag is closed and nested, inline SVGs included.
  const summary = checkWellFormedXml(html);
  assert.equal(summary.root, "html");
  assert.equal(summary.counts.get("svg"), figures.length);
  assert.equal(summary.counts.get("figcaption"), figures.length);
  assert.equal(summary.counts.get("figure"), figures.length);
  assert.ok(html.startsWith("<!DOCTYPE html>\n"));
  for (const f of figures) assert.ok(html.includes(f.svg), `${f.fileName} inline`);
  // Headline: the numbers of each variant appear in the table.
  for (const v of full.results!.variants) {
    assert.ok(html.includes(`<td>${formatPercent(v.probe.testAccuracy)}</td>`), v.name);
    assert.ok(html.includes(`<td>${formatPercent(v.knn.accuracy)}</td>`), v.name);
    assert.ok(html.includes(`<td>${v.kmeans!.nmi.toFixed(3)}</td>`), v.name);
  }
  const steps = full.log!.steps;
  const gain =
    (full.results!.variants[0].probe.testAccuracy - full.results!.variants[1].probe.testAccuracy) *
    100;
  assert.ok(html.includes(`+${gain.toFixed(1)} points`));
  assert.ok(html.includes("Training time") && html.includes("images/s"));
  assert.ok(html.includes(`${steps.length}</dd>`));
  assert.ok(html.includes("8/9 tensors within tolerance — 1 NOT OK"));
  // Self-contained: no scripts, stylesheets links, or URLs other than the SVG namespace.
  assert.equal(count(html, "<script"), 0);
  assert.equal(count(html, "<link"), 0);
  assert.equal(count(html, /@import|url\(/), 0);
  const urls = html.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'<)]*/gi) ?? [];
  assert.deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"]);
});

Deno.test("missing parts are omitted: only a training log gives only the training section", () => {
  const html = renderReport({ log: syntheticLog() });
  const summary = checkWellFormedXml(html);
  assert.equal(summary.counts.get("svg"), 2);
  assert.ok(html.includes('<section id="training">'));
  for (
    const absent of ["verification", "Representations", "Augmentations", "<table", "Configuration"]
  ) {
    assert.ok(!html.includes(absent), `no ${absent}`);
  }
  // Only verify rows: the verify chart and its headline line, nothing else.
  const verifyOnly = renderReport({ verify: syntheticVerify() });
  assert.equal(checkWellFormedXml(verifyOnly).counts.get("svg"), 1);
  assert.ok(verifyOnly.includes("Backend verification"));
  // Gallery labelled from `classNames` when there are no results.
  const galleryOnly = renderFigures({ gallery: syntheticGallery(2), classNames: CIFAR10_CLASSES });
  assert.equal(galleryOnly.length, 1);
  assert.ok(galleryOnly[0].svg.includes(">automobile</text>"));
  // Results without k-means/PCA/t-SNE: probe charts only.
  const results = syntheticResults(100);
  for (const v of results.variants) {
    delete v.kmeans;
    delete v.pca;
    delete v.tsne;
  }
  assert.deepEqual(renderFigures({ results }).map((f) => f.fileName), [
    "probe-confusion.svg",
    "per-class-accuracy.svg",
  ]);
  // Nothing at all: still a valid page that says so.
  const empty = renderReport({});
  assert.equal(checkWellFormedXml(empty).counts.get("svg") ?? 0, 0);
  assert.ok(empty.includes("No training log"));
});

Deno.test("a chart with invalid data is reported in place; the other charts still render", async () => {
  const data = syntheticReportData(200);
  data.results!.variants[0].probe.confusion = data.results!.variants[0].probe.confusion.slice(0, 9);
  const figures = renderFigures(data);
  const broken = figures.filter((f) => f.error !== undefined);
  assert.deepEqual(broken.map((f) => f.fileName), ["probe-confusion.svg"]);
  assert.match(broken[0].error!, /probe\.confusion must have 10 rows, got 9/);
  const html = renderReport(data, figures);
  assert.equal(checkWellFormedXml(html).counts.get("svg"), figures.length - 1);
  assert.ok(html.includes("1 chart could not be drawn"));
  assert.ok(
    html.includes("probe-confusion.svg could not be drawn: viz: probe.confusion must have 10 rows"),
  );
  const dir = await Deno.makeTempDir({ prefix: "viz-report-broken-" });
  try {
    const written = await writeReport(dir, data);
    assert.equal(written.length, figures.length); // 12 SVGs + report.html
    assert.ok(!written.some((p) => p.endsWith("probe-confusion.svg")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("text from the data is escaped in the page and in the SVGs", () => {
  const results = syntheticResults(200);
  results.classNames = results.classNames.map((c, i) => (i === 3 ? `<b>cat & "dog"</b>` : c));
  const data: ReportData = {
    title: `Run <script>alert(1)</script> & co`,
    results,
    verify: [{ ...syntheticVerify()[0], name: "a<b> & 'c'" }],
    config: { note: "x < y & z" },
  };
  data.results!.variants[1].name = "../raw pixels/x";
  assert.ok(renderFigures(data).some((f) => f.fileName === "tsne-raw-pixels-x.svg"));
  const html = renderReport(data);
  checkWellFormedXml(html);
  assert.ok(!html.includes("<script>"));
  assert.ok(html.includes("Run &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
  assert.ok(html.includes("&lt;b&gt;cat &amp;"));
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
});

Deno.test("writeReport writes report.html and each SVG atomically, leaving no temp files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "viz-report-" });
  try {
    const data = syntheticReportData(500);
    const out = join(dir, "nested", "report");
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(join(out, "report.html"), "stale");
    const written = await writeReport(out, data);
    const expected = [...renderFigures(data).map((f) => f.fileName), "report.html"];
    assert.deepEqual(written.map((p) => p.slice(out.length + 1)), expected);
    const listing = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(listing, [...expected].sort(), "no temporary files left behind");
    const html = await Deno.readTextFile(join(out, "report.html"));
    assert.equal(html, renderReport(data));
    for (const name of expected.filter((n) => n.endsWith(".svg"))) {
      assert.equal(checkWellFormedXml(await Deno.readTextFile(join(out, name))).root, "svg");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const chromium = chromiumAvailable();
if (!chromium) console.warn(`SKIP chromium tests: ${CHROMIUM_PATH} not found`);

const PROBE = `JSON.stringify({
  svgs: [...document.querySelectorAll("figure svg")].map((s) => {
    const r = s.getBoundingClientRect();
    return [Math.round(r.width), Math.round(r.height)];
  }),
  circles: document.querySelectorAll("#fig-tsne-simclr circle").length,
  images: document.querySelectorAll("image").length,
  title: document.title,
})`;

Deno.test({
  name: "report loads in headless Chromium without console errors or external requests",
  ignore: !chromium,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "viz-chromium-page-" });
    try {
      const path = join(dir, "report.html");
      await Deno.writeTextFile(path, renderReport(full));
      const page = await loadInChromium(path, { probe: PROBE });
      assert.deepEqual(page.errors, []);
      assert.deepEqual(page.externalRequests, []);
      const probe = JSON.parse(String(page.probe));
      assert.equal(probe.title, full.title);
      assert.equal(probe.svgs.length, 13);
      for (const [w, h] of probe.svgs) assert.ok(w >= 300 && h >= 100, `laid out at ${w}×${h}`);
      assert.equal(probe.circles, 5000);
      assert.equal(probe.images, 12);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the Chromium check does catch console errors and external requests (negative control)",
  ignore: !chromium,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "viz-chromium-bad-" });
    try {
      const path = join(dir, "bad.html");
      await Deno.writeTextFile(
        path,
        `<!DOCTYPE html><html><head><title>bad</title></head><body>` +
          `<img src="http://127.0.0.1:9/missing.png" alt="" />` +
          `<script>console.error("boom")</script></body></html>`,
      );
      const page = await loadInChromium(path, { settleMs: 500 });
      assert.ok(page.errors.some((e) => e.includes("boom")), page.errors.join("\n"));
      assert.deepEqual(page.externalRequests, ["http://127.0.0.1:9/missing.png"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("SCAN results add the clustering table, purity curve, SCAN contingency and image grid", () => {
  const data = withSyntheticScan(syntheticReportData(500));
  const figures = renderFigures(data);
  const names = figures.map((f) => f.fileName);
  const at = names.indexOf("kmeans-contingency.svg");
  assert.deepEqual(names.slice(at, at + 4), [
    "kmeans-contingency.svg",
    "scan-contingency.svg",
    "neighbour-purity.svg",
    "scan-clusters.svg",
  ]);
  for (const f of figures) assert.equal(f.error, undefined, `${f.fileName}: ${f.error}`);
  const byName = (n: string) => figures.find((f) => f.fileName === n)!;
  const simclr = data.results!.variants[0];
  // SCAN's heatmap says what it is and carries SCAN's numbers, not k-means's.
  const scanSvg = byName("scan-contingency.svg").svg;
  assert.ok(scanSvg.includes("SCAN clusters vs classes"));
  assert.ok(scanSvg.includes(`NMI ${simclr.scan!.nmi.toFixed(3)}`));
  assert.ok(!byName("kmeans-contingency.svg").svg.includes("SCAN"));
  // One purity line per variant, the k marker, purity at k = 20 in the caption.
  const purity = byName("neighbour-purity.svg");
  assert.equal(count(purity.svg, 'class="purity-line"'), 3);
  assert.equal(count(purity.svg, 'class="k-marker"'), 1);
  assert.ok(purity.caption.includes(formatPercent(simclr.scan!.neighbourPurity![19])));
  // Ten rows of ten images; 7 of each row's labels are the matched class (blue), 3 not (orange).
  const grid = byName("scan-clusters.svg").svg;
  assert.equal(count(grid, 'class="cluster-row"'), 10);
  assert.equal(count(grid, "<image"), 100);
  assert.equal(count(grid, 'fill="#0072B2"'), 70);
  checkWellFormedXml(grid);
  // Headline: k-means and SCAN scores of every variant, with the spread over the three seeds.
  const html = renderReport(data, figures);
  checkWellFormedXml(html);
  assert.ok(html.includes("k-means vs SCAN"));
  for (const v of data.results!.variants) {
    assert.ok(html.includes(`<td>${formatPercent(v.scan!.accuracy)}</td>`), v.name);
    assert.ok(html.includes(`<td>${v.scan!.nmi.toFixed(3)}</td>`), v.name);
  }
  const accs = simclr.scan!.seeds!.map((s) => s.accuracy);
  const mean = accs.reduce((a, b) => a + b) / 3;
  assert.ok(html.includes(`${formatPercent(mean)} ± ${formatPercent(0.01)}`));
  assert.ok(html.includes("(3 seeds)"));
  // Self-labelling: its column, filled for SimCLR and "–" for the others.
  assert.ok(html.includes("+ self-label ACC"));
  assert.ok(html.includes(`<td>${formatPercent(simclr.scan!.selfLabel!.accuracy)}</td>`));
  assert.ok(html.includes(`<td>${simclr.scan!.selfLabel!.nmi.toFixed(3)}</td>`));
  // The fine-tuned encoder: one extra row under SimCLR with its SCAN and self-label scores, and
  // no k-means cells (k-means is not re-run on its features); two "–" triples for the baselines'
  // self-label cells, one for that row's k-means.
  const ft = simclr.scan!.finetune!;
  assert.equal(count(html, 'class="finetuned"'), 1);
  const row = html.slice(html.indexOf('<tr class="finetuned">'));
  const cellsOf = (c: { accuracy: number; nmi: number; ari: number }) =>
    `<td>${formatPercent(c.accuracy)}</td><td>${c.nmi.toFixed(3)}</td><td>${c.ari.toFixed(3)}</td>`;
  assert.ok(
    row.startsWith(
      `<tr class="finetuned"><th scope="row"><span class="swatch" style="background:${
        row.match(/background:([^"]+)"/)![1]
      }"></span>SimCLR, encoder fine-tuned (4.5 epochs)</th><td>–</td><td>–</td><td>–</td>${
        cellsOf(ft)
      }${cellsOf(ft.selfLabel!)}<td>–</td></tr>`,
    ),
    row.slice(0, 600),
  );
  assert.ok(html.includes("with the encoder fine-tuned by the SCAN loss"));
  assert.equal(count(html, "<td>–</td><td>–</td><td>–</td>"), 3);
});

Deno.test("SCAN charts reject bad input with the field named", () => {
  assert.throws(
    () => neighbourPurityChart([{ name: "simclr", purity: [0.5, 1.2] }]),
    /curves\[0\]\.purity\[1\] = 1\.2 is not a fraction/,
  );
  assert.throws(
    () =>
      clusterImageGrid(
        [{ cluster: 0, images: [new Uint8Array(3072)], labels: [] }],
        CIFAR10_CLASSES,
      ),
    /clusterImages\[0\] has 1 images but 0 labels/,
  );
});
