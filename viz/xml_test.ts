import assert from "node:assert/strict";
import { checkWellFormedXml } from "./xml.ts";

Deno.test("checkWellFormedXml accepts well-formed documents and counts elements", () => {
  const summary = checkWellFormedXml(
    `<?xml version="1.0"?><!-- c --><svg xmlns="http://www.w3.org/2000/svg" a='1'>` +
      `<g><rect x="1"/><text>a &lt; b &amp; c &#8722; &#x2212;</text></g><![CDATA[<x>]]></svg>\n`,
  );
  assert.equal(summary.root, "svg");
  assert.equal(summary.elementCount, 4);
  assert.equal(summary.counts.get("rect"), 1);
  const html = checkWellFormedXml(
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8" /></head><body></body></html>`,
  );
  assert.equal(html.root, "html");
});

Deno.test("checkWellFormedXml rejects each kind of malformation with a located message", () => {
  const bad: [string, RegExp][] = [
    ["<svg><rect></svg>", /end tag <\/svg> does not match open <rect>/],
    ["<svg><g>", /unclosed element <g>/],
    ["<svg a=1/>", /not quoted/],
    ['<svg a="1" a="2"/>', /duplicate attribute 'a'/],
    ["<svg>a & b</svg>", /'&' does not start/],
    ["<svg>&nbsp;</svg>", /'&' does not start/],
    ['<svg a="x<y"/>', /'<' in value/],
    ["<a/><b/>", /second root element <b>/],
    ["text<a/>", /text outside the root/],
    ["<svg><!-- a -- b --></svg>", /'--' inside a comment/],
    ["", /no root element/],
    ['<svg\n  x="1"y="2"/>', /expected whitespace before attribute/],
  ];
  for (const [text, message] of bad) {
    assert.throws(() => checkWellFormedXml(text), message, `should reject ${JSON.stringify(text)}`);
  }
  assert.throws(() => checkWellFormedXml("<svg>\n<g></svg>"), /line 2, column 4/);
});
