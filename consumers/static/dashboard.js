/* Draws the dashboard's charts from the tables next to them (the tables are the text
 * alternative and the single source of every number). Chart.js, served from our origin.
 * No inline script, no eval: works under the strict Content-Security-Policy. */
(function () {
  "use strict";
  var COLOURS = ["#00689e", "#b35900", "#2e7d32", "#6a1b9a", "#c62828", "#37474f", "#00838f", "#795548"];

  function number(td, name) {
    var v = td ? td.getAttribute(name) : null;
    return v === null || v === "" ? null : Number(v);
  }

  function readCell(td) {
    var scale = td && td.getAttribute("data-kind") === "aandeel" ? 100 : 1;
    var value = number(td, "data-value");
    var low = number(td, "data-low");
    var high = number(td, "data-high");
    return {
      value: value === null ? null : value * scale,
      low: low === null ? null : low * scale,
      high: high === null ? null : high * scale
    };
  }

  function readTable(table) {
    var cols = Array.prototype.map.call(table.querySelectorAll("thead th[data-key]"), function (th) {
      return { key: th.getAttribute("data-key"), label: th.textContent.trim() };
    });
    var rows = Array.prototype.map.call(table.querySelectorAll("tbody tr"), function (tr) {
      return {
        key: tr.getAttribute("data-key"),
        label: tr.querySelector("th").textContent.trim(),
        cells: Array.prototype.map.call(tr.querySelectorAll("td"), readCell)
      };
    });
    return { cols: cols, rows: rows };
  }

  function seriesOf(t, along, keys) {
    if (along === "rijen") {
      var idx = [];
      t.cols.forEach(function (c, i) { if (!keys.length || keys.indexOf(c.key) >= 0) { idx.push(i); } });
      return {
        labels: t.rows.map(function (r) { return r.label; }),
        sets: idx.map(function (i) {
          return { label: t.cols[i].label, values: t.rows.map(function (r) { return r.cells[i]; }) };
        })
      };
    }
    var rows = t.rows.filter(function (r) { return !keys.length || keys.indexOf(r.key) >= 0; });
    return {
      labels: t.cols.map(function (c) { return c.label; }),
      sets: rows.map(function (r) { return { label: r.label, values: r.cells }; })
    };
  }

  function hasBounds(set) {
    return set.values.some(function (v) { return v.low !== null && v.high !== null; });
  }

  function datasets(s, kind) {
    var out = [];
    s.sets.forEach(function (set, n) {
      var colour = COLOURS[n % COLOURS.length];
      var values = set.values.map(function (v) { return v.value; });
      if (kind === "line") {
        if (hasBounds(set)) {
          out.push({ label: "", data: set.values.map(function (v) { return v.high; }), borderWidth: 0,
            pointRadius: 0, fill: false, spanGaps: false });
          out.push({ label: "", data: set.values.map(function (v) { return v.low; }), borderWidth: 0,
            pointRadius: 0, fill: "-1", backgroundColor: colour + "33", spanGaps: false });
        }
        out.push({ label: set.label, data: values, borderColor: colour, backgroundColor: colour,
          borderWidth: 2, pointRadius: 3, fill: false, spanGaps: false });
      } else {
        out.push({ label: set.label, data: values, backgroundColor: colour });
        if (hasBounds(set)) {
          out.push({ label: set.label + ": 95%-marge", backgroundColor: colour + "55",
            data: set.values.map(function (v) { return v.low === null ? null : [v.low, v.high]; }) });
        }
      }
    });
    return out;
  }

  function draw(figure) {
    var table = document.getElementById(figure.getAttribute("data-table"));
    var canvas = figure.querySelector("canvas");
    if (!table || !canvas || typeof Chart === "undefined") { return; }
    var keys = (figure.getAttribute("data-series") || "").split(" ").filter(Boolean);
    var kind = figure.getAttribute("data-kind") === "line" ? "line" : "bar";
    var s = seriesOf(readTable(table), figure.getAttribute("data-along"), keys);
    var unit = figure.getAttribute("data-unit") || "";
    new Chart(canvas, {
      type: kind,
      data: { labels: s.labels, datasets: datasets(s, kind) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { labels: { filter: function (item) { return item.text !== ""; } } } },
        scales: {
          x: { ticks: { autoSkip: true } },
          y: { title: { display: unit !== "", text: unit } }
        }
      }
    });
    figure.setAttribute("data-drawn", "1");
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart"), draw);
    document.documentElement.setAttribute("data-charts", "klaar");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
