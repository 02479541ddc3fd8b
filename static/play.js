// The game page: glue between MmoClient (protocol) and the room's game
// module, `static/games/<game>.js` (its delta, its view and controls, its
// texts; the interface is in docs/client.md, "Game modules"), which the page
// names in `data-game-module`. All player-made text goes into the page as
// textContent.
//
// Seats: the token of this tab's seat is kept in sessionStorage per room, so
// a reload resumes the same seat. After a reconnect the server may no longer
// know the seat (the process restarted): on `bad_token` the page joins the
// same room afresh; on `room_not_found` it quick-joins the same game under the
// same name and rewrites the address to the room it landed in.

import { MmoClient } from "./mmo-client.js";
import { getJson, peopleCount, textElement as el } from "./pages.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const stage = $("stage");
const canvas = $("game");

const QUICK = app.dataset.quick === "true";
const PLAY_PATH = app.dataset.playPath; // ".../play/ROOM"
const NAME_KEY = "asgi-mmo:name";
const SEAT_PREFIX = "asgi-mmo:seat:";
const RELEASED_PREFIX = "asgi-mmo:released-seat:";
const RELEASED_SEAT_MS = 25_000; // under the server's seat_seconds (30 s by default)

const query = new URLSearchParams(location.search);
const GAME = app.dataset.game; // the room's game, or the quick join's
let name = query.get("name");
let room = QUICK ? null : app.dataset.room;

const ERROR_WORDS = {
  room_full: "This room is full.",
  room_not_found: "This room doesn't exist (any more).",
  bad_name: "That name can't be used: 1 to 16 letters, digits, spaces, _ - or .",
  room_closed: "This room was closed.",
  server_shutdown: "The server is restarting. Reconnecting…",
  bad_token: "Your seat has expired. Joining again…",
  too_slow: "The connection was too slow. Reconnecting…",
  flood: "Too many messages. Reconnecting…",
  rate_limited: "Slow down a little!",
  too_big: "A message was too big for the server.",
  bad_message: "The server didn't understand a message.",
  replaced: "This seat is being played in another tab or window.",
  unauthorized: "This server let you in only with a valid sign-in. Open the game from your site again.",
};

// ---- storage (may be unavailable: private modes, sandboxed frames) -----
function store(kind) {
  try {
    const s = window[kind];
    s.getItem("x");
    return s;
  } catch {
    return null;
  }
}
const local = store("localStorage");
const session = store("sessionStorage");

function loadSeat(r) {
  if (!r || !session) return null;
  try {
    return JSON.parse(session.getItem(SEAT_PREFIX + r) || "null");
  } catch {
    return null;
  }
}
function saveSeat(r, seat) {
  if (r && session) session.setItem(SEAT_PREFIX + r, JSON.stringify(seat));
}
function dropSeat(r) {
  if (r && session) session.removeItem(SEAT_PREFIX + r);
  if (r && local) local.removeItem(RELEASED_PREFIX + r);
}

// A tab that goes away (closed, reloaded, navigated off) leaves its seat in
// localStorage for a while; the next tab that opens this room without a seat of
// its own takes it (once), so closing the tab and opening the link again resumes
// the same player instead of seating a second one beside the kept seat.
function releaseSeat(r, seat) {
  if (r && local && seat.token) local.setItem(RELEASED_PREFIX + r, JSON.stringify({ ...seat, at: Date.now() }));
}
function claimReleasedSeat(r) {
  if (!r || !local) return null;
  let seat = null;
  try {
    seat = JSON.parse(local.getItem(RELEASED_PREFIX + r) || "null");
  } catch {
    seat = null;
  }
  local.removeItem(RELEASED_PREFIX + r);
  if (!seat || !seat.token || !(Date.now() - seat.at < RELEASED_SEAT_MS)) return null;
  return { token: seat.token, seq: seat.seq };
}

// ---- the game module, the client and the view ----------------------------
const MODULE_PARTS = { applyDelta: "function", createView: "function", players: "function", texts: "object" };

