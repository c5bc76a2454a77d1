// Charts on uPlot (vendored, coordinator/web/static/vendor/uplot): time axes in the
// browser's time zone, axis labels with units, a legend, and a tooltip that follows
// the cursor. A chart is made once per page and only given new data afterwards.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { h } from "./dom.js";
import { timeZone, when } from "./format.js";

const HEIGHT = 240;
const AXIS = { stroke: "#3d4650", grid: { stroke: "#e6e9ed", width: 1 },
  ticks: { stroke: "#c9ced4", width: 1 } };

export const COLORS = {
  production: "#0a7d55", consumption: "#c0562b", price: "#1f4e9c", volume: "#6b8fbf",
  bid: "#0a7d55", ask: "#b3261e",
};

// Shows every series' value at the cursor, with its unit, in a box inside the plot.
function tooltip(formatX) {
  let box;
  return {
    hooks: {
      init(u) {
        box = h("div", { class: "chart-tip", hidden: true });
        u.over.append(box);
      },
      setCursor(u) {
        const i = u.cursor.idx;
        if (i == null || u.cursor.left < 0) { box.hidden = true; return; }
        const lines = u.series.slice(1).map((s, k) => {
          const v = u.data[k + 1][i];
          return v == null || !s.show ? null : h("div", {},
            h("span", { class: "chart-swatch", dataset: { color: k } }), `${s.label}: `,
            h("b", {}, s.format(v)));
        }).filter(Boolean);
        if (!lines.length) { box.hidden = true; return; }
        box.replaceChildren(h("div", { class: "chart-tip-x" }, formatX(u.data[0][i])), ...lines);
        box.querySelectorAll(".chart-swatch").forEach((sw) => {
          sw.style.background = u.series[Number(sw.dataset.color) + 1]._stroke;
        });
        box.hidden = false;
        const left = u.cursor.left;
        const wide = u.over.clientWidth;
        box.style.left = `${Math.min(Math.max(left + 12, 0), Math.max(0, wide - box.offsetWidth))}px`;
        box.style.top = `${Math.max(0, (u.cursor.top ?? 0) - box.offsetHeight - 8)}px`;
      },
    },
  };
}

function seriesOf(spec) {
  const format = (v) => `${spec.format ? spec.format(v) : v} ${spec.unit}`;
  const base = { label: spec.label, stroke: spec.color, scale: spec.scale || "y", width: 2,
    format, value: (u, v) => (v == null ? "–" : format(v)) };
  if (spec.kind === "bars") {
    return { ...base, width: 0, fill: `${spec.color}cc`,
      paths: uPlot.paths.bars({ size: [spec.size ?? 0.6, 60], align: spec.align ?? 0 }),
      points: { show: false } };
  }
  if (spec.kind === "steps") {
    return { ...base, fill: `${spec.color}33`, paths: uPlot.paths.stepped({ align: spec.align ?? 1 }),
      points: { show: false } };
  }
  return { ...base, points: { show: true, size: 5 }, spanGaps: false };
}

// 24-hour clock and ISO dates on time axes (uPlot's defaults are US style).
const fmtDate = (tpl) => uPlot.fmtDate(tpl.replace("{M}/{D}/{YY}", "{YYYY}-{MM}-{DD}")
  .replace("{M}/{D}", "{MM}-{DD}").replace(/\{h\}/g, "{HH}").replace(/\{aa\}|\{AA\}|\{a\}/g, ""));

const padded = (min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1];

// A chart in `host`. spec: { label (what it shows, for screen readers), x: { time: true,
// step() (seconds between bars), span (seconds shown, up to now), format(x) } or
// { label, format(x) }, y: { label, unit }, y2?: { label, unit }, series: [{ label, color,
// unit, kind: "bars" | "line" | "steps", scale: "y" | "y2", format, align, size }] }.
// Returns { element, set(xs, ...columns) }.
export function chart(host, spec) {
  const time = !!spec.x.time;
  const formatX = spec.x.format;
  // From the data itself: uPlot widens a lone point's range by a day of milliseconds.
  const xRange = (u) => {
    const xs = u.data[0];
    const [first, last] = [xs[0], xs[xs.length - 1]];
    if (!time) {
      if (first == null) return [0, 1];
      return first === last ? [first * 0.9, last * 1.1 || 1] : [first, last];
    }
    const half = spec.x.step() / 2;
    const end = Date.now() / 1000;
    if (spec.x.span) {
      return [Math.min(first ?? end, end - spec.x.span) - half, Math.max(end, (last ?? end) + half)];
    }
    return first == null ? [end - 20 * half, end] : [first - half, last + half];
  };
  const axes = [
    { ...AXIS, label: time ? `time (${timeZone()})` : spec.x.label, labelSize: 20,
      ...(time ? {} : { values: (u, vals) => vals.map((v) => formatX(v)) }) },
    { ...AXIS, scale: "y", label: `${spec.y.label} (${spec.y.unit})`, labelSize: 20, size: 60 },
  ];
  const scales = { x: { time, range: xRange }, y: { range: (u, min, max) => padded(min, max) } };
  if (spec.y2) {
    axes.push({ ...AXIS, scale: "y2", side: 1, grid: { show: false },
      label: `${spec.y2.label} (${spec.y2.unit})`, labelSize: 20, size: 60 });
    scales.y2 = { range: (u, min, max) => padded(min, max) };
  }
  const figure = h("figure", { class: "chart" });
  const plot = h("div", { class: "chart-plot", role: "img", "aria-label": spec.label });
  const empty = h("p", { class: "chart-empty" }, "no data yet");
  figure.append(plot, empty);
  host.replaceChildren(figure);
  const width = () => Math.max(260, plot.clientWidth || host.clientWidth || 600);
  const u = new uPlot({
    width: width(), height: HEIGHT, fmtDate, series: [{ label: time ? "time" : spec.x.label,
      value: (self, v) => (v == null ? "–" : formatX(v)) }, ...spec.series.map(seriesOf)],
    axes, scales, legend: { live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    plugins: [tooltip(formatX)],
  }, [[], ...spec.series.map(() => [])], plot);
  plot.chart = u;
  new ResizeObserver(() => {
    const w = width();
    if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: HEIGHT });
  }).observe(plot);
  return {
    element: plot,
    set(xs, ...columns) {
      empty.hidden = xs.length > 0;
      plot.dataset.points = String(xs.length);
      u.setData([xs, ...columns]);
    },
  };
}
