// The lobby: name, the games (GET /api/games), quick join, the public rooms,
// creating a room with the chosen game's options, the leaderboard. Every name
// from the server is shown with textContent.

import { getJson, tableCell } from "./pages.js";

const $ = (id) => document.getElementById(id);
const NAME_KEY = "asgi-mmo:name";
const GAME_KEY = "asgi-mmo:game";
const NAME_RE = /^[\p{L}\p{N} _.\-]{1,16}$/u;
const MAIN = document.querySelector("[data-play-path]");
const PLAY_PATH = MAIN.dataset.playPath; // ".../play/ROOM"
const MODULE_PATH = MAIN.dataset.gameModule; // ".../static/games/GAME.js"
const DEFAULT_GAME = MAIN.dataset.defaultGame;
const ROOMS_EVERY_MS = 3000;
const LEADERS_EVERY_MS = 15000;

let local = null;
try {
  local = window.localStorage;
  local.getItem("x");
} catch {
  local = null;
}

const nameInput = $("name");
nameInput.value = (local && local.getItem(NAME_KEY)) || "";
nameInput.addEventListener("input", () => {
  $("name-error").hidden = true;
  if (local) local.setItem(NAME_KEY, nameInput.value.trim());
});

function playerName() {
  const value = nameInput.value.trim();
  if (!NAME_RE.test(value)) {
    const err = $("name-error");
    err.textContent = value ? "Names are 1 to 16 letters, digits, spaces, _ - or ." : "Pick a name first.";
    err.hidden = false;
    nameInput.focus();
    return null;
  }
  if (local) local.setItem(NAME_KEY, value);
  return value;
}

function playUrl(room, extra = {}) {
  const q = new URLSearchParams({ name: nameInput.value.trim(), ...extra });
  return `${PLAY_PATH.replace(/ROOM$/, encodeURIComponent(room))}?${q}`;
}

function go(room) {
  if (playerName()) location.assign(playUrl(room));
}

$("play-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (playerName()) location.assign(playUrl("quick", { game: chosen }));
});

// ---- games ---------------------------------------------------------------
/** @type {Map<string, any>} name -> GAME_INFO, in the server's order */
const games = new Map();
const titles = new Map();
let chosen = DEFAULT_GAME;
const FALLBACK_TICK_RATES = [{ value: 10, label: "10", default: true }, { value: 20, label: "20" }, { value: 30, label: "30" }];

async function loadGames() {
  try {
    const body = await getJson("/api/games");
    for (const info of Array.isArray(body.games) ? body.games : []) {
      games.set(info.name, info);
      titles.set(info.name, info.title || info.name);
    }
  } catch {
    $("games-status").textContent = "Can't load the list of games; Play uses the server's default.";
    choose(DEFAULT_GAME);
    return;
  }
  const remembered = local && local.getItem(GAME_KEY);
  renderGames();
  choose(games.has(remembered) ? remembered : games.has(DEFAULT_GAME) ? DEFAULT_GAME : [...games.keys()][0]);
}

function renderGames() {
  const choices = [...games.values()].map((info) => {
    const label = document.createElement("label");
    label.className = "game-choice";
    label.dataset.game = info.name;
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "game";
    input.value = info.name;
    input.addEventListener("change", () => input.checked && choose(info.name));
    const text = document.createElement("span");
    text.className = "game-text";
    const title = document.createElement("span");
    title.className = "game-title";
    title.textContent = info.title || info.name;
    const desc = document.createElement("span");
    desc.className = "game-desc";
    desc.textContent = info.description || "";
    text.append(title, desc);
    label.append(input, text);
    return label;
  });
  const legend = $("games").querySelector("legend");
  $("games").replaceChildren(legend, ...choices);
}

/** Pick a game for Play and Create: its options, its tick rates, its controls. */
async function choose(name) {
  chosen = name;
  if (local && name) local.setItem(GAME_KEY, name);
  for (const input of document.querySelectorAll("#games input[name=game]")) input.checked = input.value === name;
  const info = games.get(name);
  $("create-game").textContent = info ? `· ${info.title || name}` : "";
  renderOptions(info ? info.options || {} : {});
  $("create-error").hidden = true;
  let module = null;
  try {
    module = await import(MODULE_PATH.replace(/GAME\.js$/, `${encodeURIComponent(name)}.js`));
  } catch {
    module = null; // a game without a browser module: the generic choices
  }
  if (chosen !== name) return; // another game was picked meanwhile
  renderTickRates(module && Array.isArray(module.tickRates) ? module.tickRates : FALLBACK_TICK_RATES);
  const texts = (module && module.texts) || {};
  $("game-controls").textContent = texts.controls || "";
  $("game-touch-controls").textContent = texts.touchControls || "";
}