/** The game's browser module, checked against the interface (docs/client.md, "Game modules"). */
async function loadGame(url) {
  const module = await import(url);
  const missing = Object.entries(MODULE_PARTS).filter(([part, type]) => typeof module[part] !== type);
  if (missing.length) throw new TypeError(`${url} lacks ${missing.map(([part]) => part).join(", ")}`);
  return module;
}

let game;
try {
  game = await loadGame(app.dataset.gameModule);
} catch (err) {
  $("conn-text").textContent = "offline";
  $("conn").dataset.status = "closed";
  $("banner-text").textContent = `This page can't show the game "${GAME}".`;
  $("banner-lobby").hidden = false;
  $("banner").hidden = false;
  throw err;
}

const client = new MmoClient({ applyDelta: game.applyDelta, readState: game.readState });
const view = game.createView(canvas, {
  client,
  touchArea: stage,
  onInputSent: () => saveSeat(client.room, { token: client.token, seq: client.seq }),
  onFirstTouch: () => ($("touch-hint").hidden = true),
});
window.__mmo = { client, view, game }; // for the console and tests

showTexts(game.texts);

let welcomed = false; // this page has played at least once
let joinMode = "room"; // "room" | "fresh" | "quick": how the current attempt joins
let usedToken = false;

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // Player authorization (docs/auth.md): a page opened with ?auth=<token> hands the token to the socket.
  const auth = query.get("auth");
  return `${scheme}//${location.host}${app.dataset.wsPath}${auth ? `?auth=${encodeURIComponent(auth)}` : ""}`;
}

function playUrl(r) {
  const path = r ? PLAY_PATH.replace(/ROOM$/, encodeURIComponent(r)) : location.pathname;
  const q = new URLSearchParams(location.search);
  if (name) q.set("name", name);
  return `${path}?${q.toString()}`;
}

function join(mode = "room") {
  joinMode = mode;
  const target = mode === "quick" ? null : room;
  let seat = mode === "room" ? loadSeat(target) : null;
  const released = mode === "room" ? claimReleasedSeat(target) : null; // claimed (and dropped) either way
  if (!seat && !welcomed) seat = released;
  usedToken = Boolean(seat && seat.token);
  setRoomLabel(target);
  client.connect({
    url: wsUrl(),
    name,
    room: target,
    game: GAME,
    token: seat ? seat.token : null,
    seq: seat ? seat.seq : null,
    view: () => (app.dataset.view === "true" && view.wantedView ? view.wantedView() : null),
  });
}

// ---- a view room: the field fills the window; its size goes to the server ------------
// The view's size is the cells that cover the canvas at the view's cell size; a resize
// (or a phone turned) asks for the new one once it settles, at most every VIEW_GAP_MS.
const VIEW_SETTLE_MS = 250;
const VIEW_GAP_MS = 500;
let viewTimer = 0;
let viewSentAt = -Infinity;
let viewAsked = null; // "WxH" last asked on this socket

function setViewRoom(viewing) {
  app.dataset.view = String(viewing);
  document.body.classList.toggle("view-room", viewing);
}

function askView() {
  clearTimeout(viewTimer);
  viewTimer = 0;
  const snap = client.snapshot;
  if (app.dataset.view !== "true" || !client.connected || !snap || !snap.view || !view.wantedView) return;
  const wanted = view.wantedView();
  if (!wanted) return;
  const width = Math.min(wanted.width, snap.width);
  const height = Math.min(wanted.height, snap.height);
  const key = `${width}x${height}`;
  if (key === viewAsked || (width === snap.view.width && height === snap.view.height && viewAsked === null)) return;
  const wait = viewSentAt + VIEW_GAP_MS - performance.now();
  if (wait > 0) {
    viewTimer = setTimeout(askView, wait);
    return;
  }
  if (client.sendView(width, height)) {
    viewAsked = key;
    viewSentAt = performance.now();
  }
}

