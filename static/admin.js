// asgi-mmo admin dashboard: polls the admin API, draws the tables and small canvas charts.
// Everything the server sends is shown with textContent, never parsed as HTML.

import { tableCell } from "./pages.js";

const API = document.body.dataset.api || "/admin/api";
const ROOT = API.replace(/\/admin\/api$/, ""); // the app's root path (pages: /watch/, /replay/)
const TOKEN_KEY = "asgi-mmo-admin-token";
const POLL_MS = 1500;
const HISTORY_MS = 5 * 60 * 1000; // the charts cover the last five minutes
const OUTBOX_FRAMES = Number(document.body.dataset.outbox) || 32; // a full outbox: the player is behind

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  timer: 0,
  running: false,
  inFlight: false,
  again: false,
  selected: null, // the room id shown in the room panel
  totals: [], // [{t, players, bots, p50, p99}]
  rooms: new Map(), // room id -> {seen, samples: [{t, players, bots, p50, p99}]}
  previous: null, // {t, counters: room id -> {msgs, bytes}} of the last poll, for rates
};

// ---- the API --------------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
    cache: "no-store",
  });
  if (response.status === 401) throw new Unauthorized("the server refused the token");
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.status === 204 ? true : response.json();
}

// ---- signing in and out ---------------------------------------------------------------

function showLogin(message) {
  stop();
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  setStatus("off", "signed out");
  $("token").focus();
}

