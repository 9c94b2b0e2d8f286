/* The overview page, kept live: marks (throttled P&L ticks) move unrealized P&L, equity, today's
 * P&L and today's chart point in place; orders and fills re-read /overview/state.json (debounced),
 * and so does every reconnect, so nothing shown exists only in a push. */
(function () {
  "use strict";
  var STATE_URL = "/overview/state.json";
  var state = JSON.parse(document.getElementById("overview-state").textContent);
  var refreshTimer = null;
  var seen = { orders: ids(state.orders), fills: ids(state.fills), positions: ids(state.positions) };

  function ids(rows) {
    var out = {};
    rows.forEach(function (r) { out[r.id] = true; });
    return out;
  }
  function num(text) { return text === null || text === undefined ? null : parseFloat(text); }
  function money(value) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function signClass(el, value) {
    el.classList.toggle("up", value > 0);
    el.classList.toggle("down", value < 0);
  }
  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }
  function cell(text, numeric) {
    var td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }
  function time(iso) { return iso ? iso.slice(11, 19) : ""; }

  // --- cards and chart ------------------------------------------------------------------------
  function accountFigures(account) {
    // Unrealized P&L from this page's positions at their latest marks (pushed ticks).
    var unrealized = 0;
    state.positions.forEach(function (p) {
      if (p.account_id === account.id) unrealized += num(p.unrealized_pnl);
    });
    var equity = num(account.cash) + unrealized;
    var baseline = num(account.day_baseline);
    var today = baseline === null ? null : equity - baseline;
    var days = account.daily_pnl.map(function (d) { return { day: d.day, pnl: num(d.pnl) }; });
    var todayIso = new Date().toISOString().slice(0, 10);
    if (today !== null && days.length && days[days.length - 1].day === todayIso) {
      days[days.length - 1].pnl = today;  // today's point moves with the marks
    }
    var total = days.reduce(function (sum, d) { return sum + d.pnl; }, 0);
    return { unrealized: unrealized, equity: equity, today: today, days: days, total: total };
  }

  function renderCards() {
    state.accounts.forEach(function (account) {
      var root = document.querySelector('[data-account="' + account.id + '"]');
      if (!root) return;
      var f = accountFigures(account);
      field(root, "equity").textContent = money(f.equity) + " " + account.currency;
      field(root, "cash").textContent = money(num(account.cash));
      field(root, "available").textContent = money(num(account.available));
      field(root, "unrealized_pnl").textContent = money(f.unrealized);
      field(root, "realized_pnl").textContent = money(num(account.realized_pnl));
      var note = field(root, "today_note");
      if (note && f.today !== null) note.textContent = "since " + money(num(account.day_baseline)) + " at 00:00 UTC";
      var today = field(root, "today_pnl");
      today.textContent = f.today === null ? "—" : money(f.today);
      signClass(today, f.today || 0);
      var total = field(root, "pnl_30d");
      total.textContent = money(f.total);
      signClass(total, f.total);
    });
  }

  function chartTraces() {
    return state.accounts.map(function (account) {
      var f = accountFigures(account);
      var running = 0;
      return {
        type: "scatter", mode: "lines+markers", name: account.name,
        x: f.days.map(function (d) { return d.day; }),
        y: f.days.map(function (d) { running += d.pnl; return running; }),
        hovertemplate: "%{x}<br>%{y:,.2f} " + account.currency + "<extra>" + account.name + "</extra>",
      };
    });
  }

  function windowRange() {
    var end = new Date();
    var start = new Date(end.getTime() - 29 * 86400000);
    return [start.toISOString().slice(0, 10), end.toISOString().slice(0, 10)].map(function (d, i) {
      return d + (i ? " 12:00" : " 00:00");
    });
  }

  function renderChart() {
    var el = document.getElementById("pnl-chart");
    if (!el || !window.Plotly) return;
    var layout = {
      margin: { l: 60, r: 16, t: 16, b: 40 }, showlegend: state.accounts.length > 1,
      legend: { orientation: "h" }, yaxis: { title: { text: "P&L" }, zeroline: true, tickformat: ",.2f" },
      // The whole window, so one day's point does not stretch across the axis.
      xaxis: { type: "date", tickformat: "%b %d", range: windowRange() }, font: { family: "system-ui, sans-serif" },
    };
    window.Plotly.react(el, chartTraces(), layout, { displayModeBar: false, responsive: true });
  }

  // --- tables -----------------------------------------------------------------------------------
  function fillBody(id, rows, kind, build, emptyText, columns) {
    var body = document.querySelector("#" + id + " tbody");
    if (!body) return;
    var fresh = document.createDocumentFragment();
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.dataset[kind] = row.id;
      build(row).forEach(function (td) { tr.appendChild(td); });
      if (!seen[id][row.id]) tr.className = "flash";
      fresh.appendChild(tr);
    });
    if (!rows.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = cell(emptyText);
      td.colSpan = columns;
      td.className = "muted";
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    body.replaceChildren(fresh);
    seen[id] = ids(rows);
  }

  function renderTables() {
    fillBody("positions", state.positions, "position", function (p) {
      var mark = cell(money(num(p.mark_price)), true);
      mark.dataset.field = "mark";
      var unrealized = cell(money(num(p.unrealized_pnl)), true);
      unrealized.dataset.field = "unrealized";
      signClass(unrealized, num(p.unrealized_pnl));
      return [cell(p.account), cell(p.symbol), cell(p.quantity, true),
              cell(money(num(p.average_entry_price)), true), mark, unrealized,
              cell(money(num(p.realized_pnl)), true)];
    }, "No open positions.", 7);
    document.querySelectorAll("#positions tbody tr[data-position]").forEach(function (tr, i) {
      tr.dataset.symbol = state.positions[i].symbol;
    });
    fillBody("orders", state.orders, "order", function (o) {
      return [cell(time(o.created_at)), cell(o.symbol), cell(o.side), cell(o.type),
              cell(o.quantity, true), cell(o.filled_quantity, true),
              cell(money(num(o.average_fill_price)), true), cell(o.status)];
    }, "No orders yet.", 8);
    fillBody("fills", state.fills, "fill", function (f) {
      return [cell(time(f.filled_at)), cell(f.symbol), cell(f.side), cell(f.quantity, true),
              cell(money(num(f.price)), true), cell(money(num(f.fee)), true)];
    }, "No fills yet.", 6);
  }

  function renderAll() {
    renderCards();
    renderTables();
    renderChart();
  }

  // --- live updates -------------------------------------------------------------------------
  function refresh() {
    refreshTimer = null;
    fetch(STATE_URL, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("state " + response.status);
        return response.json();
      })
      .then(function (fresh) {
        var accountsChanged = fresh.accounts.map(function (a) { return a.id; }).join() !==
          state.accounts.map(function (a) { return a.id; }).join();
        var switchesChanged = fresh.accounts.some(function (a, i) {
          return !state.accounts[i] || state.accounts[i].kill_switch.on !== a.kill_switch.on;
        });
        state = fresh;
        if (accountsChanged || switchesChanged) {
          window.location.reload();  // new accounts or forms: the server renders those
          return;
        }
        renderAll();
      })
      .catch(function (err) { console.warn("overview state not read", err); });
  }
  function refreshSoon() {
    // A market order's fills arrive as a burst: one read for all of them.
    if (refreshTimer === null) refreshTimer = window.setTimeout(refresh, 150);
  }

  function onMark(payload) {
    var mark = num(payload.mark_price);
    var changed = false;
    state.positions.forEach(function (p) {
      if (p.symbol !== payload.symbol) return;
      p.mark_price = payload.mark_price;
      p.unrealized_pnl = String(num(p.quantity) * mark - num(p.cost_basis));
      var row = document.querySelector('#positions tr[data-position="' + p.id + '"]');
      if (row) {
        field(row, "mark").textContent = money(mark);
        var u = field(row, "unrealized");
        u.textContent = money(num(p.unrealized_pnl));
        signClass(u, num(p.unrealized_pnl));
      }
      changed = true;
    });
    if (changed) {
      renderCards();
      renderChart();
    }
  }

  function start() {
    renderChart();
    if (!window.Live) return;
    window.Live.on("mark", onMark);
    window.Live.on("pnl", refreshSoon);
    window.Live.on("order", refreshSoon);
    window.Live.on("fill", refreshSoon);
    window.Live.on("position", refreshSoon);
    window.Live.on("chart_point", refreshSoon);
    window.Live.onReconnect(refresh);
  }
  // Deferred scripts run in order after parsing; Plotly is loaded by then.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.Overview = { refresh: refresh, state: function () { return state; } };
})();
