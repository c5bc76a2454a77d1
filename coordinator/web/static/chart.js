// Tiny SVG charts: grouped bars and a line, no dependencies.
const NS = "http://www.w3.org/2000/svg";

function el(name, attrs) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// series: [{values: number[], color: string, kind: "bar"|"line"}], labels: string[]
export function chart(series, labels, { height = 220, width = 800 } = {}) {
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none", role: "img" });
  const pad = 24;
  const n = labels.length;
  if (n === 0) {
    const t = el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#999" });
    t.textContent = "no data yet";
    svg.append(t);
    return svg;
  }
  const bars = series.filter((s) => s.kind !== "line");
  const slot = (width - 2 * pad) / n;
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, bars.length));
  for (const s of series) {
    const max = Math.max(1, ...s.values.map((v) => v ?? 0));
    const y = (v) => height - pad - ((v ?? 0) / max) * (height - 2 * pad);
    if (s.kind === "line") {
      const pts = s.values.map((v, i) => (v == null ? null : `${pad + slot * (i + 0.5)},${y(v)}`))
        .filter(Boolean).join(" ");
      svg.append(el("polyline", { points: pts, fill: "none", stroke: s.color, "stroke-width": 2 }));
    } else {
      const k = bars.indexOf(s);
      s.values.forEach((v, i) => {
        const x = pad + slot * i + slot * 0.1 + k * barW;
        svg.append(el("rect", { x, y: y(v), width: barW, height: height - pad - y(v),
          fill: s.color }));
      });
    }
  }
  const step = Math.ceil(n / 8);
  labels.forEach((label, i) => {
    if (i % step) return;
    const t = el("text", { x: pad + slot * (i + 0.5), y: height - 6, "font-size": 11,
      "text-anchor": "middle", fill: "#667" });
    t.textContent = label;
    svg.append(t);
  });
  svg.append(el("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad,
    stroke: "#999" }));
  return svg;
}
