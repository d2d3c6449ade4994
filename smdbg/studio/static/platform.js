// smdbg studio: a job's metric charts (the job page, smdbg/studio/_platform.py). Each metric the
// job's metric definitions matched is one chart.js line chart, one series per host, x = the
// value's position in that host's log (as the supervisor numbers them). Data: #job-metrics.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const data = Studio.data("job-metrics");
    if (!data) return;
    document.querySelectorAll(".metric[data-metric]").forEach((box) => {
      const hosts = data[box.dataset.metric] || {};
      const chart = new SmdbgChart(box.querySelector(".chart"), { id: "job-" + box.dataset.metric, smoothing: 0 });
      chart.setSeries(Object.entries(hosts).map(([host, ys]) => ({ name: host, x: { step: ys.map((_, i) => i) }, y: ys })));
    });
  });
})();
