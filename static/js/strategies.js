// Strategies and models pages: progress bars that follow a run by polling its status JSON
// (the row is the record: a worker elsewhere writes it), and Plotly figures rendered from
// JSON the server embedded. No build step; Plotly is served at /vendor/plotly.min.js.
(function () {
  "use strict";

  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 15000;

  // Follow one run: update its <progress> and message until it has finished, then reload so
  // the server renders the result (the page never holds state that exists only here).
  function follow(section) {
    const url = section.dataset.progressUrl;
    const bar = section.querySelector("progress");
    const message = section.querySelector("[role=status]");
    let delay = POLL_MS;

    async function poll() {
      try {
        const response = await fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (!response.ok) throw new Error("status " + response.status);
        const body = await response.json();
        if (bar) {
          bar.value = body.progress;
          bar.textContent = Math.round(body.progress * 100) + "%";
        }
        if (message) message.textContent = body.message || body.status;
        delay = POLL_MS;
        if (body.finished) {
          window.location.reload();
          return;
        }
      } catch (error) {
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);  // server restarting: back off, retry
        if (message) message.textContent = "Reconnecting…";
      }
      window.setTimeout(poll, delay);
    }
    window.setTimeout(poll, POLL_MS);
  }

  function plot(element) {
    const data = document.getElementById(element.dataset.plotlyFigure);
    if (!data || !window.Plotly) return;
    const figure = JSON.parse(data.textContent);
    window.Plotly.newPlot(element, figure.data, figure.layout, {responsive: true, displaylogo: false});
    element.dataset.rendered = "true";
  }

  function start() {
    document.querySelectorAll("[data-progress-url]").forEach(follow);
    document.querySelectorAll("[data-plotly-figure]").forEach(plot);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
