/**
 * A small strict XML well-formedness checker. linkedom's XML parser is lenient (it silently repairs
 * unclosed tags), so the tests use this to prove the SVGs (and the report page, which is written
 * as well-formed XHTML-compatible markup) would load in a strict XML parser.
 *
 * Checks: one root element, matched and properly nested tags, quoted attributes without `<`, no
 * duplicate attributes, only the five predefined entities or numeric character references, no
 * stray `<` or `&` in text, well-formed comments / CDATA / processing instructions, and an optional
 * `<?xml …?>` declaration and `<!DOCTYPE …>` (without internal subset) before the root.
 *
 * @module
 */

/** Summary of a well-formed document. */
export interface XmlSummary {
  /** Name of the root element. */
  root: string;
  /** Number of elements in the document. */
  elementCount: number;
  /** Number of elements by name. */
  counts: Map<string, number>;
}

const NAME = /[A-Za-z_:][A-Za-z0-9_.:\-]*/y;
const SPACE = /[ \t\r\n]*/y;
const ENTITY = /&(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/y;

/**
 * Throws an Error naming line and column of the first well-formedness violation in `text`;
 * otherwise returns a summary of the elements.
 */
export function checkWellFormedXml(text: string): XmlSummary {
  let pos = 0;
  const stack: string[] = [];
  const counts = new Map<string, number>();
  let root: string | undefined;
  let elementCount = 0;
  let rootClosed = false;

  const fail = (message: string, at = pos): never => {
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    const near = JSON.stringify(text.slice(at, at + 40));
    throw new Error(
      `XML not well-formed at line ${line}, column ${column}: ${message} (near ${near})`,
    );
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    pos += m[0].length;
    return m[0];
  };
  const skipSpace = () => void match(SPACE);
  const checkEntities = (start: number, end: number) => {
    // Search within the slice only: an unbounded indexOf would rescan the rest of the document
    // for every text run without '&' (quadratic on large pages).
    const segment = text.slice(start, end);
    for (let i = segment.indexOf("&"); i !== -1; i = segment.indexOf("&", i + 1)) {
      ENTITY.lastIndex = start + i;
      if (!ENTITY.test(text)) {
        fail("'&' does not start a predefined entity or character reference", start + i);
      }
    }
  };

  if (text.startsWith("<?xml")) {
    const end = text.indexOf("?>");
    if (end === -1) fail("unterminated XML declaration");
    pos = end + 2;
  }
  while (pos < text.length) {
    const lt = text.indexOf("<", pos);
    const textEnd = lt === -1 ? text.length : lt;
    if (textEnd > pos) {
      if (stack.length === 0 && text.slice(pos, textEnd).trim() !== "") {
        fail("text outside the root element");
      }
      if (text.slice(pos, textEnd).includes("]]>")) fail("']]>' in text");
      checkEntities(pos, textEnd);
      pos = textEnd;
    }
    if (pos >= text.length) break;
    if (text.startsWith("<!--", pos)) {
      const end = text.indexOf("-->", pos + 4);
      if (end === -1) fail("unterminated comment");
      if (text.slice(pos + 4, end).includes("--")) fail("'--' inside a comment");
      pos = end + 3;
    } else if (text.startsWith("<![CDATA[", pos)) {
      if (stack.length === 0) fail("CDATA outside the root element");
      const end = text.indexOf("]]>", pos);
      if (end === -1) fail("unterminated CDATA section");
      pos = end + 3;
    } else if (text.startsWith("<!DOCTYPE", pos) || text.startsWith("<!doctype", pos)) {
      if (root !== undefined) fail("DOCTYPE after the root element");
      const end = text.indexOf(">", pos);
      if (end === -1) fail("unterminated DOCTYPE");
      if (text.slice(pos, end).includes("[")) fail("DOCTYPE internal subsets are not supported");
      pos = end + 1;
    } else if (text.startsWith("<?", pos)) {
      const end = text.indexOf("?>", pos);
      if (end === -1) fail("unterminated processing instruction");
      pos = end + 2;
    } else if (text.startsWith("</", pos)) {
      const tagStart = pos;
      pos += 2;
      const name = match(NAME) ?? fail("bad end-tag name");
      skipSpace();
      if (text[pos] !== ">") fail(`end tag </${name}> not closed with '>'`);
      pos++;
      const open = stack.pop();
      if (open !== name) {
        fail(`end tag </${name}> does not match open <${open ?? "(none)"}>`, tagStart);
      }
      if (stack.length === 0) rootClosed = true;
    } else {
      const tagStart = pos;
      pos++;
      const name = match(NAME) ?? fail("bad element name");
      if (stack.length === 0) {
        if (rootClosed || root !== undefined) fail(`second root element <${name}>`, tagStart);
        root = name;
      }
      elementCount++;
      counts.set(name, (counts.get(name) ?? 0) + 1);
      const seen = new Set<string>();
      for (;;) {
        const before = pos;
        skipSpace();
        if (text.startsWith("/>", pos)) {
          pos += 2;
          if (stack.length === 0) rootClosed = true;
          break;
        }
        if (text[pos] === ">") {
          pos++;
          stack.push(name);
          break;
        }
        if (pos === before) fail(`expected whitespace before attribute in <${name}>`);
        const attr = match(NAME) ?? fail(`bad attribute name in <${name}>`);
        if (seen.has(attr)) fail(`duplicate attribute '${attr}' in <${name}>`);
        seen.add(attr);
        skipSpace();
        if (text[pos] !== "=") fail(`attribute '${attr}' in <${name}> has no '='`);
        pos++;
        skipSpace();
        const quote = text[pos];
        if (quote !== '"' && quote !== "'") fail(`attribute '${attr}' in <${name}> is not quoted`);
        const end = text.indexOf(quote, pos + 1);
        if (end === -1) fail(`unterminated value of attribute '${attr}'`);
        const lessThan = text.indexOf("<", pos + 1);
        if (lessThan !== -1 && lessThan < end) {
          fail(`'<' in value of attribute '${attr}'`, lessThan);
        }
        checkEntities(pos + 1, end);
        pos = end + 1;
      }
    }
  }
  if (stack.length > 0) fail(`unclosed element <${stack[stack.length - 1]}>`, text.length);
  if (root === undefined) fail("no root element", 0);
  return { root: root!, elementCount, counts };
}
