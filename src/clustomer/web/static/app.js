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
  var cell = function (row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) { td.className = cls; }
    row.appendChild(td);
  };
  var showAccount = function (a) {
    var box = document.getElementById("account");
    if (!box || !a) { return; }
    var body = document.querySelector("#account-rows tbody");
    while (body.firstChild) { body.removeChild(body.firstChild); }
    var rows = [["read from " + a.file + (a.already_imported ? " (already imported: nothing changed)" : ""), a.rows_read],
                ["kept", a.rows_kept]];
    Object.keys(a.rows_dropped || {}).forEach(function (why) {
      rows.push(["dropped: " + why, a.rows_dropped[why]]);
    });
    rows.forEach(function (r) {
      var tr = document.createElement("tr"); cell(tr, r[0]); cell(tr, r[1].toLocaleString(), "num");
      body.appendChild(tr);
    });
    var rejects = a.rejects || [];
    var table = document.getElementById("rejects");
    var rbody = table.querySelector("tbody");
    while (rbody.firstChild) { rbody.removeChild(rbody.firstChild); }
    rejects.forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r.line); cell(tr, r.column); cell(tr, r.value); cell(tr, r.message);
      rbody.appendChild(tr);
    });
    var title = document.getElementById("rejects-title");
    title.hidden = table.hidden = rejects.length === 0;
    if (a.rejects_total > rejects.length) {
      title.textContent = "Rejected cells (the first " + rejects.length + " of " + a.rejects_total + ")";
    }
    box.hidden = false;
  };
  var job = document.getElementById("job");
  if (job) {
    var id = job.getAttribute("data-job");
    var poll = function () {
      fetch("/jobs/" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          showAccount(j.result || j.detail);
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