function viewResized() {
  if (app.dataset.view !== "true") return;
  clearTimeout(viewTimer);
  viewTimer = setTimeout(askView, VIEW_SETTLE_MS);
}
window.addEventListener("resize", viewResized);
if (typeof ResizeObserver === "function") new ResizeObserver(viewResized).observe(canvas);
client.addEventListener("minimap", (e) => view.minimap && view.minimap(e.detail));

// ---- client events -----------------------------------------------------
client.addEventListener("status", (e) => {
  const { status, attempt, delay } = e.detail;
  const conn = $("conn");
  conn.dataset.status = status;
  app.dataset.status = status;
  const words = {
    connecting: "connecting",
    open: "online",
    reconnecting: attempt > 1 ? `reconnecting (${attempt})` : "reconnecting",
    closed: "offline",
  };
  $("conn-text").textContent = words[status] || status;
  if (status === "reconnecting" && delay != null && welcomed && $("banner").hidden) {
    showBanner("Connection lost. Reconnecting…", { kind: "info" });
  }
  if (status !== "open") $("ping").textContent = "— ms";
  view.idle = status === "closed";
});

client.addEventListener("welcome", (e) => {
  const msg = e.detail;
  if (msg.game && msg.game !== GAME) {
    // Another game than this page draws (never expected): the room's own page knows it.
    client.close();
    location.replace(playUrl(msg.room));
    return;
  }
  welcomed = true;
  room = msg.room;
  if (name && local) local.setItem(NAME_KEY, name);
  saveSeat(room, { token: msg.token, seq: client.seq });
  history.replaceState(null, "", playUrl(room));
  setRoomLabel(room);
  document.title = `Room ${room} · asgi-mmo`;
  hideBanner();
  $("name-form").hidden = true;
  stopRoomPeople();
  setViewRoom(Boolean(msg.view));
  viewAsked = null;
  view.welcome(msg, client.snapshot);
  setAspect(client.snapshot);
  viewResized(); // the size asked on connecting may not be what fits now
  app.dataset.player = msg.player;
  app.dataset.room = room;
  app.dataset.tick = String(client.tick); // the picture is at the welcome's tick until the next one
  onPicture();
  canvas.focus({ preventScroll: true });
  hintTouch();
});

client.addEventListener("tick", (e) => {
  view.tick(client.snapshot, e.detail);
  app.dataset.tick = String(client.tick);
  onPicture();
});

client.addEventListener("state", () => {
  view.reset(client.snapshot);
  setAspect(client.snapshot);
  app.dataset.tick = String(client.tick);
  onPicture();
});

client.addEventListener("chat", (e) => addChat(e.detail));

client.addEventListener("pong", (e) => {
  $("ping").textContent = `${Math.round(e.detail.rtt)} ms`;
});

client.addEventListener("error", (e) => {
  const { code } = e.detail;
  if (code === "rate_limited") showBanner(ERROR_WORDS.rate_limited, { kind: "info", ttl: 2000 });
  else if (code === "server_shutdown" || code === "too_slow") showBanner(ERROR_WORDS[code], { kind: "info" });
});

client.addEventListener("close", (e) => {
  const { error, reconnect } = e.detail;
  if (reconnect || error === "left") return;
  const resuming = welcomed || usedToken || joinMode === "fresh";
  if (error === "bad_token") {
    dropSeat(room);
    if (joinMode === "room") {
      showBanner(ERROR_WORDS.bad_token, { kind: "info" });
      join("fresh");
      return;
    }
  }
  if (error === "room_not_found") {
    dropSeat(room);
    if (resuming && joinMode !== "quick") {
      showBanner("The room is gone. Finding you a new one…", { kind: "info" });
      join("quick");
      return;
    }
  }
  if (error === "bad_name") {
    askName(ERROR_WORDS.bad_name);
    showBanner(ERROR_WORDS.bad_name, {});
    return;
  }
  if (error === "room_closed") dropSeat(room);
  const words = ERROR_WORDS[error] || `Disconnected (${e.detail.code}${e.detail.reason ? ": " + e.detail.reason : ""}).`;
  showBanner(words, { lobby: true, quick: true });
  $("dead").hidden = true;
});

