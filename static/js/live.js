/* Live updates for the signed-in user: one WebSocket to /ws/account/ per page.
 *
 *   Live.on(kind, handler)      handler(payload, message) for each push of that kind
 *                               ("order", "fill", "position", "pnl", "chart_point", ...; "*" = all)
 *   Live.onReconnect(handler)   called after every reconnect: re-read state there, since pushes
 *                               sent while the socket was down are gone (the database is the record)
 *   Live.onStatus(handler)      handler(status) whenever Live.status changes
 *   Live.status                 "connecting" | "live" | "reconnecting" | "offline"
 *
 * Reconnects with exponential backoff and jitter (0.5 s doubling, capped at 10 s) so a restarted
 * server is not hit by every browser at the same instant. The header's #live-status shows it.
 */
(function () {
  "use strict";
  var BASE_DELAY_MS = 500;
  var MAX_DELAY_MS = 10000;
  var LOG_SIZE = 200;
  var handlers = {};
  var reconnectHandlers = [];
  var statusHandlers = [];
  var socket = null;
  var attempt = 0;
  var everConnected = false;
  var timer = null;
  var LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
                 offline: "Offline" };

  var Live = {
    status: "connecting",
    // The last pushes received (newest last): what the browser tests read.
    log: [],
    on: function (kind, handler) {
      (handlers[kind] = handlers[kind] || []).push(handler);
    },
    onReconnect: function (handler) { reconnectHandlers.push(handler); },
    onStatus: function (handler) { statusHandlers.push(handler); },
  };
  window.Live = Live;

  function setStatus(status, label) {
    Live.status = status;
    var el = document.getElementById("live-status");
    if (el) {
      el.dataset.status = status;
      el.textContent = label || LABELS[status];
    }
    statusHandlers.forEach(function (h) { safely(h, status); });
  }

  function safely(fn) {
    try {
      fn.apply(null, Array.prototype.slice.call(arguments, 1));
    } catch (err) {
      console.error("live update handler failed", err);  // one bad handler must not stop the rest
    }
  }

  function delay() {
    var ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * ceiling / 2;  // "equal jitter"
  }

  function dispatch(message) {
    Live.log.push(message);
    if (Live.log.length > LOG_SIZE) Live.log.shift();
    (handlers[message.kind] || []).concat(handlers["*"] || []).forEach(function (h) {
      safely(h, message.payload, message);
    });
  }

  function connect() {
    timer = null;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws;
    try {
      ws = new WebSocket(scheme + window.location.host + "/ws/account/");
    } catch (err) {
      schedule();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      attempt = 0;
      setStatus("live");
      if (everConnected) reconnectHandlers.forEach(function (h) { safely(h); });
      everConnected = true;
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      if (message && typeof message.kind === "string") dispatch(message);
    };
    ws.onclose = function (event) {
      if (socket !== ws) return;
      socket = null;
      if (event.code === 4401) {  // the session ended: reconnecting cannot help
        setStatus("offline", "Signed out");
        return;
      }
      schedule();
    };
  }

  function schedule() {
    if (timer !== null) return;
    setStatus(everConnected ? "reconnecting" : "connecting");
    timer = window.setTimeout(connect, delay());
    attempt += 1;
  }

  function retryNow() {
    // Back online or visible again: try at once instead of waiting out the backoff.
    if (timer !== null && navigator.onLine !== false) {
      window.clearTimeout(timer);
      connect();
    }
  }

  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") retryNow();
  });
  window.addEventListener("offline", function () { setStatus("offline"); });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setStatus(Live.status); connect(); });
  } else {
    connect();
  }
})();
