/* The copy trading page: the 30-day P&L chart (Plotly, served at /vendor/plotly.min.js), and
 * the summary cards and drift ledger re-read from the page itself when one of your fills or
 * positions is pushed (Live.on "fill" / "position") and after every reconnect. Forms are left
 * alone, so nothing typed is lost. */
(function () {
  "use strict";

  function drawChart() {
    var box = document.getElementById("pnl-chart");
    var source = document.getElementById("pnl-data");
    if (!box || !source || !window.Plotly) return;
    var data = JSON.parse(source.textContent);
    if (!data.days.length) return;
    box.innerHTML = "";
    var colours = data.pnl.map(function (v) { return v < 0 ? "#b3261e" : "#116329"; });
    // Always the whole 30 days, so a new subscription's single day is not drawn in seconds.
    var day = 86400000;
    var last = Date.parse(data.days[data.days.length - 1]);
    var range = [new Date(last - 29.5 * day).toISOString(), new Date(last + 0.5 * day).toISOString()];
    window.Plotly.newPlot(box, [
      { type: "bar", name: "Daily P&L", x: data.days, y: data.pnl, marker: { color: colours } },
      { type: "scatter", mode: "lines+markers", name: "Cumulative", x: data.days,
        y: data.cumulative, line: { color: "#0b5cad", width: 2 } }
    ], {
      margin: { l: 56, r: 12, t: 12, b: 40 },
      legend: { orientation: "h", y: -0.2 },
      xaxis: { type: "date", range: range },
      yaxis: { zeroline: true, zerolinecolor: "#8c959f" }
    }, { responsive: true, displayModeBar: false });
  }

  var reading = false;
  function reread() {
    if (reading) return;
    reading = true;
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["copy-summary", "drift"].forEach(function (id) {
          var now = document.getElementById(id);
          var next = fresh.getElementById(id);
          if (now && next) now.replaceWith(next);
        });
      })
      .catch(function () { /* the next push or reconnect reads again */ })
      .finally(function () { reading = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    if (!window.Live) return;
    window.Live.on("fill", reread);
    window.Live.on("position", reread);
    window.Live.onReconnect(reread);
  });
})();
