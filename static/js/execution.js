/* The execution monitor: re-reads its state fragment (GET data-url) every few seconds, at once
 * when one of your orders or fills is pushed (Live.on "order" / "fill"), and after every
 * reconnect. The fragment is the whole truth: a lost push only delays the next read. */
(function () {
  "use strict";
  var box = document.getElementById("monitor-state");
  if (!box) return;
  var url = box.dataset.url;
  var pollMs = Math.max(1, Number(box.dataset.pollSeconds) || 3) * 1000;
  var stamp = document.getElementById("monitor-refreshed");
  var inFlight = false;
  var again = false;

  function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        // Keep open what the reader opened: the fragment comes back with every "why" closed.
        var open = Array.prototype.map.call(
          box.querySelectorAll("[data-symbol] details[open]"),
          function (el) { return el.closest("[data-symbol]").dataset.symbol; });
        box.innerHTML = html;
        open.forEach(function (symbol) {
          var el = box.querySelector('[data-symbol="' + symbol + '"] details');
          if (el) el.open = true;
        });
        box.dataset.refreshedAt = String(Date.now());
        if (stamp) stamp.textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC";
      })
      .catch(function () {
        if (stamp) stamp.textContent = "Update failed; retrying";
      })
      .finally(function () {
        inFlight = false;
        if (again) { again = false; refresh(); }
      });
  }

  window.setInterval(function () {
    if (!document.hidden) refresh();
  }, pollMs);
  var button = document.getElementById("monitor-refresh");
  if (button) button.addEventListener("click", refresh);
  // live.js may load after this script: every deferred script has run by DOMContentLoaded.
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Live) return;
    window.Live.on("order", refresh);
    window.Live.on("fill", refresh);
    window.Live.onReconnect(refresh);
  });
})();
