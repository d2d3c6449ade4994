// smdbg studio: the one line chart (canvas, plain JavaScript), used by the compare and component
// pages (compare.js) and by the debugger (debugger.js).
//
//   const chart = new SmdbgChart(container, {id: "metric", onZoom: (z) => ..., onPick: (x) => ...,
//                                            labelEl: element, smoothing: 0.6, xAxis: "step"});
//   chart.setSeries([{name, x: {step: [...], wall_time: [...]}, y: [...], total: M}]);
//   chart.setXAxis("step" | "wall_time" | "relative");   // relative = wall_time - first wall_time
//   chart.setSmoothing(0.6);     // EMA weight in [0, 0.999]: smoothed line over the faint raw one
//   chart.setZoom([x0, x1]);     // or null; dragging across the plot zooms, double-click resets
//   chart.setLabel("...")        // or leave it (null): the chart writes "N of M points" itself
//   chart.setMarkers([{x, label, cls, data: {...}}])  // vertical marks (e.g. rule findings)
//   chart.update({series, zoom, label, markers})        // several at once, drawn once
//   chart.state()                // {xAxis, smoothing, zoom, label, series: [{name, shown, total,
//                                //  first, last, min, max}], markers: [{x, label, shown}]}
//
// ``onZoom(z)`` hears a drag (z = [x0, x1]) or a reset (null); ``onPick(x)`` a click without a
// drag, with the nearest x of the first series. The label goes into ``labelEl`` when given (a
// heading of the page), else into the chart's own line above the plot. Each series' minimum and
// maximum in view are in the legend. Every chart is also window.smdbgCharts[id], and its state
// is mirrored as JSON in the container's data-state attribute, so tests and other scripts can
// read what is drawn.
(function () {
  "use strict";
  const PALETTE = ["#2f6fdb", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0b7285", "#c2255c", "#5c940d", "#364fc7", "#a61e4d"];
  const PAD = { left: 56, right: 12, top: 10, bottom: 28 };

  function ema(y, w) {
    if (!(w > 0)) return y;
    const out = new Array(y.length);
    let acc = 0, n = 0;
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (v === null || !isFinite(v)) { out[i] = NaN; continue; }
      acc = acc * w + (1 - w) * v;
      n += 1;
      out[i] = acc / (1 - Math.pow(w, n)); // debiased, so the line starts at the first point
    }
    return out;
  }

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) { hi = lo + 1; }
    const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
    return ticks;
  }

  function fmt(v, axis) {
    if (axis === "wall_time") return new Date(v * 1000).toISOString().slice(11, 19);
    if (axis === "relative") return v >= 120 ? (v / 60).toFixed(1) + "m" : v.toFixed(v < 10 ? 1 : 0) + "s";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
    return String(Math.round(v * 1e4) / 1e4);
  }

  class SmdbgChart {
    constructor(container, opts) {
      opts = opts || {};
      this.id = opts.id || container.id || "chart";
      this.container = container;
      this.onZoom = opts.onZoom || null;
      this.onPick = opts.onPick || null;
      this.series = [];
      this.markers = [];
      this.xAxis = opts.xAxis || "step";
      this.smoothing = opts.smoothing === undefined ? 0.6 : opts.smoothing;
      this.zoom = opts.zoom || null;
      this.customLabel = null;
      container.classList.add("chart-box");
      this.labelEl = opts.labelEl || document.createElement("div");
      if (!opts.labelEl) this.labelEl.className = "chart-label";
      this.canvas = document.createElement("canvas");
      this.markerBox = document.createElement("div");
      this.legendEl = document.createElement("div");
      this.legendEl.className = "legend";
      this.rect = document.createElement("div");
      this.rect.style.cssText = "position:absolute;display:none;background:rgba(47,111,219,.15);border:1px solid #2f6fdb;pointer-events:none";
      container.style.position = "relative";
      container.append(...(opts.labelEl ? [] : [this.labelEl]), this.canvas, this.markerBox, this.legendEl, this.rect);
      this._bindZoom();
      window.smdbgCharts = window.smdbgCharts || {};
      window.smdbgCharts[this.id] = this;
      window.addEventListener("resize", () => this.draw());
    }

    setSeries(series) { this.update({ series }); }
    setXAxis(axis) { this.xAxis = axis; this.zoom = null; this.draw(); }
    setSmoothing(w) { this.smoothing = Math.min(Math.max(Number(w) || 0, 0), 0.999); this.draw(); }
    setZoom(z) { this.update({ zoom: z }); }
    setLabel(text) { this.update({ label: text }); }
    setMarkers(markers) { this.update({ markers }); }

    // Any of {series, zoom, label, markers}: applied together, then one draw.
    update(changes) {
      if ("series" in changes) this.series = changes.series.map((s, i) => Object.assign({ color: PALETTE[i % PALETTE.length] }, s));
      if ("zoom" in changes) {
        const z = changes.zoom;
        this.zoom = z && isFinite(z[0]) && isFinite(z[1]) && z[1] > z[0] ? [+z[0], +z[1]] : null;
      }
      if ("label" in changes) this.customLabel = changes.label;
      if ("markers" in changes) this.markers = changes.markers || [];
      this.draw();
    }

    xs(s) {
      if (this.xAxis === "relative") {
        const w = s.x.relative || s.x.wall_time || [];
        if (s.x.relative) return w;
        const t0 = w.length ? w[0] : 0;
        return w.map((v) => v - t0);
      }
      return s.x[this.xAxis] || [];
    }

    // The least and greatest finite y of a series within the x range drawn (null when none).
    extent(s) {
      const xs = this.xs(s), r = this.r || this._range();
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < s.y.length; i++) {
        const v = s.y[i];
        if (xs[i] >= r.x0 && xs[i] <= r.x1 && v !== null && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
      }
      return isFinite(lo) ? [lo, hi] : [null, null];
    }

    state() {
      const r = this.r || this._range();
      return {
        id: this.id, xAxis: this.xAxis, smoothing: this.smoothing, zoom: this.zoom, label: this.labelEl.textContent,
        series: this.series.map((s) => {
          const [min, max] = this.extent(s);
          return { name: s.name, shown: s.y.length, total: s.total === undefined ? s.y.length : s.total,
            first: s.y.length ? s.y[0] : null, last: s.y.length ? s.y[s.y.length - 1] : null, min, max };
        }),
        markers: this.markers.map((m) => ({ x: m.x, label: m.label, shown: m.x >= r.x0 && m.x <= r.x1 })),
      };
    }

    _range() {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const s of this.series) {
        const xs = this.xs(s);
        for (let i = 0; i < xs.length; i++) { if (xs[i] < x0) x0 = xs[i]; if (xs[i] > x1) x1 = xs[i]; }
      }
      for (const m of this.markers) { if (m.x < x0) x0 = m.x; if (m.x > x1) x1 = m.x; }
      if (this.zoom) { x0 = this.zoom[0]; x1 = this.zoom[1]; }
      for (const s of this.series) {
        const xs = this.xs(s);
        for (let i = 0; i < xs.length; i++) {
          const v = s.y[i];
          if (xs[i] >= x0 && xs[i] <= x1 && v !== null && isFinite(v)) { if (v < y0) y0 = v; if (v > y1) y1 = v; }
        }
      }
      if (!isFinite(x0)) { x0 = 0; x1 = 1; }
      if (x1 === x0) { x1 = x0 + 1; }
      if (!isFinite(y0)) { y0 = 0; y1 = 1; }
      if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
      const pad = (y1 - y0) * 0.05;
      return { x0, x1, y0: y0 - pad, y1: y1 + pad };
    }

    draw() {
      const c = this.canvas, dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth || 600, h = c.clientHeight || 300;
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
      const g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      const r = (this.r = this._range());
      const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
      const sx = (x) => PAD.left + ((x - r.x0) / (r.x1 - r.x0)) * pw;
      const sy = (y) => PAD.top + (1 - (y - r.y0) / (r.y1 - r.y0)) * ph;
      this.toX = (px) => r.x0 + ((px - PAD.left) / pw) * (r.x1 - r.x0);
      g.font = "11px system-ui, sans-serif"; g.fillStyle = "#6b7385"; g.strokeStyle = "#eceef2"; g.lineWidth = 1;
      for (const t of niceTicks(r.y0, r.y1, 5)) {
        g.beginPath(); g.moveTo(PAD.left, sy(t)); g.lineTo(w - PAD.right, sy(t)); g.stroke();
        g.textAlign = "right"; g.fillText(fmt(t, "value"), PAD.left - 6, sy(t) + 4);
      }
      for (const t of niceTicks(r.x0, r.x1, 6)) {
        g.textAlign = "center"; g.fillText(fmt(t, this.xAxis), sx(t), h - 8);
      }
      g.save();
      g.beginPath(); g.rect(PAD.left, PAD.top, pw, ph); g.clip();
      const smooth = this.smoothing > 0;
      for (const s of this.series) {
        const xs = this.xs(s);
        this._line(g, xs, s.y, sx, sy, s.color, smooth ? 0.25 : 1, smooth ? 1 : 1.5, r);
        if (smooth) this._line(g, xs, ema(s.y, this.smoothing), sx, sy, s.color, 1, 1.75, r);
      }
      g.restore();
      let shown = 0, total = 0;
      for (const s of this.series) { shown += s.y.length; total += s.total === undefined ? s.y.length : s.total; }
      const count = (n) => n.toLocaleString("en-US");
      this.labelEl.textContent = this.customLabel !== null ? this.customLabel : `${count(shown)} of ${count(total)} points`;
      this.legendEl.innerHTML = "";
      for (const s of this.series) {
        const span = document.createElement("span");
        span.style.setProperty("--c", s.color);
        const [lo, hi] = this.extent(s);
        span.textContent = s.name + (lo === null ? "" : ` (min ${fmt(lo, "value")}, max ${fmt(hi, "value")})`);
        this.legendEl.append(span);
      }
      this._drawMarkers(sx, pw, ph, r);
      this.container.dataset.state = JSON.stringify(this.state());
    }

    // Markers are elements over the canvas (a title to hover, data-* for scripts and tests).
    _drawMarkers(sx, pw, ph, r) {
      this.markerBox.textContent = "";
      for (const m of this.markers) {
        if (!(m.x >= r.x0 && m.x <= r.x1)) continue;
        const el = document.createElement("div");
        el.className = "chart-marker " + (m.cls || "");
        el.title = m.label || "";
        for (const [k, v] of Object.entries(m.data || {})) el.dataset[k] = v;
        Object.assign(el.style, { position: "absolute", width: "3px", background: m.color || "#c62828", opacity: "0.8",
          left: this.canvas.offsetLeft + sx(m.x) - 1.5 + "px", top: this.canvas.offsetTop + PAD.top + "px", height: ph + "px" });
        this.markerBox.append(el);
      }
    }

    _line(g, xs, ys, sx, sy, color, alpha, width, r) {
      g.globalAlpha = alpha; g.strokeStyle = color; g.lineWidth = width;
      g.beginPath();
      let pen = false;
      for (let i = 0; i < ys.length; i++) {
        const v = ys[i];
        if (v === null || !isFinite(v) || (xs[i] < r.x0 && xs[i + 1] < r.x0) || (xs[i] > r.x1 && xs[i - 1] > r.x1)) { pen = false; continue; }
        if (pen) g.lineTo(sx(xs[i]), sy(v)); else { g.moveTo(sx(xs[i]), sy(v)); pen = true; }
      }
      g.stroke();
      g.globalAlpha = 1;
    }

    _bindZoom() {
      let start = null;
      const local = (e) => e.clientX - this.canvas.getBoundingClientRect().left;
      this.canvas.addEventListener("mousedown", (e) => { start = local(e); });
      this.canvas.addEventListener("mousemove", (e) => {
        if (start === null) return;
        const x = local(e), top = this.canvas.offsetTop;
        Object.assign(this.rect.style, { display: "block", left: this.canvas.offsetLeft + Math.min(start, x) + "px",
          width: Math.abs(x - start) + "px", top: top + "px", height: this.canvas.clientHeight + "px" });
      });
      window.addEventListener("mouseup", (e) => {
        if (start === null) return;
        const end = local(e);
        this.rect.style.display = "none";
        if (Math.abs(end - start) > 4) {
          const a = this.toX(Math.min(start, end)), b = this.toX(Math.max(start, end));
          this.setZoom([a, b]);
          if (this.onZoom) this.onZoom(this.zoom);
        } else if (this.onPick && this.series.length) {
          const x = this.toX(end), xs = this.xs(this.series[0]);
          let best = null;
          for (const v of xs) if (best === null || Math.abs(v - x) < Math.abs(best - x)) best = v;
          if (best !== null) this.onPick(best);
        }
        start = null;
      });
      this.canvas.addEventListener("dblclick", () => { this.setZoom(null); if (this.onZoom) this.onZoom(null); });
    }
  }

  SmdbgChart.ema = ema;
  window.SmdbgChart = SmdbgChart;
})();
