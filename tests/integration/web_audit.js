// What an accessibility review checks on a rendered page, as the browser computed it:
// - text contrast (WCAG 2.1 AA: 4.5:1, 3:1 for large text) against the colours actually
//   painted behind it, through translucent layers and opacity;
// - every control (link, button, field, focusable element) has an accessible name;
// - every image has alternative text, and the page has one h1 and a language.
// Charts are SVG drawn by Plotly: their text is left out (each chart is role="img" with an
// aria-label, which the name check covers). Disabled controls are exempt, as in WCAG.
// Returns a list of problems, each a readable sentence.
() => {
  const problems = [];
  const parse = (value) => {
    const match = /rgba?\(([^)]+)\)/.exec(value || "");
    if (!match) return null;
    const parts = match[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({ r, g, b }) => {
    const channel = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const painted = (element) => {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour && colour.a > 0) {
        layers.push(colour);
        if (colour.a >= 1) break;
      }
    }
    let result = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const opacity = (element) => {
    let value = 1;
    for (let node = element; node; node = node.parentElement) value *= Number(getComputedStyle(node).opacity);
    return value;
  };
  const visible = (element) => {
    if (!element.getClientRects().length) return false;
    const style = getComputedStyle(element);
    if (style.visibility === "hidden") return false;
    const box = element.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  };
  const describe = (element) => {
    const text = (element.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    const id = element.id ? `#${element.id}` : "";
    const cls = typeof element.className === "string" && element.className ? `.${element.className.split(" ")[0]}` : "";
    return `<${element.tagName.toLowerCase()}${id}${cls}> "${text}"`;
  };
  const disabled = (element) => element.closest("button:disabled, input:disabled, select:disabled, [aria-disabled='true']");

  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg, .sr-only, script, style, template") || disabled(element)) continue;
    const ownText = [...element.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    const field = element.matches("input:not([type=hidden]), select, textarea");
    if (!(ownText || field) || !visible(element)) continue;
    const style = getComputedStyle(element);
    const background = painted(element);
    const foreground = over({ ...parse(style.color), a: parse(style.color).a * opacity(element) }, background);
    const lighter = Math.max(luminance(foreground), luminance(background));
    const darker = Math.min(luminance(foreground), luminance(background));
    const ratio = (lighter + 0.05) / (darker + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)}:1 < ${needed}:1 for ${describe(element)}`);
  }

  const named = (element) => {
    if ((element.getAttribute("aria-label") || "").trim()) return true;
    const labelled = element.getAttribute("aria-labelledby");
    if (labelled && labelled.split(/\s+/).some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
    if (element.labels && [...element.labels].some((label) => label.textContent.trim())) return true;
    if (element.matches("input, select, textarea")) return Boolean((element.getAttribute("title") || "").trim());
    if ((element.textContent || "").trim()) return true;
    if ([...element.querySelectorAll("img[alt]")].some((img) => img.alt.trim())) return true;
    return Boolean((element.getAttribute("title") || "").trim());
  };
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, [role=button], [role=img], [tabindex]:not([tabindex='-1'])";
  for (const element of document.querySelectorAll(controls)) {
    if (element.closest(".modebar") || !visible(element)) continue;
    if (!named(element)) problems.push(`no accessible name: ${describe(element)}`);
  }
  for (const image of document.querySelectorAll("img")) {
    if (!image.hasAttribute("alt")) problems.push(`image without alt text: ${image.src}`);
  }
  const headings = document.querySelectorAll("h1").length;
  if (headings !== 1) problems.push(`${headings} h1 headings (one expected)`);
  if (!document.documentElement.lang) problems.push("the page has no language (html lang)");
  return problems;
}
