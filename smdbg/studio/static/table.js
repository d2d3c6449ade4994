// smdbg studio: the trial-component table. Sorting, paging and filtering are links and a GET form
// (the server does the work); this script keeps the selection in the URL (sel=...), points the
// Compare link at the selection, and leaves empty fields out of the form's URL.
(function () {
  "use strict";
  // The trials table: ticked trials (tsel=...) feed the "Compare selected trials" link (t=...).
  function bindTrials() {
    const link = document.getElementById("compare-trials");
    if (!link) return;
    const boxes = Array.from(document.querySelectorAll("input.select-trial"));
    const show = () => {
      const names = Studio.getList("tsel");
      boxes.forEach((b) => { b.checked = names.includes(b.value); });
      const url = new URL(link.dataset.base, window.location.href);
      if (names.length) url.searchParams.set("t", Studio.joinList(names));
      link.setAttribute("href", url.pathname + url.search);
    };
    boxes.forEach((b) => b.addEventListener("change", () => {
      Studio.set({ tsel: boxes.filter((x) => x.checked).map((x) => x.value) });
      show();
    }));
    show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    bindTrials();
    const form = document.getElementById("table-filters");
    if (!form) return;
    const compare = document.getElementById("compare");
    const all = document.getElementById("select-all");
    const sync = (names) => {
      const url = new URL(form.dataset.compare, window.location.href);
      if (names.length) url.searchParams.set("c", Studio.joinList(names)); else url.searchParams.delete("c");
      compare.setAttribute("href", url.pathname + url.search);
      compare.classList.toggle("disabled", names.length === 0);
      const selInput = form.querySelector("input[name=sel]");
      if (selInput) selInput.value = Studio.joinList(names);
    };
    Studio.bindSelection("sel", sync);
    const chooser = document.getElementById("metric-columns");
    if (chooser && chooser.dataset.source) {  // every metric name in scope, loaded after the page
      fetch(chooser.dataset.source).then((r) => r.json()).then((names) => {
        const chosen = new Set(Array.from(chooser.selectedOptions).map((o) => o.value));
        const all = Array.from(new Set([...names.metrics, ...chosen])).sort();
        chooser.replaceChildren(...all.map((m) => new Option(m, m, chosen.has(m), chosen.has(m))));
        chooser.dataset.loaded = String(names.metrics.length);
      });
    }
    if (all) {
      all.addEventListener("change", () => {
        document.querySelectorAll("input.select").forEach((b) => {
          if (b.checked !== all.checked) { b.checked = all.checked; b.dispatchEvent(new Event("change")); }
        });
      });
    }
    form.addEventListener("submit", () => {
      const chosen = Array.from(document.querySelectorAll("#metric-columns option:checked")).map((o) => o.value);
      document.getElementById("metrics-input").value = Studio.joinList(chosen);
      for (const key of ["sel", "tsel"]) {  // selections made since the page loaded
        let input = form.querySelector(`input[name=${key}]`);
        if (!input) { input = document.createElement("input"); input.type = "hidden"; input.name = key; form.append(input); }
        input.value = Studio.joinList(Studio.getList(key));
      }
      form.querySelectorAll("input, select").forEach((el) => { if (el.name && !el.value) el.disabled = true; });
    });
  });
})();