// ---- score table, death card, start hint -----------------------------------
let scoresKey = "";

function onPicture() {
  const me = view.mine();
  const dead = Boolean(me && !me.alive);
  $("dead").hidden = !dead;
  if (dead) $("dead-score").textContent = String(me.score ?? 0);
  const waiting = Boolean(!dead && view.waiting && view.waiting());
  $("start-hint").hidden = !waiting || !game.texts.startHint;
  if (dead || waiting) $("touch-hint").hidden = true;
  renderScores();
}

/** The module's rows, one per player id (a row seen twice is shown once). */
function scoreRows() {
  const byId = new Map();
  for (const row of game.players(client.snapshot)) byId.set(row.id, row);
  const rows = [...byId.values()];
  rows.sort((a, b) => b.score - a.score || Number(b.alive) - Number(a.alive) || String(a.name).localeCompare(String(b.name)));
  return rows;
}

function renderScores() {
  const rows = scoreRows();
  const key = rows.map((s) => `${s.id}:${s.score}:${s.alive ? 1 : 0}:${s.away ? 1 : 0}`).join("|") + "#" + view.me;
  if (key === scoresKey) return;
  scoresKey = key;
  const items = rows.map((s, i) => {
    const li = document.createElement("li");
    li.dataset.id = s.id;
    const mine = s.id === view.me;
    if (mine) li.classList.add("me");
    if (!s.alive) li.classList.add("dead");
    const away = Boolean(s.away && !mine && !s.bot); // a seat kept for its player: dimmed, not counted
    if (away) li.classList.add("away");
    const rank = el("span", "rank", String(i + 1));
    const swatch = el("span", "swatch", "");
    swatch.style.color = (mine && game.ownColor) || s.color || "#2ee6a8";
    const nm = el("span", "name", s.name || "");
    if (mine) nm.append(" ", el("span", "you", "YOU"));
    else if (s.bot) nm.append(" ", el("span", "bot", "bot"));
    else if (away) nm.append(" ", el("span", "away-tag", "away"));
    const score = el("span", "score", String(s.score ?? 0));
    li.append(rank, swatch, nm, score);
    return li;
  });
  $("scores").replaceChildren(...items);
  $("players-count").textContent = peopleCount(rows, view.me);
  fitScores();
}

// The list shows whole rows only: its height is a whole number of rows, and when
// some do not fit, a "+N more" line under it says so (and scrolls on a click).
let rowHeight = 0;
const PHONE = matchMedia("(max-width: 760px)");
PHONE.addEventListener("change", () => fitScores());
// a turned phone: its plain rooms fold the scores too (style.css), its view rooms do not
const TURNED = matchMedia("(max-height: 500px) and (orientation: landscape)");
TURNED.addEventListener("change", () => fitScores());
const foldable = () => PHONE.matches || (TURNED.matches && !document.body.classList.contains("view-room"));
function fitScores() {
  const list = $("scores");
  const wrap = $("scores-wrap");
  const more = $("scores-more");
  const first = list.firstElementChild;
  if (first && first.offsetHeight) rowHeight = first.offsetHeight;
  const count = list.children.length;
  const folded = $("panel-scores").dataset.open !== "true" && foldable(); // the top 3 and mine show
  if (folded || !rowHeight || !count || !wrap.clientHeight) {
    list.style.maxHeight = "";
    more.hidden = true;
    return;
  }
  const MORE_H = 26; // .scores-more's height in style.css
  const room = wrap.clientHeight + (more.hidden ? 0 : more.offsetHeight); // the list's and the "+N more" line's
  const fitsAll = count * rowHeight <= room;
  const shown = fitsAll ? count : Math.max(1, Math.floor((room - MORE_H) / rowHeight));
  list.style.maxHeight = fitsAll ? "" : `${shown * rowHeight}px`;
  more.hidden = fitsAll;
  updateMore();
}

