/* The standalone backtest report: draws the figure whose Plotly JSON the page carries
   (a file, not an inline script, so the Content-Security-Policy needs no exception). */
(function () {
  "use strict";
  var figure = JSON.parse(document.getElementById("report-figure-data").textContent);
  Plotly.newPlot("report-figure", figure.data, figure.layout, {responsive: true});
})();
