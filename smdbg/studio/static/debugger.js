// The debugger page (smdbg/studio/_debugger.py): draws what /debugger/api/* returns (line charts
// with chart.js's SmdbgChart, the histogram and heatmap as SVG), keeps the view (tensor,
// reduction, worker, zoom x0..x1, step) in the query string, and applies live updates
// (/debugger/api/events) in place without touching the view.
"use strict";
(function () {
  const root = document.getElementById("debugger");
  if (!root) return;
  const config = JSON.parse(root.dataset.config);
  const NS = "http://www.w3.org/2000/svg";
  const W = 760, PAD = 44;  // the histogram's and heatmap's SVG size
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

  function zoomed() { return state.x0 !== null && state.x1 !== null ? [+state.x0, +state.x1] : null; }
  // The history chart: zooming asks the server again for that range (full detail there); a
  // click picks the step whose raw value is shown.
  const seriesChart = new SmdbgChart(document.getElementById("series-chart"), {
    id: "series", smoothing: 0, labelEl: document.getElementById("series-label"),
    onZoom: function (z) {
      state.x0 = z ? Math.floor(z[0]) : null; state.x1 = z ? Math.ceil(z[1]) : null;
      syncUrl(); loadSeries(); loadRules();
    },
    onPick: function (step) { state.step = step; syncUrl(); loadStep(); },
  });
  const rulesChart = new SmdbgChart(document.getElementById("rules-chart"), { id: "rules", smoothing: 0 });

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
        const n = function (v) { return v.toLocaleString("en-US"); };
        seriesChart.update({
          series: [{ name: state.tensor + " " + s.reduction, x: { step: s.x }, y: s.y, total: s.range_total }],
          zoom: zoomed(),
          label: n(s.shown) + " of " + n(s.range_total) + " points"
            + (s.range_total !== s.total ? " in the zoomed range (" + n(s.total) + " in all)" : "")
            + (s.computed ? " · " + s.reduction + " computed from the raw tensors" : ""),
        });
        const label = document.getElementById("series-label");
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
      const markers = [];
      for (const r of t.rules) {
        for (const f of r.findings) {
          markers.push({ x: f.step, cls: "finding-marker", label: r.rule + " at step " + f.step + ": " + f.message,
            data: { step: f.step, rule: r.rule } });
        }
      }
      rulesChart.update({
        series: t.loss ? [{ name: "loss " + t.loss.tensor, x: { step: t.loss.x }, y: t.loss.y, total: t.loss.range_total }] : [],
        zoom: zoomed(), markers: markers,
      });
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
