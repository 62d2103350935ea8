// callctl dashboard: today's summary from /v1/dashboard/summary, the lines' counters from
// /v1/dashboard/lines, then live updates from the Server-Sent Events stream /v1/stream.
// No build step, no library. The protocol is described in docs/dashboard.md.
"use strict";

const TOKEN_KEY = "callctl.token";
const RECENT = 20;
const state = {
  summary: null, live: new Map(), seen: new Set(), refusals: new Map(),
  emergency: new Map(), records: new Map(), source: null, linesTimer: null, hourOf: null,
};

// ------------------------------------------------------------------ token and requests

function token() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {  // keep it for this tab, out of the address bar and the history
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function getJson(path) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const resp = await fetch(path, { headers, cache: "no-store" });
  if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
  return resp.json();
}

// ------------------------------------------------------------------ formatting

const ten4 = (amount) => Math.round(parseFloat(amount || "0") * 10000);
const euros = (t4) => "€" + (t4 / 10000).toFixed(2);
const el = (id) => document.getElementById(id);

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString("en-GB", { timeZone: state.summary?.timezone });
}

function seconds(s) {
  if (s == null) return "—";
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min ${s % 60} s`;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text == null ? "—" : String(text);
  if (cls) td.className = cls;
  return td;
}

function setStatus(text, stateName) {
  const s = el("status");
  s.textContent = text;
  s.dataset.state = stateName;
}

// ------------------------------------------------------------------ the summary

function applySummary(summary) {
  state.summary = summary;
  state.hourOf = new Intl.DateTimeFormat("en-GB", { timeZone: summary.timezone, hour: "numeric", hourCycle: "h23" });
  state.seen = new Set(summary.latest);
  state.totals = { ...summary.totals, amount: ten4(summary.totals.amount) };
  state.hours = summary.by_hour.map((h) => ({ calls: h.calls, amount: ten4(h.amount) }));
  state.groups = new Map(Object.entries(summary.by_group).map(([g, b]) => [g, { calls: b.calls, amount: ten4(b.amount) }]));
  state.refusals = new Map(summary.refusals.map((r) => [r.call, r]));
  state.emergency = new Map(summary.emergency.map((r) => [r.call, r]));
  state.records = new Map(summary.records.map((r) => [r.call, r]));
  state.live = new Map(summary.live.map((c) => [c.call, c]));
  for (const r of summary.records) state.seen.add(r.call);
  el("day").textContent = `${summary.day} (${summary.timezone})`;
  renderAll();
}

function isToday(iso) {
  const day = new Date(iso).toLocaleDateString("en-CA", { timeZone: state.summary.timezone });
  return day === state.summary.day;
}

function addRecord(r) {
  if (state.seen.has(r.call)) return;  // already counted by the summary
  state.seen.add(r.call);
  state.records.set(r.call, r);
  if (r.action === "refuse") state.refusals.set(r.call, r);
  if (r.group === "emergency") state.emergency.set(r.call, r);
  if (isToday(r.decided_at)) {
    const t = state.totals, amount = ten4(r.amount);
    t.calls += 1; t.amount += amount;
    t.answered += r.disposition === "ANSWERED" ? 1 : 0;
    t.refused += r.action === "refuse" ? 1 : 0;
    t.emergency += r.group === "emergency" ? 1 : 0;
    const h = state.hours[parseInt(state.hourOf.format(new Date(r.decided_at)), 10)];
    h.calls += 1; h.amount += amount;
    const g = state.groups.get(r.group) || { calls: 0, amount: 0 };
    g.calls += 1; g.amount += amount;
    state.groups.set(r.group, g);
  }
  scheduleLines();
}

// ------------------------------------------------------------------ rendering

function renderAll() {
  renderTotals(); renderLive(); renderCharts(); renderLists();
}

function renderTotals() {
  const t = state.totals;
  el("t-calls").textContent = t.calls;
  el("t-answered").textContent = t.answered;
  el("t-refused").textContent = t.refused;
  el("t-emergency").textContent = t.emergency;
  el("t-amount").textContent = euros(t.amount);
  el("t-live").textContent = state.live.size;
}

function renderLive() {
  const body = el("live").tBodies[0];
  body.replaceChildren();
  for (const c of state.live.values()) {
    const row = body.insertRow();
    row.dataset.call = c.call;
    cell(row, timeOf(c.decided_at));
    cell(row, c.line); cell(row, c.dialled); cell(row, c.group); cell(row, c.trunk);
    cell(row, c.limit_seconds == null ? "none" : seconds(c.limit_seconds));
    cell(row, "", "duration").dataset.since = c.at ? String(c.at * 1000) : String(Date.now());
  }
  el("live-empty").hidden = state.live.size > 0;
  el("t-live").textContent = state.live.size;
  tick();
}

function tick() {
  for (const td of document.querySelectorAll("#live td.duration")) {
    td.textContent = seconds(Math.max(0, Math.round((Date.now() - Number(td.dataset.since)) / 1000)));
  }
}

function recentRows(tableId, items, columns) {
  const body = el(tableId).tBodies[0];
  body.replaceChildren();
  const list = [...items.values()].slice(-RECENT).reverse();
  for (const item of list) {
    const row = body.insertRow();
    row.dataset.call = item.call;
    for (const col of columns) col(row, item);
  }
  return list.length;
}

function trustBadge(row, r) {
  const trust = r.location_trusted == null ? (r.location || "unknown") : (r.location_trusted ? "trusted" : "untrusted");
  const span = document.createElement("span");
  span.className = "badge " + trust;
  span.textContent = trust + (r.location_source ? ` (${r.location_source})` : "");
  row.insertCell().append(span);
}

function renderLists() {
  recentRows("refusals", state.refusals, [
    (row, r) => cell(row, timeOf(r.decided_at)), (row, r) => cell(row, r.line),
    (row, r) => cell(row, r.dialled), (row, r) => cell(row, r.sip_code),
    (row, r) => cell(row, r.reason, "reason"),
  ]);
  recentRows("emergency", state.emergency, [
    (row, r) => cell(row, timeOf(r.decided_at)), (row, r) => cell(row, r.line),
    (row, r) => cell(row, r.dialled), (row, r) => cell(row, r.target || r.trunk), trustBadge,
  ]);
  recentRows("records", state.records, [
    (row, r) => cell(row, timeOf(r.decided_at)), (row, r) => cell(row, r.line),
    (row, r) => cell(row, r.dialled), (row, r) => cell(row, r.group),
    (row, r) => cell(row, r.disposition), (row, r) => cell(row, r.billsec),
    (row, r) => cell(row, "€" + r.amount),
  ]);
}

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

// Paired bars (calls, cost) for labelled buckets, each series scaled to its own maximum.
function barChart(svg, buckets) {
  svg.replaceChildren();
  const width = 480, top = 8, bottom = 150, left = 4;
  const step = Math.min((width - left) / Math.max(buckets.length, 1), 80);
  const maxCalls = Math.max(1, ...buckets.map((b) => b.calls));
  const maxCost = Math.max(1, ...buckets.map((b) => b.amount));
  buckets.forEach((b, i) => {
    const x = left + i * step, w = Math.max(step / 2 - 1, 1);
    const hc = (bottom - top) * b.calls / maxCalls, ha = (bottom - top) * b.amount / maxCost;
    const bar = (cls, dx, h, title) => {
      const r = svgEl("rect", { x: x + dx, y: bottom - h, width: w, height: h, class: cls });
      r.append(svgEl("title", {}, title));
      svg.append(r);
    };
    bar("calls", 0, hc, `${b.label}: ${b.calls} calls`);
    bar("cost", w, ha, `${b.label}: ${euros(b.amount)}`);
    if (b.show) svg.append(svgEl("text", { x: x + step / 2, y: bottom + 14, "text-anchor": "middle" }, b.label));
  });
  svg.append(svgEl("line", { x1: 0, x2: width, y1: bottom, y2: bottom, stroke: "#9ca3af" }));
  svg.append(svgEl("text", { x: width - 2, y: 176, "text-anchor": "end" },
    `max ${maxCalls} calls · ${euros(maxCost)}`));
}

function renderCharts() {
  barChart(el("chart-hours"), state.hours.map((h, i) => ({ ...h, label: String(i).padStart(2, "0"), show: i % 3 === 0 })));
  const groups = [...state.groups.entries()].sort((a, b) => b[1].calls - a[1].calls);
  barChart(el("chart-groups"), groups.map(([g, b]) => ({ ...b, label: g, show: true })));
}

function gauge(used, limit) {
  const box = document.createElement("div");
  if (limit == null) { box.textContent = "—"; return box; }
  const share = Math.min(used / limit, 1);
  box.className = "gauge" + (share >= 1 ? " full" : share >= 0.8 ? " high" : "");
  const bar = document.createElement("span");
  bar.style.width = (share * 100).toFixed(1) + "%";
  const label = document.createElement("em");
  label.textContent = `${Math.round(used / 60)} / ${Math.round(limit / 60)} min`;
  box.append(bar, label);
  box.title = `${used} of ${limit} seconds`;
  return box;
}

function renderLines(data) {
  el("period").textContent = data.period;
  const body = el("lines").tBodies[0];
  body.replaceChildren();
  for (const l of data.lines) {
    const row = body.insertRow();
    row.dataset.line = l.number;
    cell(row, l.number);
    cell(row, [l.product, ...l.options].join(" + "));
    row.insertCell().append(gauge(l.bundle_seconds, l.bundle_limit));
    row.insertCell().append(gauge(l.fair_use_seconds, l.fair_use_limit));
    const flag = row.insertCell();
    if (l.paused) { const b = document.createElement("span"); b.className = "badge paused"; b.textContent = "paused"; flag.append(b); }
  }
}

async function refreshLines() {
  state.linesTimer = null;
  try { renderLines(await getJson("/v1/dashboard/lines")); } catch (err) { console.warn(err); }
}

function scheduleLines() {
  if (state.linesTimer == null) state.linesTimer = setTimeout(refreshLines, 2000);
}

// ------------------------------------------------------------------ the stream

function streamUrl(after) {
  const params = new URLSearchParams({ after: String(after) });
  const t = token();
  if (t) params.set("token", t);  // EventSource cannot send an Authorization header
  return "/v1/stream?" + params;
}

const handlers = {
  hello(data) {
    state.live = new Map(data.live.map((c) => [c.call, c]));
    renderLive();
  },
  reset() { start(); },  // the position is gone: reload from the database
  "call.decided"(data) { state.live.set(data.call, data); renderLive(); },
  "call.ended"(data) { state.live.delete(data.call); renderLive(); },
  "call.cancelled"(data) { state.live.delete(data.call); renderLive(); },
  "call.refused"(data) { state.refusals.set(data.call, data); renderLists(); },
  record(data) { addRecord(data); renderTotals(); renderCharts(); renderLists(); },
};

function connect(after) {
  if (state.source) state.source.close();
  const source = new EventSource(streamUrl(after));
  state.source = source;
  source.onopen = () => setStatus("live", "live");
  source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting", "error");
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (ev) => {
      if (source !== state.source) return;
      el("position").textContent = "#" + ev.lastEventId;
      handle(JSON.parse(ev.data));
    });
  }
}

async function start() {
  if (state.source) { state.source.close(); state.source = null; }
  setStatus("loading", "connecting");
  try {
    const summary = await getJson("/v1/dashboard/summary");
    applySummary(summary);
    connect(summary.stream_after);
    refreshLines();
  } catch (err) {
    console.error(err);
    setStatus("error: " + err.message, "error");
    setTimeout(start, 5000);
  }
}

setInterval(tick, 1000);
start();