function updateMore() {
  const list = $("scores");
  const more = $("scores-more");
  if (!rowHeight || list.scrollHeight <= list.clientHeight + 1) {
    more.hidden = true;
    list.classList.remove("has-more");
    return;
  }
  const below = Math.max(0, Math.round((list.scrollHeight - list.scrollTop - list.clientHeight) / rowHeight));
  more.hidden = false;
  more.textContent = below > 0 ? `+${below} more ▾` : "back to the top ▴";
  more.dataset.below = String(below);
  list.classList.toggle("has-more", below > 0);
}

$("scores").addEventListener("scroll", updateMore, { passive: true });
$("scores-more").addEventListener("click", () => {
  const list = $("scores");
  const below = Number($("scores-more").dataset.below || 0);
  list.scrollTo({ top: below > 0 ? list.scrollTop + list.clientHeight : 0, behavior: "smooth" });
});
if (typeof ResizeObserver === "function") new ResizeObserver(() => fitScores()).observe($("scores-wrap"));

// On a phone the score list folds to the top three and the own row (a tap opens it).
$("scores-toggle").addEventListener("click", () => {
  const panel = $("panel-scores");
  const open = panel.dataset.open !== "true";
  panel.dataset.open = String(open);
  $("scores-toggle").setAttribute("aria-expanded", String(open));
  fitScores();
});

function setAspect(snap) {
  if (snap && snap.width && snap.height) {
    const ratio = Math.max(0.6, Math.min(2.2, snap.width / snap.height));
    stage.style.setProperty("--field-aspect", String(ratio));
  }
}

// ---- chat ------------------------------------------------------------------
function addChat({ player, name: who, text }) {
  const log = $("chat-log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 30;
  const li = document.createElement("li");
  const speaker = game.players(client.snapshot).find((s) => s.id === player);
  const whoEl = el("span", "who", who || "?");
  if (speaker && speaker.color) whoEl.style.color = speaker.color;
  li.append(whoEl, el("span", "text", String(text ?? "")));
  log.append(li);
  while (log.children.length > 150) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("chat-input");
  if (client.sendChat(input.value)) input.value = "";
});
$("chat-input").addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    e.target.blur();
    canvas.focus({ preventScroll: true });
  }
});
window.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !(e.target instanceof HTMLInputElement) && !(e.target instanceof HTMLButtonElement)) {
    e.preventDefault();
    $("chat-input").focus();
  }
});

// ---- banner, name form, misc --------------------------------------------
let bannerTimer = 0;
function showBanner(text, { kind = "error", lobby = false, quick = false, ttl = 0 } = {}) {
  clearTimeout(bannerTimer);
  $("banner-text").textContent = text;
  $("banner").classList.toggle("info", kind === "info");
  $("banner").dataset.kind = kind;
  $("banner-lobby").hidden = !lobby;
  $("banner-quick").hidden = !quick;
  $("banner").hidden = false;
  if (ttl) bannerTimer = setTimeout(hideBanner, ttl);
}
function hideBanner() {
  clearTimeout(bannerTimer);
  $("banner").hidden = true;
}
$("banner-quick").addEventListener("click", () => {
  hideBanner();
  dropSeat(room);
  join("quick");
});

function setRoomLabel(r) {
  $("room-id").textContent = r || "…";
  $("copy-link").hidden = !r;
}

function askName(error) {
  const form = $("name-form");
  const input = $("name-input");
  input.value = name || (local && local.getItem(NAME_KEY)) || "";
  $("name-form-error").textContent = error || "";
  $("name-form-error").hidden = !error;
  $("dead").hidden = true;
  form.hidden = false;
  input.focus();
  input.select();
}
$("name-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("name-input").value.trim();
  if (!value) return;
  name = value;
  if (local) local.setItem(NAME_KEY, name);
  $("name-form").hidden = true;
  hideBanner();
  history.replaceState(null, "", playUrl(room));
  join(QUICK && !welcomed ? "quick" : "room");
});

$("dead").addEventListener("click", () => view.respawn());

