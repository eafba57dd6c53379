// Small helpers the pages share: building elements, formatting figures, cards, toasts.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// The assistant's Markdown as elements (never as HTML): paragraphs, bulleted and numbered
// lists, fenced code blocks, **bold** and `code` inside a line.
export function richText(text) {
  const inline = (line) => line.split(/(\*\*[^*]+\*\*|`[^`]+`)/).filter(Boolean).map((part) => {
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) return h("strong", {}, part.slice(2, -2));
    if (part.startsWith("`") && part.endsWith("`") && part.length > 2) return h("code", {}, part.slice(1, -1));
    return part;
  });
  const blocks = [];
  let list = null;
  let fence = null;
  let paragraph = [];
  const endParagraph = () => {
    if (paragraph.length) blocks.push(h("p", {}, paragraph.flatMap((line, i) => (i ? [h("br"), ...inline(line)] : inline(line)))));
    paragraph = [];
  };
  for (const line of String(text || "").split("\n")) {
    if (fence) {
      if (line.trim().startsWith("```")) { blocks.push(h("pre", {}, h("code", {}, fence.join("\n")))); fence = null; } else fence.push(line);
      continue;
    }
    if (line.trim().startsWith("```")) { endParagraph(); list = null; fence = []; continue; }
    const item = /^\s*(?:[-*]|(\d+)[.)])\s+(.*)$/.exec(line);
    if (item) {
      endParagraph();
      const tag = item[1] ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) { list = h(tag, {}); blocks.push(list); }
      list.append(h("li", {}, inline(item[2])));
      continue;
    }
    list = null;
    if (!line.trim()) endParagraph(); else paragraph.push(line);
  }
  if (fence) blocks.push(h("pre", {}, h("code", {}, fence.join("\n"))));
  endParagraph();
  return blocks;
}

export function duration(seconds) {
  const total = Math.round(seconds || 0);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  if (hours) return `${hours}h ${minutes}m`;
  if (minutes) return `${minutes}m`;
  return `${total % 60}s`;
}

export function number(value, digits = 0) {
  return (value ?? 0).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function percent(value) {
  return `${number(value, 1)}%`;
}

export function ago(moment) {
  if (!moment) return "never";
  const seconds = (Date.now() - new Date(moment).getTime()) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  const days = Math.floor(seconds / 86400);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

export function date(moment) {
  return moment ? new Date(moment).toLocaleDateString() : "—";
}

export function card(label, value, trend) {
  return h("div", { class: "card" },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    trend === undefined || trend === null ? null : trendLine(trend));
}

function trendLine(change) {
  if (change === 0) return h("div", { class: "trend muted" }, "no change");
  const up = change > 0;
  return h("div", { class: `trend ${up ? "up" : "down"}` },
    `${up ? "↑" : "↓"} ${number(Math.abs(change), 1)}% vs previous period`);
}

export function progressBar(value, label) {
  const clamped = Math.max(0, Math.min(100, value || 0));
  return h("div", {
    class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": String(Math.round(clamped)), "aria-label": label || "Progress",
  }, h("span", { style: `width:${clamped}%` }));
}

export function panel(title, ...children) {
  return h("section", { class: "panel", "aria-label": title }, h("h2", {}, title), ...children);
}

export function failure(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function unavailable(what, reason) {
  return h("p", { class: "muted" }, `${what} is unavailable right now (${reason}).`);
}

// Adds one to the figure of the first card in ``cards`` (a live update: a new enrollment).
export function countUp(cards) {
  const figure = cards && cards.querySelector(".card .value");
  if (figure) figure.textContent = number(Number(figure.textContent.replace(/\D/g, "")) + 1);
}

export function toast(text) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: "toast" }, text);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

// Puts the page's parts into <main>, leaving out the sections that have nothing to show.
export function show(main, ...parts) {
  main.replaceChildren(...parts.flat().filter((part) => part !== null && part !== undefined && part !== false));
}

const PERIODS = [["7d", "Last 7 days"], ["30d", "Last 30 days"], ["90d", "Last 90 days"], ["all", "All time"]];

// The period selector of the analytics pages: choosing one reloads the page with ?period=.
export function periodSelect(current, { all = false } = {}) {
  const select = h("select", {
    id: "period", "aria-label": "Period",
    onchange: () => { location.search = `?period=${select.value}`; },
  }, PERIODS.filter(([value]) => all || value !== "all").map(([value, label]) => h("option", { value, selected: value === current }, label)));
  return select;
}
