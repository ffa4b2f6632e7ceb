// clustomer pages: the overview chart and the upload job's progress. No inline scripts.
(function () {
  "use strict";
  var data = document.getElementById("chart-data");
  if (data && window.Plotly) {
    var segs = JSON.parse(data.textContent);
    var names = segs.map(function (s) { return s.name; });
    window.Plotly.newPlot("sizes", [
      { type: "bar", name: "customers", x: names, y: segs.map(function (s) { return s.share_customers; }) },
      { type: "bar", name: "revenue", x: names, y: segs.map(function (s) { return s.share_revenue; }) }
    ], { barmode: "group", yaxis: { tickformat: ".0%" }, margin: { t: 20 } }, { displaylogo: false });
  }
  var job = document.getElementById("job");
  if (job) {
    var id = job.getAttribute("data-job");
    var poll = function () {
      fetch("/jobs/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.status === "done") {
            job.textContent = "Done: run " + j.result.run_id + " with " + j.result.k + " segments. ";
            var a = document.createElement("a"); a.href = "/"; a.textContent = "See the overview";
            job.appendChild(a);
          } else if (j.status === "failed") {
            job.textContent = "Failed: " + (j.error || j.status);
            job.className = "error";
          } else {
            job.textContent = "Working: " + (j.stage || j.status) + "…";
            setTimeout(poll, 1000);
          }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    poll();
  }
})();
