// The debugger page (smdbg/studio/_debugger.py): draws what /debugger/api/* returns as SVG,
// keeps the view (tensor, reduction, worker, zoom x0..x1, step) in the query string, and applies
// live updates (/debugger/api/events) in place without touching the view.
"use strict";
(function () {
  const root = document.getElementById("debugger");
  if (!root) return;
  const config = JSON.parse(root.dataset.config);
  const NS = "http://www.w3.org/2000/svg";
  const W = 760, H = 240, PAD = 44;
  const params = new URLSearchParams(location.search);
  const state = {
    tensor: params.get("tensor") || config.loss || Object.keys(config.tensors)[0] || null,
    reduction: params.get("reduction") || "",
    worker: params.get("worker") || "",
    x0: params.get("x0"), x1: params.get("x1"), step: params.get("step"), points: params.get("points"),
  };
  window.smdbgDebugger = { state: state, updates: 0, shown: {} };

  function syncUrl() {
    const q = new URLSearchParams({ trial: config.trial });
    for (const k of ["tensor", "reduction", "worker", "x0", "x1", "step", "points"]) {
      if (state[k] !== null && state[k] !== "" && state[k] !== undefined) q.set(k, state[k]);
    }
    history.replaceState(null, "", location.pathname + "?" + q.toString());
  }

  function api(path, extra) {
    const q = new URLSearchParams({ trial: config.trial });
    for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== "" && v !== undefined) q.set(k, v);
    return fetch("/debugger/api/" + path + "?" + q.toString()).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || r.statusText); return body; });
    });
  }

  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v) { return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(4) + ""; }

  // A line chart of xs/ys; returns {svg, sx, sy} so callers can add markers.
  function lineChart(host, xs, ys, cls, xDomain) {
    host.textContent = "";
    const svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, class: cls });
    host.appendChild(svg);
    const x0 = xDomain ? xDomain[0] : Math.min.apply(null, xs.length ? xs : [0]);
    const x1 = xDomain ? xDomain[1] : Math.max.apply(null, xs.length ? xs : [1]);
    let lo = Infinity, hi = -Infinity;
    for (const y of ys) { if (y < lo) lo = y; if (y > hi) hi = y; }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    const sx = function (x) { return PAD + (W - PAD - 8) * (x - x0) / ((x1 - x0) || 1); };
    const sy = function (y) { return H - 24 - (H - 36) * (y - lo) / (hi - lo); };
    el("line", { x1: PAD, y1: H - 24, x2: W - 8, y2: H - 24, stroke: "#889" }, svg);
    el("line", { x1: PAD, y1: 12, x2: PAD, y2: H - 24, stroke: "#889" }, svg);
    for (const [t, y] of [[fmt(hi), 16], [fmt(lo), H - 26]]) el("text", { x: 2, y: y, "font-size": 10 }, svg).textContent = t;
    for (const [t, x, a] of [[x0, PAD, "start"], [x1, W - 8, "end"]]) {
      el("text", { x: x, y: H - 8, "font-size": 10, "text-anchor": a }, svg).textContent = "step " + t;
    }
    let d = "";
    for (let i = 0; i < xs.length; i++) d += (i ? "L" : "M") + sx(xs[i]).toFixed(1) + "," + sy(ys[i]).toFixed(1);
    el("path", { d: d, fill: "none", stroke: "#3866d6", "stroke-width": 1.2, class: "series-line", "data-points": xs.length }, svg);
    return { svg: svg, sx: sx, sy: sy, x0: x0, x1: x1 };
  }

  // Drag across a chart to choose x0..x1 (zoom); a click without a drag picks the nearest point.
  function interact(chart, xs, onZoom, onPick) {
    const svg = chart.svg;
    const band = el("rect", { y: 12, height: H - 36, fill: "rgba(56,102,214,.15)", width: 0, class: "zoom-band" }, svg);
    let from = null;
    const toX = function (ev) {
      const r = svg.getBoundingClientRect();
      return chart.x0 + (ev.clientX - r.left - PAD) / (W - PAD - 8) * (chart.x1 - chart.x0);
    };
    svg.addEventListener("mousedown", function (ev) { from = ev.clientX; band.setAttribute("x", ev.clientX - svg.getBoundingClientRect().left); });
    svg.addEventListener("mousemove", function (ev) {
      if (from === null) return;
      const left = svg.getBoundingClientRect().left;
      band.setAttribute("x", Math.min(from, ev.clientX) - left);
      band.setAttribute("width", Math.abs(ev.clientX - from));
    });
    svg.addEventListener("mouseup", function (ev) {
      const start = from; from = null; band.setAttribute("width", 0);
      if (start === null) return;
      if (Math.abs(ev.clientX - start) > 4) {
        const a = toX({ clientX: Math.min(start, ev.clientX) }), b = toX({ clientX: Math.max(start, ev.clientX) });
        onZoom(Math.floor(a), Math.ceil(b));
      } else if (xs.length && onPick) {
        const x = toX(ev);
        let best = xs[0];
        for (const v of xs) if (Math.abs(v - x) < Math.abs(best - x)) best = v;
        onPick(best);
      }
    });
  }

  function drawSelection() {
    const host = document.getElementById("selection");
    host.textContent = "";
    if (!state.tensor) { host.textContent = "No tensors saved yet."; return; }
    const info = config.tensors[state.tensor] || { workers: [] };
    const title = document.createElement("h2");
    title.id = "tensor-title"; title.textContent = state.tensor;
    host.appendChild(title);
    const wsel = document.createElement("select");
    wsel.id = "worker-select";
    for (const w of info.workers) { const o = new Option(w, w); o.selected = w === state.worker; wsel.add(o); }
    wsel.onchange = function () { state.worker = wsel.value; syncUrl(); loadAll(); };
    const rsel = document.createElement("select");
    rsel.id = "reduction-select";
    host.append("worker ", wsel, " reduction ", rsel);
    return rsel;
  }

  let rsel = null;
  function loadSeries() {
    if (!state.tensor) return Promise.resolve();
    const t0 = performance.now();
    return api("series", { tensor: state.tensor, reduction: state.reduction, worker: state.worker, x0: state.x0, x1: state.x1, points: state.points })
      .then(function (s) {
        if (rsel && rsel.options.length !== s.choices.length) {
          rsel.textContent = "";
          for (const c of s.choices) rsel.add(new Option(c, c));
          rsel.onchange = function () { state.reduction = rsel.value; syncUrl(); loadAll(); };
        }
        if (rsel) rsel.value = s.reduction;
        const domain = state.x0 !== null && state.x1 !== null ? [+state.x0, +state.x1] : null;
        const chart = lineChart(document.getElementById("series-chart"), s.x, s.y, "series", domain);
        interact(chart, s.x, function (a, b) { state.x0 = a; state.x1 = b; syncUrl(); loadSeries(); },
          function (step) { state.step = step; syncUrl(); loadStep(); });
        const label = document.getElementById("series-label");
        label.textContent = s.shown.toLocaleString("en-US") + " of " + s.range_total.toLocaleString("en-US") + " points"
          + (s.range_total !== s.total ? " in the zoomed range (" + s.total.toLocaleString("en-US") + " in all)" : "")
          + (s.computed ? " · " + s.reduction + " computed from the raw tensors" : "");
        label.dataset.shown = s.shown; label.dataset.total = s.total;
        const bad = document.getElementById("series-nonfinite");
        bad.textContent = s.nonfinite.count ? s.nonfinite.count + " value(s) not finite, not drawn: steps "
          + s.nonfinite.steps.map(function (x, i) { return x + " (" + s.nonfinite.kinds[i] + ")"; }).join(", ") : "";
        const last = s.x.length ? s.x[s.x.length - 1] : null;
        if (last !== null && !(last in window.smdbgDebugger.shown)) window.smdbgDebugger.shown[last] = Date.now();
        root.dataset.lastStep = s.x_max === null ? "" : s.x_max;
        performance.mark("smdbg-series-drawn");
        window.smdbgDebugger.seriesMs = performance.now() - t0;
      })
      .catch(function (e) { document.getElementById("series-chart").textContent = e.message; });
  }

  function bars(host, edges, counts, cls) {
    host.textContent = "";
    const svg = el("svg", { width: W, height: 160, class: cls });
    host.appendChild(svg);
    const max = Math.max.apply(null, counts.concat([1]));
    const bw = (W - 2 * PAD) / Math.max(counts.length, 1);
    counts.forEach(function (c, i) {
      const h = 130 * c / max;
      const r = el("rect", { x: PAD + i * bw, y: 140 - h, width: Math.max(bw - 1, 1), height: h, fill: "#3866d6", class: "hist-bar", "data-count": c }, svg);
      el("title", {}, r).textContent = fmt(edges[i]) + " .. " + fmt(edges[i + 1]) + ": " + c;
    });
    if (edges.length) {
      el("text", { x: PAD, y: 155, "font-size": 10 }, svg).textContent = fmt(edges[0]);
      el("text", { x: W - PAD, y: 155, "font-size": 10, "text-anchor": "end" }, svg).textContent = fmt(edges[edges.length - 1]);
    }
  }

  function loadStep() {
    if (!state.tensor) return Promise.resolve();
    const host = document.getElementById("step-view");
    return api("step", { tensor: state.tensor, worker: state.worker, step: state.step }).then(function (v) {
      const label = document.getElementById("step-label");
      if (v.step === null) { label.textContent = ""; host.textContent = v.reason; return; }
      label.textContent = "step " + v.step + " · shape [" + v.shape.join(", ") + "] · " + v.dtype;
      const chart = document.createElement("div");
      host.textContent = "";
      host.appendChild(chart);
      bars(chart, v.edges, v.counts, "histogram");
      const st = v.stats;
      const p = document.createElement("p");
      p.className = "note step-stats";
      p.textContent = "min " + fmt(st.min) + " · max " + fmt(st.max) + " · mean " + fmt(st.mean) + " · std " + fmt(st.std)
        + (st.nan ? " · " + st.nan + " NaN" : "") + (st.inf ? " · " + st.inf + " inf" : "");
      const vals = document.createElement("p");
      vals.className = "note step-values";
      vals.textContent = "values (" + v.values_shown + " of " + st.size + "): " + v.values.slice(0, 64).map(function (x) { return typeof x === "number" ? fmt(x) : x; }).join(", ");
      host.append(p, vals);
    }).catch(function (e) { host.textContent = e.message; });
  }

  function loadHeatmap() {
    if (!state.tensor) return Promise.resolve();
    const host = document.getElementById("heatmap");
    return api("heatmap", { tensor: state.tensor, worker: state.worker }).then(function (h) {
      const label = document.getElementById("heatmap-label");
      host.textContent = "";
      if (h.reason) { label.textContent = ""; host.textContent = h.reason; return; }
      label.textContent = h.shown + " of " + h.total + " steps";
      const rows = h.edges.length - 1, cols = h.steps.length;
      const svg = el("svg", { width: W, height: 200, class: "heatmap" });
      host.appendChild(svg);
      const cw = (W - 2 * PAD) / Math.max(cols, 1), ch = 180 / Math.max(rows, 1);
      h.counts.forEach(function (row, i) {
        row.forEach(function (c, j) {
          if (!c) return;
          const a = 0.1 + 0.9 * c / h.max_count;
          const r = el("rect", { x: PAD + i * cw, y: 180 - (j + 1) * ch, width: cw + 0.5, height: ch + 0.5, fill: "rgba(56,102,214," + a.toFixed(3) + ")", class: "heat-cell" }, svg);
          el("title", {}, r).textContent = "step " + h.steps[i] + ", " + fmt(h.edges[j]) + " .. " + fmt(h.edges[j + 1]) + ": " + c;
        });
      });
      el("text", { x: 2, y: 12, "font-size": 10 }, svg).textContent = fmt(h.edges[rows]);
      el("text", { x: 2, y: 180, "font-size": 10 }, svg).textContent = fmt(h.edges[0]);
    }).catch(function (e) { host.textContent = e.message; });
  }

  function loadRules() {
    return api("rules", { x0: state.x0, x1: state.x1, points: state.points }).then(function (t) {
      const host = document.getElementById("rules-chart");
      const xs = t.loss ? t.loss.x : [];
      const steps = [];
      for (const r of t.rules) for (const f of r.findings) steps.push(f.step);
      const all = xs.concat(steps);
      const domain = state.x0 !== null && state.x1 !== null ? [+state.x0, +state.x1]
        : [Math.min.apply(null, all.length ? all : [0]), Math.max.apply(null, all.length ? all : [1])];
      const chart = lineChart(host, xs, t.loss ? t.loss.y : [], "rules-timeline", domain);
      if (t.loss) el("text", { x: W - 8, y: 14, "font-size": 10, "text-anchor": "end" }, chart.svg).textContent = "loss " + t.loss.tensor + " · " + t.loss.shown + " of " + t.loss.range_total + " points";
      for (const r of t.rules) {
        for (const f of r.findings) {
          if (f.step < domain[0] || f.step > domain[1]) continue;
          const m = el("rect", { x: chart.sx(f.step) - 1.5, width: 3, y: 12, height: H - 36, fill: "#c62828", class: "finding-marker", "data-step": f.step, "data-rule": r.rule }, chart.svg);
          el("title", {}, m).textContent = r.rule + " at step " + f.step + ": " + f.message;
        }
      }
      const list = document.getElementById("rules-list");
      list.textContent = "";
      if (!t.rules.length) { list.textContent = "No rule job has written a status into this trial."; return; }
      const table = document.createElement("table");
      table.className = "rules";
      table.innerHTML = "<thead><tr><th>rule</th><th>status</th><th>last step</th><th>findings</th></tr></thead>";
      const body = document.createElement("tbody");
      for (const r of t.rules) {
        const tr = document.createElement("tr");
        const cells = [r.rule, r.status, r.last_step, r.findings.map(function (f) { return "step " + f.step + ": " + f.message; }).join("; ") || r.reason];
        cells.forEach(function (c, i) { const td = document.createElement("td"); td.textContent = c; if (i === 1) td.className = "status-" + c; tr.appendChild(td); });
        body.appendChild(tr);
      }
      table.appendChild(body);
      list.appendChild(table);
    }).catch(function (e) { document.getElementById("rules-list").textContent = e.message; });
  }

  function loadAll() {
    return Promise.all([loadSeries(), loadStep(), loadHeatmap(), loadRules()]);
  }

  rsel = drawSelection();
  if (state.tensor && !state.worker && config.tensors[state.tensor]) state.worker = config.tensors[state.tensor].workers[0] || "";
  document.getElementById("zoom-reset").onclick = function () { state.x0 = null; state.x1 = null; syncUrl(); loadSeries(); loadRules(); };
  syncUrl();
  loadAll();

  const source = new EventSource("/debugger/api/events?" + new URLSearchParams({ trial: config.trial }).toString());
  source.addEventListener("update", function (ev) {
    const info = JSON.parse(ev.data);
    window.smdbgDebugger.updates += 1;
    root.dataset.updates = window.smdbgDebugger.updates;
    // new data: redraw what is shown, with the same tensor, worker, reduction, zoom and step
    loadAll().then(function () { root.dataset.rows = info.rows; });
    if (info.ended) { const n = document.querySelector(".live-note"); if (n) n.textContent = "Training ended."; source.close(); }
  });
})();