function renderTickRates(rates) {
  const fieldset = $("speed");
  const checked = rates.find((r) => r.default) || rates[0];
  const choices = rates.map((rate) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "tick_rate";
    input.value = String(rate.value);
    input.checked = rate === checked;
    const span = document.createElement("span");
    span.textContent = rate.label || String(rate.value);
    span.title = `${rate.value} ticks a second`;
    label.append(input, span);
    return label;
  });
  fieldset.replaceChildren(fieldset.querySelector("legend"), ...choices);
}

function humanize(optionName) {
  const words = optionName.replace(/_/g, " ").replace(/\bms\b/, "(ms)");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A form field for each of the game's OPTIONs: its type, range, choices, default and help text. */
function renderOptions(options) {
  const box = $("game-options");
  const fields = Object.entries(options).map(([optionName, spec]) => {
    const id = `opt-${optionName}`;
    const field = document.createElement("div");
    field.className = spec.type === "boolean" ? "field option-field option-bool" : "field option-field";
    field.dataset.option = optionName;
    const label = document.createElement("label");
    label.className = "field-label";
    label.htmlFor = id;
    label.textContent = humanize(optionName);
    let input;
    if (spec.type === "string" && Array.isArray(spec.enum)) {
      input = document.createElement("select");
      for (const value of spec.enum) {
        const option = document.createElement("option");
        option.value = option.textContent = String(value);
        input.append(option);
      }
      input.value = String(spec.default ?? spec.enum[0]);
    } else {
      input = document.createElement("input");
      if (spec.type === "boolean") {
        input.type = "checkbox";
        input.checked = Boolean(spec.default);
      } else if (spec.type === "integer" || spec.type === "number") {
        input.type = "number";
        input.inputMode = spec.type === "integer" ? "numeric" : "decimal";
        input.step = spec.type === "integer" ? "1" : "any";
        if (spec.minimum != null) input.min = String(spec.minimum);
        if (spec.maximum != null) input.max = String(spec.maximum);
        input.value = spec.default == null ? "" : String(spec.default);
      } else {
        input.type = "text";
        input.value = spec.default == null ? "" : String(spec.default);
      }
    }
    input.id = id;
    input.name = `option:${optionName}`;
    input.dataset.type = spec.type;
    const help = document.createElement("span");
    help.className = "field-help";
    help.id = `${id}-help`;
    const range = spec.minimum != null && spec.maximum != null ? ` ${spec.minimum} to ${spec.maximum}.` : "";
    help.textContent = `${spec.description || ""}${range} Default ${spec.default}.`;
    input.setAttribute("aria-describedby", help.id);
    if (spec.type === "boolean") {
      const row = document.createElement("span");
      row.className = "option-row";
      row.append(input, label);
      field.append(row, help);
    } else {
      field.append(label, input, help);
    }
    return field;
  });
  box.replaceChildren(box.querySelector("legend"), ...fields);
  box.hidden = fields.length === 0;
}

/** The options as the form holds them, typed; null (and a message) when one is unreadable. */
function readOptions() {
  const options = {};
  for (const input of $("game-options").querySelectorAll("[data-type]")) {
    const optionName = input.name.replace(/^option:/, "");
    const type = input.dataset.type;
    if (type === "boolean") options[optionName] = input.checked;
    else if (type === "integer" || type === "number") {
      const text = input.value.trim();
      const value = Number(text);
      if (!text || !Number.isFinite(value)) {
        const err = $("create-error");
        err.textContent = `${humanize(optionName)} needs a number.`;
        err.hidden = false;
        input.focus();
        return null;
      }
      options[optionName] = value;
    } else options[optionName] = input.value;
  }
  return options;
}

loadGames();

// ---- rooms -------------------------------------------------------------
function ago(created) {
  const t = typeof created === "number" ? created * (created < 1e12 ? 1000 : 1) : Date.parse(created);
  if (!Number.isFinite(t)) return "";
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function renderRooms(rooms) {
  rooms.sort((a, b) => b.players - a.players || String(a.id).localeCompare(String(b.id)));
  const rows = rooms.map((r) => {
    const tr = document.createElement("tr");
    const code = document.createElement("code");
    code.textContent = r.id;
    const seats = document.createElement("span");
    seats.className = "seats";
    const fill = document.createElement("span");
    fill.style.width = `${Math.min(100, (100 * r.players) / Math.max(1, r.max_players))}%`;
    seats.append(fill);
    const players = document.createElement("span");
    players.append(`${r.players} / ${r.max_players}`, seats);
    const full = r.players >= r.max_players;
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "btn btn-small " + (full ? "btn-ghost" : "btn-secondary");
    btn.textContent = full ? "Full" : "Join";
    btn.disabled = full;
    btn.addEventListener("click", () => go(r.id));
    // Watch: the room as a spectator (no name, no seat; /watch/{id}, docs/spectators-and-replays.md).
    const watch = document.createElement("a");
    watch.className = "btn btn-small btn-ghost room-watch";
    watch.href = PLAY_PATH.replace(/play\/ROOM$/, `watch/${encodeURIComponent(r.id)}`);
    watch.textContent = "Watch";
    const actions = document.createElement("span");
    actions.append(btn, " ", watch);
    tr.append(tableCell(code), tableCell(titles.get(r.game) || r.game), tableCell(players, "num"), tableCell(ago(r.created_at)), tableCell(actions));
    return tr;
  });
  $("rooms-body").replaceChildren(...rows);
  $("rooms-empty").hidden = rooms.length > 0;
  $("rooms").hidden = rooms.length === 0;
}

async function refreshRooms() {
  try {
    const body = await getJson("/api/rooms");
    renderRooms(Array.isArray(body.rooms) ? body.rooms : []);
    $("rooms-status").textContent = `updated ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}`;
  } catch (err) {
    $("rooms-status").textContent = "can't reach the server";
  }
}

// ---- leaderboard ---------------------------------------------------------
async function refreshLeaders() {
  let entries = [];
  try {
    const body = await getJson("/api/leaderboard?limit=10");
    if (Array.isArray(body.entries)) entries = body.entries;
  } catch {
    /* no leaderboard yet, or an error answer: shown as empty */
  }
  const rows = entries.map((e) => {
    const li = document.createElement("li");
    const nm = document.createElement("span");
    nm.className = "name";
    nm.textContent = e.name;
    const sc = document.createElement("span");
    sc.className = "score";
    sc.textContent = String(e.score);
    li.append(nm, sc);
    return li;
  });
  $("leaderboard").replaceChildren(...rows);
  $("leaderboard").hidden = rows.length === 0;
  $("leaders-empty").hidden = rows.length > 0;
}

// Poll while the tab is visible; refresh at once when it becomes visible.
function every(ms, fn) {
  let timer = 0;
  const run = async () => {
    clearTimeout(timer);
    if (!document.hidden) await fn();
    timer = setTimeout(run, ms);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) run();
  });
  run();
}
every(ROOMS_EVERY_MS, refreshRooms);
every(LEADERS_EVERY_MS, refreshLeaders);

