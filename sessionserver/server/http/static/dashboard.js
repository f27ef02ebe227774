// The live dashboard: polls /api/overview once a second and fills in the figures.
// Every element that shows a figure carries data-metric="<its Prometheus name>" and holds the
// number alone (rate(...) for a per-second rate, labels in braces for a labelled series).
// Text only ever goes in through textContent: nothing the server sends is parsed as HTML.
"use strict";

const POLL_MS = 1000;
const SPARK_POINTS = 120;
const spark = [];

function fmt(value, unit) {
  if (value === null || value === undefined) return "\u2013";
  if (unit === "ms") return String(Number((value * 1000).toPrecision(3)));
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(1);
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24;
  const m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function cell(row, text, metric, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (metric) td.dataset.metric = metric;
  if (numeric) td.className = "num";
  row.appendChild(td);
  return td;
}

function fillTable(id, rows, emptyText, render) {
  const body = document.querySelector(`#${id} tbody`);
  const width = document.querySelectorAll(`#${id} thead th`).length;
  body.replaceChildren();
  if (!rows.length) {
    const tr = body.insertRow();
    const td = cell(tr, emptyText);
    td.colSpan = width;
    td.className = "empty";
    return;
  }
  for (const row of rows) render(body.insertRow(), row);
}

function figures(data) {
  for (const el of document.querySelectorAll("[data-metric]")) {
    const name = el.dataset.metric;
    if (el.closest("table")) continue; // table cells are rebuilt below
    const rate = name.match(/^rate\((.+)\)$/);
    const value = rate ? data.rates[rate[1]] : data.figures[name];
    el.textContent = fmt(value, el.dataset.unit);
  }
}

function render(data) {
  figures(data);
  document.getElementById("version").textContent = data.version;
  document.getElementById("storage").textContent = data.storage;
  document.getElementById("uptime").textContent = duration(data.uptime_seconds);
  const ready = document.getElementById("ready");
  ready.textContent = data.ready ? "ready" : "not ready";
  ready.className = "badge " + (data.ready ? "ok" : "bad");
  const up = data.figures.sessionserver_storage_up === 1;
  const state = document.getElementById("store-state");
  state.textContent = up ? "up" : "down";
  state.className = up ? "up" : "down";
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();

  const rate = data.rates.sessionserver_commands_total;
  if (rate !== undefined) {
    spark.push(rate);
    if (spark.length > SPARK_POINTS) spark.shift();
    const top = Math.max(1, ...spark);
    const points = spark.map((v, i) => `${i},${(30 - (v / top) * 28).toFixed(1)}`);
    document.querySelector("#spark polyline").setAttribute("points", points.join(" "));
  }

  const now = Date.now() / 1000;
  fillTable("slowest", data.slowest, "no commands yet", (tr, s) => {
    cell(tr, s.command);
    cell(tr, fmt(s.seconds, "ms"), null, true);
    cell(tr, s.session || "\u2013");
    cell(tr, s.peer || "\u2013");
    cell(tr, String(Math.max(0, Math.round(now - s.at))), null, true);
  });
  fillTable("commands", data.commands, "no commands yet", (tr, c) => {
    const series = `sessionserver_command_duration_seconds{command="${c.name}"}`;
    cell(tr, c.name);
    cell(tr, String(c.count), `sessionserver_commands_total{command="${c.name}"}`, true);
    for (const [key, q] of [["mean_seconds", "mean"], ["p50_seconds", "0.5"], ["p99_seconds", "0.99"]]) {
      const td = cell(tr, fmt(c[key], "ms"), series, true);
      td.dataset.unit = "ms";
      td.dataset.quantile = q;
    }
  });
  fillTable("errors", Object.entries(data.errors), "no errors", (tr, [reply, n]) => {
    cell(tr, reply);
    cell(tr, String(n), `sessionserver_errors_total{reply="${reply}"}`, true);
  });
  fillTable("store-calls", data.store_calls, "no storage calls yet", (tr, c) => {
    const series = `sessionserver_storage_call_duration_seconds{operation="${c.name}"}`;
    cell(tr, c.name);
    cell(tr, String(c.count), `${series}_count`, true);
    for (const [key, q] of [["p50_seconds", "0.5"], ["p99_seconds", "0.99"]]) {
      const td = cell(tr, fmt(c[key], "ms"), series, true);
      td.dataset.unit = "ms";
      td.dataset.quantile = q;
    }
  });
}

async function poll() {
  try {
    const response = await fetch("/api/overview", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    const ready = document.getElementById("ready");
    ready.textContent = "daemon unreachable";
    ready.className = "badge bad";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// -- a user's sessions, and logging them out everywhere -----------------------------------------

let shownUser = null;

async function lookUp(user) {
  const result = document.getElementById("user-result");
  const table = document.getElementById("user-sessions");
  const logout = document.getElementById("logout");
  const response = await fetch("/api/user?id=" + encodeURIComponent(user), { cache: "no-store" });
  const data = await response.json();
  if (!response.ok) {
    result.textContent = data.error || `HTTP ${response.status}`;
    table.hidden = logout.hidden = true;
    return;
  }
  shownUser = user;
  result.textContent = "";
  const count = document.createElement("span");
  count.id = "user-count";
  count.textContent = String(data.total);
  result.append(count, data.total === 1 ? " session" : " sessions");
  fillTable("user-sessions", data.sessions, "no live sessions", (tr, s) => {
    cell(tr, s.session);
    cell(tr, String(s.seconds_left), null, true);
  });
  table.hidden = false;
  logout.hidden = data.total === 0;
}

async function logOut() {
  if (shownUser === null) return;
  if (!window.confirm(`Log this user out everywhere (every session of theirs)?`)) return;
  const response = await fetch("/api/user/logout", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: shownUser }),
  });
  const data = await response.json();
  const user = shownUser;
  await lookUp(user);
  const note = document.createElement("p");
  note.id = "logout-result";
  note.className = "small";
  note.textContent = response.ok ? `Logged out: ${data.destroyed} destroyed.` : data.error;
  document.getElementById("logout-result")?.remove();
  document.getElementById("user-result").after(note);
}

document.getElementById("user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  document.getElementById("logout-result")?.remove();
  const user = document.getElementById("user-id").value.trim();
  if (user) lookUp(user);
});
document.getElementById("logout").addEventListener("click", logOut);
poll();
