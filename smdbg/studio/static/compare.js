// smdbg studio: the metric chart of a component or a comparison, and parallel coordinates.
// Reads #chart-data and #parallel-data (JSON the server embedded); x-axis, smoothing and zoom
// live in the URL (x=, smooth=, zoom=) so the URL restores the view.
(function () {
  "use strict";
  function setupChart() {
    const data = Studio.data("chart-data");
    const box = document.getElementById("metric-chart");
    if (!data || !box) return;
    const chart = new SmdbgChart(box, {
      id: "metric", xAxis: data.x, smoothing: data.smooth, zoom: data.zoom,
      onZoom: (z) => Studio.set({ zoom: z ? z.map((v) => +v.toPrecision(8)).join(",") : null }),
    });
    chart.setSeries(data.series);
    const axis = document.getElementById("x-axis");
    axis.addEventListener("change", () => { chart.setXAxis(axis.value); Studio.set({ x: axis.value, zoom: null }); });
    const slider = document.getElementById("smoothing"), shown = document.getElementById("smoothing-value");
    slider.addEventListener("input", () => {
      chart.setSmoothing(slider.value); shown.textContent = slider.value; Studio.set({ smooth: slider.value });
    });
    document.getElementById("reset-zoom").addEventListener("click", () => { chart.setZoom(null); Studio.set({ zoom: null }); });
  }

  // Parallel coordinates: one vertical axis per parameter (numbers scaled min..max, strings spaced
  // evenly in sorted order) and the metric axis last; one polyline per compared run.
  function setupParallel() {
    const data = Studio.data("parallel-data");
    const svg = document.getElementById("parallel");
    if (!data || !svg) return;
    const NS = "http://www.w3.org/2000/svg";
    const w = svg.clientWidth || 800, h = svg.clientHeight || 320, top = 24, bottom = 20;
    const n = data.axes.length, gap = n > 1 ? (w - 120) / (n - 1) : 0;
    const el = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    const scales = data.axes.map((axis) => {
      const present = axis.values.filter((v) => v !== null && v !== undefined);
      if (present.every((v) => typeof v === "number")) {
        const lo = Math.min(...present), hi = Math.max(...present);
        return { kind: "number", lo, hi, y: (v) => (v === null || v === undefined ? null : hi === lo ? 0.5 : (v - lo) / (hi - lo)) };
      }
      const cats = Array.from(new Set(present.map(String))).sort();
      return { kind: "category", cats, y: (v) => (v === null || v === undefined ? null : cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)) };
    });
    const X = (i) => 60 + i * gap, Y = (f) => h - bottom - f * (h - top - bottom);
    data.axes.forEach((axis, i) => {
      el("line", { x1: X(i), x2: X(i), y1: Y(0), y2: Y(1), stroke: "#9aa3b5" });
      el("text", { x: X(i), y: 12, "text-anchor": "middle", class: "axis-name" }, axis.name);
      const s = scales[i];
      const lo = s.kind === "number" ? String(+s.lo.toPrecision(4)) : s.cats[0] || "";
      const hi = s.kind === "number" ? String(+s.hi.toPrecision(4)) : s.cats[s.cats.length - 1] || "";
      el("text", { x: X(i) + 4, y: Y(0) + 14 }, lo);
      el("text", { x: X(i) + 4, y: Y(1) - 2 }, hi);
    });
    const colors = ["#2f6fdb", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0b7285", "#c2255c", "#5c940d"];
    const lines = data.lines.map((name, j) => {
      const pts = data.axes.map((axis, i) => [X(i), scales[i].y(axis.values[j])]).filter((p) => p[1] !== null);
      const d = pts.map((p, k) => (k ? "L" : "M") + p[0].toFixed(1) + " " + Y(p[1]).toFixed(1)).join(" ");
      const path = el("path", { d, fill: "none", stroke: colors[j % colors.length], "stroke-width": 1.5, "data-run": name });
      el("title", {}, name);
      return { name, points: pts.length };
    });
    window.smdbgParallel = { axes: data.axes.map((a) => a.name), lines };
    svg.dataset.lines = String(lines.length);
  }

  document.addEventListener("DOMContentLoaded", () => { setupChart(); setupParallel(); });
})();