// ---- create a room ---------------------------------------------------------
const bots = $("bots");
bots.addEventListener("input", () => ($("bots-out").textContent = bots.value));

// POST `url` (with the JSON `body`, or none when it is null) and go to the play page of the room it
// answers with; otherwise say why in `err` ("Couldn't <what>: ..."). `button` is disabled meanwhile.
async function openRoom(url, body, button, err, what) {
  button.disabled = true;
  try {
    const init = { method: "POST", headers: { Accept: "application/json" } };
    if (body !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const data = await res.json().catch(() => null);
    if (res.ok && data && data.id) {
      location.assign(playUrl(data.id));
      return;
    }
    const message = data && data.error ? data.error.message || data.error.code : `The server answered ${res.status}.`;
    err.textContent = `Couldn't ${what}: ${message}`;
    err.hidden = false;
  } catch {
    err.textContent = "Couldn't reach the server.";
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
}

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("create-error");
  err.hidden = true;
  if (!playerName()) return;
  const form = new FormData(e.target);
  const body = {
    game: chosen,
    private: form.get("visibility") === "private",
    bots: Number(form.get("bots")),
    tick_rate: Number(form.get("tick_rate")),
  };
  const options = readOptions();
  if (options === null) return;
  if (Object.keys(options).length) body.options = options;
  const size = form.get("size");
  if (size) {
    const [w, h] = size.split("x").map(Number);
    body.width = w;
    body.height = h;
  }
  await openRoom("/api/rooms", body, $("create"), err, "create the room");
});

// ---- the world: one big public view room, made on demand (POST /api/world) ----
$("play-world").addEventListener("click", async () => {
  const err = $("world-error");
  err.hidden = true;
  if (!playerName()) return;
  await openRoom("/api/world", null, $("play-world"), err, "open the world");
});