/** The game's help texts; `[Key]` becomes a key cap. */
function showTexts(texts) {
  const keys = (node, text) => {
    const parts = String(text || "").split(/\[([^\]]+)\]/);
    node.replaceChildren(...parts.map((part, i) => (i % 2 ? el("kbd", "", part) : document.createTextNode(part))));
  };
  $("controls").textContent = texts.controls || "";
  $("touch-hint").textContent = texts.touchHint || "";
  $("start-hint").textContent = texts.startHint || "";
  keys($("respawn-keys"), texts.respawnKeys);
  keys($("respawn-touch"), texts.respawnTouch);
}

$("copy-link").addEventListener("click", async () => {
  if (!room) return;
  const link = new URL(PLAY_PATH.replace(/ROOM$/, encodeURIComponent(room)), location.href).toString();
  const btn = $("copy-link");
  if (typeof navigator.share === "function") {
    // the share sheet where there is one (phones, mostly): that is where people share from
    try {
      await navigator.share({ title: document.title, text: "Play with me", url: link });
      return;
    } catch (err) {
      if (err && err.name === "AbortError") return; // closed without sharing
    }
  }
  try {
    await navigator.clipboard.writeText(link);
    btn.textContent = "Link copied";
  } catch {
    btn.textContent = link;
  }
  setTimeout(() => (btn.textContent = "Invite"), 1800);
});

// ---- who is in the room, before joining -------------------------------------
// The name form shows how many play in the room already: the count the page was
// rendered with, then `GET /api/rooms` every 3 s (public rooms are listed there).
let peopleTimer = 0;
function showRoomPeople(players, bots) {
  const node = $("room-people");
  const parts = [];
  if (players > 0) parts.push(`${players} player${players === 1 ? "" : "s"}`);
  if (bots > 0) parts.push(`${bots} bot${bots === 1 ? "" : "s"}`);
  node.textContent = parts.length ? `${parts.join(" and ")} here` : "Nobody here yet: start the game";
  node.hidden = false;
  $("scores").dataset.empty = parts.length ? `${parts.join(" · ")} here · join to see them` : "Nobody here yet";
  $("players-count").textContent = "";
}
async function pollRoomPeople() {
  clearTimeout(peopleTimer);
  if (welcomed || !room) return;
  try {
    const listed = ((await getJson(app.dataset.roomsApi)).rooms || []).find((r) => r.id === room);
    // the public listing has no bots: those stay as the page was rendered with
    if (listed && !welcomed) showRoomPeople(listed.players, listed.bots ?? (Number(app.dataset.bots) || 0));
  } catch {
    // offline, or an error answer: the rendered count stays
  }
  if (!welcomed) peopleTimer = setTimeout(pollRoomPeople, 3000);
}
function stopRoomPeople() {
  clearTimeout(peopleTimer);
  $("room-people").hidden = true;
  $("scores").dataset.empty = "Nobody here yet";
}

window.addEventListener("pagehide", () => {
  if (!client.room || !client.token) return;
  const seat = { token: client.token, seq: client.seq };
  saveSeat(client.room, seat);
  releaseSeat(client.room, seat);
});
window.addEventListener("pageshow", (e) => {
  if (e.persisted && client.room) claimReleasedSeat(client.room); // back from the cache: still mine
});

let hinted = false;
function hintTouch() {
  if (hinted || !matchMedia("(pointer: coarse)").matches) return;
  hinted = true;
  if (!$("start-hint").hidden) return; // it says "swipe to start" already
  $("touch-hint").hidden = false;
  setTimeout(() => ($("touch-hint").hidden = true), 4000);
}

// ---- start -------------------------------------------------------------
if (name && name.trim()) {
  join(QUICK ? "quick" : "room");
} else {
  name = null;
  $("conn-text").textContent = "waiting for a name";
  askName("");
  if (!QUICK) {
    showRoomPeople(Number(app.dataset.players) || 0, Number(app.dataset.bots) || 0);
    pollRoomPeople();
  }
}
