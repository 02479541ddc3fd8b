// The lobby: name, quick join, the public rooms, creating a room, the
// leaderboard. Every name from the server is shown with textContent.

const $ = (id) => document.getElementById(id);
const NAME_KEY = "asgi-mmo:name";
const NAME_RE = /^[\p{L}\p{N} _.\-]{1,16}$/u;
const PLAY_PATH = document.querySelector("[data-play-path]").dataset.playPath; // ".../play/ROOM"
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
  go("quick");
});

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

function td(text, cls) {
  const cell = document.createElement("td");
  if (cls) cell.className = cls;
  if (text instanceof Node) cell.append(text);
  else cell.textContent = text;
  return cell;
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
    tr.append(td(code), td(r.game), td(players, "num"), td(ago(r.created_at)), td(btn));
    return tr;
  });
  $("rooms-body").replaceChildren(...rows);
  $("rooms-empty").hidden = rooms.length > 0;
  $("rooms").hidden = rooms.length === 0;
}

async function refreshRooms() {
  try {
    const res = await fetch("/api/rooms", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
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
    const res = await fetch("/api/leaderboard?limit=10", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (res.ok) {
      const body = await res.json();
      if (Array.isArray(body.entries)) entries = body.entries;
    }
  } catch {
    /* no leaderboard yet: shown as empty */
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

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("create-error");
  err.hidden = true;
  if (!playerName()) return;
  const form = new FormData(e.target);
  const body = {
    game: "snake",
    private: form.get("visibility") === "private",
    bots: Number(form.get("bots")),
    tick_rate: Number(form.get("tick_rate")),
  };
  const size = form.get("size");
  if (size) {
    const [w, h] = size.split("x").map(Number);
    body.width = w;
    body.height = h;
  }
  const button = $("create");
  button.disabled = true;
  try {
    const res = await fetch("/api/rooms", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.status === 201 && data && data.id) {
      location.assign(playUrl(data.id));
      return;
    }
    const message = data && data.error ? data.error.message || data.error.code : `The server answered ${res.status}.`;
    err.textContent = `Couldn't create the room: ${message}`;
    err.hidden = false;
  } catch {
    err.textContent = "Couldn't reach the server.";
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});
