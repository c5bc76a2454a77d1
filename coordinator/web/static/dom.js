// Building the page: elements, tables, and regions that live updates refill.
//
// A page is built once when it is opened (headings, forms, empty regions); live
// updates only refill its regions, and a region whose data did not change is not
// touched at all, so nothing the user types, selects or focuses is disturbed.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat().map((c) => (c instanceof Node ? c : String(c ?? ""))));
  return node;
}

// A table in a box that scrolls sideways on a narrow screen (the page never does).
// columns: [{ label, num?: true }], rows: arrays of cells (text or nodes).
// The caption is for screen readers unless `visible` (a heading above usually says it).
export function table(caption, columns, rows, { empty = "nothing yet", visible = false } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null },
    c.label)));
  const body = rows.length ? rows.map((r) => h("tr", {}, r.map((cell, i) => h("td",
    { class: columns[i]?.num ? "num" : null }, cell))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))];
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", {}, h("caption", { class: visible ? null : "sr-only" }, caption),
      h("thead", {}, head), h("tbody", {}, body)));
}

// A region of a page that live updates refill. `set(data, build)` rebuilds its
// content from `data` only when `data` differs from what it shows.
export class Region {
  constructor(node) {
    this.node = node;
    this.key = undefined;
  }

  set(data, build) {
    const key = JSON.stringify(data);
    if (key === this.key) return false;
    this.key = key;
    const built = build(data);
    this.node.replaceChildren(...[built].flat(Infinity).filter((n) => n != null && n !== ""));
    return true;
  }

  error(message) {
    this.key = undefined;
    this.node.replaceChildren(h("p", { class: "error", role: "alert" }, message));
  }
}

export function region(attrs = {}) {
  const node = h("div", { class: "region", ...attrs });
  return [node, new Region(node)];
}

// A figure: a heading card with one number and a caption under it.
export function stat(label, value, note = "") {
  return h("div", { class: "stat" }, h("span", { class: "stat-label" }, label),
    h("b", {}, value), note ? h("small", {}, note) : "");
}