async function signIn(token) {
  state.token = token;
  try {
    await api("/rooms");
  } catch (error) {
    state.token = null;
    const message = error instanceof Unauthorized
      ? "That token was refused."
      : "The server cannot be reached right now.";
    $("login-error").textContent = message;
    $("login-error").hidden = false;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  start();
}

function start() {
  state.running = true;
  poll();
}

function stop() {
  state.running = false;
  clearTimeout(state.timer);
}

// ---- polling ----------------------------------------------------------------------------

// One poll at a time: asking for one while another is on its way runs it right after.
async function poll() {
  if (!state.running) return;
  if (state.inFlight) {
    state.again = true;
    return;
  }
  clearTimeout(state.timer);
  state.inFlight = true;
  try {
    const list = await api("/rooms");
    const recordings = await api("/recordings");
    state.recordings = recordings ? recordings.recordings : [];
    const selected = state.selected;
    const detail = selected ? await api(`/rooms/${encodeURIComponent(selected)}`) : null;
    if (state.running) update(list.rooms, selected === state.selected ? detail : undefined);
    setStatus("ok", `live · updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (error instanceof Unauthorized) {
      showLogin("The server refused the token (did it restart with a new one?).");
    } else {
      setStatus("bad", "server unreachable, retrying");
    }
  } finally {
    state.inFlight = false;
  }
  if (!state.running) return;
  if (state.again) {
    state.again = false;
    poll();
  } else {
    state.timer = setTimeout(poll, POLL_MS);
  }
}

function update(rooms, detail) {
  const now = Date.now();
  const totals = {
    t: now,
    players: sum(rooms, (r) => r.players),
    bots: sum(rooms, (r) => r.bots),
    p50: Math.max(0, ...rooms.map((r) => r.tick_ms.p50)),
    p99: Math.max(0, ...rooms.map((r) => r.tick_ms.p99)),
  };
  pushSample(state.totals, totals, now);
  for (const room of rooms) {
    const entry = state.rooms.get(room.id) || { samples: [] };
    entry.seen = now;
    pushSample(entry.samples, {
      t: now, players: room.players, bots: room.bots, p50: room.tick_ms.p50, p99: room.tick_ms.p99,
    }, now);
    state.rooms.set(room.id, entry);
  }
  for (const [id, entry] of state.rooms) {
    if (now - entry.seen > HISTORY_MS) state.rooms.delete(id);
  }

  // Rates from each room's own change since the last poll: a room that closed (or
  // appeared) in between counts nothing, so a vanished room's counters never make
  // the rate negative or turn it into a running total.
  const counters = new Map(rooms.map((r) => [r.id, { msgs: r.msgs_out, bytes: r.bytes_out }]));
  const previous = state.previous;
  const seconds = previous ? (now - previous.t) / 1000 : 0;
  let sentMsgs = 0;
  let sentBytes = 0;
  if (previous) {
    for (const [id, count] of counters) {
      const before = previous.counters.get(id);
      if (!before) continue;
      sentMsgs += Math.max(0, count.msgs - before.msgs);
      sentBytes += Math.max(0, count.bytes - before.bytes);
    }
  }
  state.previous = { t: now, counters };

  $("t-rooms").textContent = formatInt(rooms.length);
  $("t-players").textContent = formatInt(totals.players);
  $("t-bots").textContent = formatInt(totals.bots);
  $("t-p99").textContent = rooms.length ? `${formatMs(totals.p99)} ms` : "–";
  $("t-overruns").textContent = formatInt(sum(rooms, (r) => r.overruns));
  const rated = seconds > 0;
  $("t-msgs").textContent = rated ? `${formatInt(Math.round(sentMsgs / seconds))}/s` : "–";
  $("t-bytes").textContent = rated ? `${formatBytes(sentBytes / seconds)}/s` : "–";

  drawChart($("chart-players"), state.totals, [
    { key: "players", color: COLORS.a, fill: true },
    { key: "bots", color: COLORS.b },
  ], { integer: true });
  drawChart($("chart-ticks"), state.totals, [
    { key: "p50", color: COLORS.a, fill: true },
    { key: "p99", color: COLORS.c },
  ], { unit: "ms" });

  renderRooms(rooms);
  if (detail === undefined) {
    // the selection changed while this poll was on its way: the next poll shows the new room
  } else if (state.selected && detail === null) {
    toast(`Room ${state.selected} is gone.`);
    select(null);
  } else if (detail) {
    renderRoom(detail);
  }
}

function pushSample(samples, sample, now) {
  samples.push(sample);
  while (samples.length && now - samples[0].t > HISTORY_MS) samples.shift();
}

// ---- the rooms table ----------------------------------------------------------------------

function renderRooms(rooms) {
  const sorted = [...rooms].sort((a, b) => b.players - a.players || a.created_at - b.created_at);
  const body = $("rooms-body");
  const rows = sorted.map((room) => {
    const row = document.createElement("tr");
    row.dataset.room = room.id;
    row.className = "clickable";
    row.title = "Show this room's details";
    if (room.id === state.selected) row.classList.add("selected");
    // A click anywhere on the row opens the room (its buttons do their own thing).
    row.addEventListener("click", (event) => {
      if (!(event.target instanceof Element) || !event.target.closest("button")) select(room.id);
    });
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = room.id;
    open.title = "Show this room's players";
    open.addEventListener("click", () => select(room.id));
    const idCell = tableCell(open);
    if (room.private) idCell.append(badge("private"));
    row.append(
      idCell,
      tableCell(room.game),
      tableCell(`${formatInt(room.players)} / ${formatInt(room.max_players)}` +
        (room.spectators ? ` +${formatInt(room.spectators)} watching` : ""), "num"),
      tableCell(formatInt(room.bots), "num"),
      tableCell(`${room.tick_rate} Hz`, "num"),
      tableCell(formatInt(room.tick), "num"),
      tableCell(formatMs(room.tick_ms.p50), "num"),
      tableCell(formatMs(room.tick_ms.p99), "num" + (room.tick_ms.p99 * room.tick_rate > 500 ? " warn" : "")),
      tableCell(formatInt(room.overruns), "num" + (room.overruns > 0 ? " warn" : "")),
      tableCell(formatInt(room.msgs_in), "num"),
      tableCell(formatInt(room.msgs_out), "num"),
      tableCell(formatBytes(room.bytes_out), "num"),
      tableCell(room.worker, "mono small"),
      tableCell(roomActions(room.id)),
    );
    return row;
  });
  body.replaceChildren(...rows);
  renderRecordings(state.recordings || []);
  $("rooms-empty").hidden = rooms.length > 0;
  const hidden = rooms.filter((r) => r.private).length;
  $("rooms-note").textContent = rooms.length
    ? `${rooms.length} room${rooms.length === 1 ? "" : "s"}${hidden ? `, ${hidden} private` : ""}`
    : "";
}

// ---- watching and recording (docs/spectators-and-replays.md) ----------------------------

function actionButton(text, className, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `btn btn-small ${className}`;
  button.textContent = text;
  button.addEventListener("click", onClick);
  return button;
}

/** The room's buttons: Watch (a live view, no seat), Record / Stop recording, Close. */
function roomActions(roomId) {
  const cell = document.createElement("span");
  cell.className = "actions";
  const recording = (state.recordings || []).find((r) => r.room === roomId && r.state === "recording");
  const watch = actionButton("Watch", "btn-ghost", () => window.open(`${ROOT}/watch/${encodeURIComponent(roomId)}`, "_blank", "noopener"));
  watch.dataset.action = "watch";
  const record = recording
    ? actionButton("Stop recording", "btn-secondary", () => recordRoom(roomId, "DELETE"))
    : actionButton("Record", "btn-ghost", () => recordRoom(roomId, "POST"));
  record.dataset.action = "record";
  cell.append(watch, " ", record, " ", closeButton(roomId));
  return cell;
}

async function recordRoom(roomId, method) {
  try {
    const answer = await api(`/rooms/${encodeURIComponent(roomId)}/recording`, { method });
    toast(!answer ? `Room ${roomId} is gone.` : method === "POST" ? `Recording room ${roomId}.` : `Recording of ${roomId} stopped.`);
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("The server refused the token.");
    toast(`Could not ${method === "POST" ? "record" : "stop recording"} room ${roomId}: ${error.message}`);
  }
  poll();
}

let recordingsKey = "";

function renderRecordings(recordings) {
  const body = $("recordings-body");
  const key = JSON.stringify(recordings.map((r) => [r.id, r.state, r.reason, r.bytes, r.last_tick]));
  if (!body || key === recordingsKey) return; // unchanged: its links stay put under the pointer
  recordingsKey = key;
  body.replaceChildren(...recordings.map((r) => {
    const row = document.createElement("tr");
    const replay = document.createElement("a");
    replay.href = `${ROOT}/replay/${encodeURIComponent(r.id)}`;
    replay.target = "_blank";
    replay.rel = "opener"; // (a page of this origin) so the new tab gets this tab's sessionStorage: the token
    replay.textContent = "Replay";
    const remove = actionButton("Delete", "btn-danger", () => deleteRecording(r.id));
    const state = r.state === "recording" ? "recording" : `${r.state}${r.reason ? ` (${r.reason})` : ""}`;
    row.append(
      tableCell(r.id, "mono small"),
      tableCell(r.room, "mono small"),
      tableCell(new Date(r.started * 1000).toLocaleString()),
      tableCell(state),
      tableCell(`${formatInt(r.first_tick ?? 0)}–${formatInt(r.last_tick ?? 0)}`, "num"),
      tableCell(formatBytes(r.bytes), "num"),
      tableCell(replay),
      tableCell(remove),
    );
    return row;
  }));
  $("recordings-empty").hidden = recordings.length > 0;
}

async function deleteRecording(id) {
  if (!window.confirm(`Delete recording ${id}?`)) return;
  try {
    await api(`/recordings/${encodeURIComponent(id)}`, { method: "DELETE" });
    toast(`Recording ${id} deleted.`);
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("The server refused the token.");
    toast(`Could not delete recording ${id}: ${error.message}`);
  }
  poll();
}

function closeButton(roomId) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-danger btn-small";
  button.textContent = "Close";
  button.addEventListener("click", () => closeRoom(roomId));
  return button;
}

async function closeRoom(roomId) {
  if (!window.confirm(`Close room ${roomId}? Its players are disconnected (room_closed).`)) return;
  try {
    const closed = await api(`/rooms/${encodeURIComponent(roomId)}`, { method: "DELETE" });
    toast(closed ? `Room ${roomId} closed.` : `Room ${roomId} was already gone.`);
    if (state.selected === roomId) select(null);
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("The server refused the token.");
    toast(`Could not close room ${roomId}: ${error.message}`);
  }
  poll();
}

// ---- one room ---------------------------------------------------------------------------

function select(roomId) {
  state.selected = roomId;
  $("room-panel").hidden = !roomId;
  for (const row of $("rooms-body").children) {
    row.classList.toggle("selected", row.dataset.room === roomId);
  }
  if (roomId) {
    $("room-id").textContent = roomId;
    $("room-meta").textContent = "loading…";
    $("players-body").replaceChildren();
    $("room-panel").scrollIntoView({ block: "nearest" });
    poll();
  }
}

function renderRoom(room) {
  $("room-id").textContent = room.id;
  $("room-meta").textContent =
    `${room.game} · ${room.width}×${room.height} · ${room.tick_rate} Hz · tick ${formatInt(room.tick)}` +
    ` · ${room.private ? "private" : "public"} · created ${new Date(room.created_at * 1000).toLocaleTimeString()}`;
  const samples = state.rooms.get(room.id)?.samples || [];
  drawChart($("chart-room-players"), samples, [
    { key: "players", color: COLORS.a, fill: true },
    { key: "bots", color: COLORS.b },
  ], { integer: true });
  drawChart($("chart-room-ticks"), samples, [
    { key: "p50", color: COLORS.a, fill: true },
    { key: "p99", color: COLORS.c },
  ], { unit: "ms" });

  const players = [...room.players].sort((a, b) => a.bot - b.bot || b.score - a.score);
  $("players-body").replaceChildren(...players.map((p) => {
    const row = document.createElement("tr");
    const connected = p.bot ? "–" : (p.away ?? !(p.connected_s > 0)) ? "away" : formatDuration(p.connected_s);
    row.append(
      tableCell(p.name, "name"),
      tableCell(p.id, "mono small"),
      tableCell(badge(p.bot ? "bot" : "human", p.bot ? "badge-bot" : "badge-human")),
      tableCell(formatInt(p.score ?? 0), "num"),
      tableCell(p.alive ? "yes" : "no", p.alive ? "ok" : "muted"),
      tableCell(connected, "num" + (connected === "away" ? " muted" : "")),
      tableCell(p.latency_ms == null ? "–" : formatMs(p.latency_ms), "num"),
      tableCell(queueMeter(p.queue), "num"),
    );
    return row;
  }));
  $("players-empty").hidden = room.players.length > 0;
}

function queueMeter(depth) {
  const wrap = document.createElement("span");
  wrap.className = "queue";
  const bar = document.createElement("span");
  bar.className = "queue-bar" + (depth >= OUTBOX_FRAMES / 2 ? " warn" : "");
  bar.style.width = `${Math.min(100, (depth / OUTBOX_FRAMES) * 100)}%`;
  const meter = document.createElement("span");
  meter.className = "queue-meter";
  meter.append(bar);
  const text = document.createElement("span");
  text.textContent = formatInt(depth);
  wrap.append(meter, text);
  return wrap;
}

// ---- charts: hand-drawn on a canvas -----------------------------------------------------

const COLORS = { a: "#2ee6a8", b: "#8b6cff", c: "#ffb84d", grid: "rgba(148,170,255,0.14)", text: "#8893b4" };

function drawChart(canvas, samples, series, { unit = "", integer = false } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const pad = { left: 44, right: 10, top: 8, bottom: 20 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const now = Date.now();
  const t0 = now - HISTORY_MS;
  let top = 0;
  for (const s of samples) for (const { key } of series) top = Math.max(top, s[key]);
  const max = niceCeiling(top, integer);
  const x = (t) => pad.left + ((t - t0) / HISTORY_MS) * plotW;
  const y = (v) => pad.top + plotH - (v / max) * plotH;

  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const value = (max * i) / 4;
    const gy = Math.round(y(value)) + 0.5;
    ctx.strokeStyle = COLORS.grid;
    ctx.beginPath();
    ctx.moveTo(pad.left, gy);
    ctx.lineTo(width - pad.right, gy);
    ctx.stroke();
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = "right";
    ctx.fillText(formatAxis(value, integer), pad.left - 6, gy);
  }
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left";
  ctx.fillText("−5 min", pad.left, height - 4);
  ctx.textAlign = "center";
  ctx.fillText("−2.5", pad.left + plotW / 2, height - 4);
  ctx.textAlign = "right";
  ctx.fillText(unit ? `now · ${unit}` : "now", width - pad.right, height - 4);

  if (samples.length === 0) {
    ctx.textAlign = "center";
    ctx.fillText("waiting for data…", pad.left + plotW / 2, pad.top + plotH / 2);
    return;
  }
  for (const { key, color, fill } of series) {
    ctx.beginPath();
    samples.forEach((s, i) => {
      const px = x(s.t);
      const py = y(s[key]);
      if (i === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    });
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.75;
    ctx.lineJoin = "round";
    ctx.stroke();
    if (fill && samples.length > 1) {
      ctx.lineTo(x(samples[samples.length - 1].t), y(0));
      ctx.lineTo(x(samples[0].t), y(0));
      ctx.closePath();
      const gradient = ctx.createLinearGradient(0, pad.top, 0, pad.top + plotH);
      gradient.addColorStop(0, hexAlpha(color, 0.28));
      gradient.addColorStop(1, hexAlpha(color, 0.02));
      ctx.fillStyle = gradient;
      ctx.fill();
    }
    const last = samples[samples.length - 1];
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(x(last.t), y(last[key]), 2.5, 0, Math.PI * 2);
    ctx.fill();
  }
}

// The top of the y axis: four gridline steps of 1, 2, 2.5 or 5 times a power of ten.
function niceCeiling(value, integer) {
  const quarter = value > 0 ? value / 4 : integer ? 1 : 0.25;
  const magnitude = 10 ** Math.floor(Math.log10(quarter));
  let step = 10 * magnitude;
  for (const factor of [1, 2, 2.5, 5]) {
    if (factor * magnitude >= quarter) {
      step = factor * magnitude;
      break;
    }
  }
  if (integer) step = Math.max(1, Math.ceil(step));
  return step * 4;
}

function hexAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

// ---- small helpers ------------------------------------------------------------------------

function badge(text, className = "") {
  const span = document.createElement("span");
  span.className = `badge ${className}`.trim();
  span.textContent = text;
  return span;
}

function sum(items, pick) {
  return items.reduce((total, item) => total + pick(item), 0);
}

const integerFormat = new Intl.NumberFormat();
function formatInt(value) {
  return integerFormat.format(value);
}

function formatMs(value) {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function formatAxis(value, integer) {
  if (integer) return formatInt(Math.round(value));
  return String(Number(value.toFixed(3)));
}

function formatBytes(value) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

function formatDuration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function setStatus(kind, text) {
  $("status-dot").className = `dot dot-${kind}`;
  $("status-text").textContent = text;
}

let toastTimer = 0;
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
}

// ---- wiring -------------------------------------------------------------------------------

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  if (token) signIn(token);
});
$("sign-out").addEventListener("click", () => showLogin(""));
$("room-close").addEventListener("click", () => state.selected && closeRoom(state.selected));
$("room-deselect").addEventListener("click", () => select(null));
window.addEventListener("resize", () => {
  drawChart($("chart-players"), state.totals, [
    { key: "players", color: COLORS.a, fill: true }, { key: "bots", color: COLORS.b }], { integer: true });
  drawChart($("chart-ticks"), state.totals, [
    { key: "p50", color: COLORS.a, fill: true }, { key: "p99", color: COLORS.c }], { unit: "ms" });
});

if (state.token) signIn(state.token);
else showLogin("");
