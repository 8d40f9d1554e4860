// A safe subset of Markdown, rendered from a message's text into elements made with
// `h(tag, props, ...children)`: the text becomes text nodes, never markup.
//
// Blocks: ``` fenced code ```, "> " quotes, paragraphs (a line break stays one).
// Inline: `code`, **bold**, *italic* or _italic_, [text](url) links and bare
// http(s) URLs, and :shortcode: emoticons. A link goes only to http:, https: or
// mailto: (anything else stays text) and opens apart, with rel="noopener
// noreferrer". Unclosed markers are text.

const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);
// One alternative per inline form; the first that matches at a place wins.
const INLINE = new RegExp(
  [
    "`([^`\\n]+)`", // 1: code
    "\\*\\*(?=\\S)([^*]*?\\S)\\*\\*", // 2: bold
    "(?<![\\w*])\\*(?=\\S)([^*\\n]*?\\S)\\*(?![\\w*])", // 3: italic
    "(?<!\\w)_(?=\\S)([^_\\n]*?\\S)_(?!\\w)", // 4: italic
    "\\[([^\\]\\n]{1,200})\\]\\(([^()\\s]{1,2000})\\)", // 5, 6: a link
    "(https?:\\/\\/[^\\s<>\"']+[^\\s<>\"'.,;:!?)\\]])", // 7: a bare URL
    ":([a-z0-9_+-]{1,32}):", // 8: an emoticon
  ].join("|"),
  "g",
);

/** The URL a link may go to, or null. */
export function safeUrl(href) {
  try {
    const url = new URL(href);
    return LINK_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(h, href, label) {
  const url = safeUrl(href);
  if (url === null) return label;
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label);
}

/** Inline forms of one run of text, as an array of strings and elements. */
export function inline(h, text, emoticons = {}) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    let made = null;
    if (m[1] !== undefined) made = h("code", {}, m[1]);
    else if (m[2] !== undefined) made = h("strong", {}, ...inline(h, m[2], emoticons));
    else if (m[3] !== undefined || m[4] !== undefined) {
      made = h("em", {}, ...inline(h, m[3] ?? m[4], emoticons));
    } else if (m[5] !== undefined) made = link(h, m[6], m[5]);
    else if (m[7] !== undefined) made = link(h, m[7], m[7]);
    else if (m[8] !== undefined) {
      if (!Object.hasOwn(emoticons, m[8])) continue; // not one: the text stays
      made = emoticons[m[8]];
    }
    if (m.index > at) out.push(text.slice(at, m.index));
    out.push(made);
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** The blocks of a message's text, as an array of elements. */
export function render(h, text, emoticons = {}) {
  const blocks = [];
  const lines = text.split("\n");
  let para = [];
  const flush = () => {
    if (para.length) {
      const kids = [];
      para.forEach((line, i) => {
        if (i) kids.push(h("br", {}));
        kids.push(...inline(h, line, emoticons));
      });
      blocks.push(h("p", {}, ...kids));
      para = [];
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") {
      flush();
      continue;
    }
    if (line.startsWith("```")) {
      const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
      if (end > i) {
        flush();
        blocks.push(h("pre", {}, h("code", {}, lines.slice(i + 1, end).join("\n"))));
        i = end;
        continue;
      }
    }
    if (line.startsWith(">")) {
      flush();
      const quoted = [];
      while (i < lines.length && lines[i].startsWith(">")) {
        quoted.push(lines[i].replace(/^> ?/, ""));
        i++;
      }
      i--;
      blocks.push(h("blockquote", {}, ...render(h, quoted.join("\n"), emoticons)));
      continue;
    }
    para.push(line);
  }
  flush();
  return blocks;
}
