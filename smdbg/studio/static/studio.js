// smdbg studio: page state in the query string, shared by every page.
// State that changes without a page load (selection, zoom, smoothing, x-axis) is written into the
// URL with history.replaceState, and every link marked data-keep-state="key1,key2" gets those
// keys copied from the current URL, so navigating (sorting, paging) keeps the view.
(function () {
  "use strict";
  const Studio = {
    params() { return new URLSearchParams(window.location.search); },
    get(key, fallback) { const v = Studio.params().get(key); return v === null ? fallback : v; },
    // Lists in one query value: comma-separated, "," and "\\" inside a name escaped with "\\"
    // (the server's join_names/split_names in _layout.py).
    joinList(names) { return names.map((n) => n.replace(/\\/g, "\\\\").replace(/,/g, "\\,")).join(","); },
    splitList(raw) {
      const out = [];
      let cur = "", escaped = false;
      for (const ch of raw || "") {
        if (escaped) { cur += ch; escaped = false; } else if (ch === "\\") escaped = true;
        else if (ch === ",") { out.push(cur); cur = ""; } else cur += ch;
      }
      out.push(cur);
      return out.map((s) => s.trim()).filter((s) => s.length > 0);
    },
    getList(key) { return Studio.splitList(Studio.params().get(key)); },
    // set({key: value | null | [values]}): update the URL in place (no reload, no history entry).
    set(changes) {
      const p = Studio.params();
      for (const [key, value] of Object.entries(changes)) {
        if (value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0)) {
          p.delete(key);
        } else {
          p.set(key, Array.isArray(value) ? Studio.joinList(value) : String(value));
        }
      }
      const q = p.toString();
      history.replaceState(null, "", window.location.pathname + (q ? "?" + q : ""));
      Studio.refreshLinks();
    },
    refreshLinks() {
      const here = Studio.params();
      document.querySelectorAll("a[data-keep-state]").forEach((a) => {
        const url = new URL(a.getAttribute("href"), window.location.href);
        for (const key of a.dataset.keepState.split(",")) {
          const v = here.get(key);
          if (v === null) url.searchParams.delete(key); else url.searchParams.set(key, v);
        }
        a.setAttribute("href", url.pathname + url.search);
      });
    },
    data(id) { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; },
    // Checkbox selection bound to a URL key: boxes with class "select" and value=name.
    bindSelection(key, onChange) {
      const boxes = Array.from(document.querySelectorAll("input.select"));
      const chosen = new Set(Studio.getList(key));
      boxes.forEach((b) => { b.checked = chosen.has(b.value); });
      const update = () => {
        const current = new Set(Studio.getList(key));
        boxes.forEach((b) => { if (b.checked) current.add(b.value); else current.delete(b.value); });
        Studio.set({ [key]: Array.from(current) });
        if (onChange) onChange(Array.from(current));
      };
      boxes.forEach((b) => b.addEventListener("change", update));
      if (onChange) onChange(Array.from(chosen));
    },
  };
  window.Studio = Studio;
  document.addEventListener("DOMContentLoaded", () => Studio.refreshLinks());
})();
