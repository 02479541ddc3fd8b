// The replay page (`/replay/{id}`): a recording (docs/replays.md) played with
// the game module the live page draws with, its delta code included. The
// recording comes from the admin API with the admin token (kept in this tab,
// the dashboard's key). Seeking starts from the nearest `state` keyframe at or
// before the tick and applies the ticks after it.

import { pictureOf, Watcher } from "./spectating.js";
import { renderChat, renderScores } from "./watch-panels.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const TOKEN_KEY = "asgi-mmo-admin-token"; // the dashboard's (static/admin.js)

const game = await import(app.dataset.gameModule);
const keeper = pictureOf(game);
const watcher = new Watcher();
const view = game.createView($("game"), { client: watcher, touchArea: $("stage") });

let header = null;
let frames = []; // the welcome, then every tick and state, in order
let chats = []; // [frame index, chat]
let keyframes = []; // indices of the welcome and the states
let at = -1; // the frame shown
let timer = 0;
let speed = 1;

window.__replay = { get at() { return at; }, get frames() { return frames; }, get header() { return header; },
  get snapshot() { return keeper.snapshot; }, seek: (tick) => seekTick(tick), play, pause };

async function load(token) {
  const response = await fetch(app.dataset.recordingUrl, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) throw new Error("unauthorized");
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const reader = response.body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } catch {
    // A recording still being written ends without the gzip trailer: what came so far plays.
  }
  return text.split("\n").filter(Boolean).flatMap((line) => {
    try {
      return [JSON.parse(line)];
    } catch {
      return []; // a cut-off last line
    }
  });
}

function index(lines) {
  [header, ...lines] = lines;
  if (!header || header.format !== "asgi-mmo-replay" || header.version !== 1) throw new Error("not a recording of version 1");
  for (const line of lines) {
    if (line.type === "welcome" || line.type === "tick" || line.type === "state") {
      if (line.type !== "tick") keyframes.push(frames.length);
      frames.push(line);
    } else if (line.type === "chat") {
      chats.push([frames.length - 1, line]);
    }
  }
}

function show(i, { reset }) {
  at = i;
  const frame = frames[i];
  app.dataset.tick = String(frame.tick);
  $("tick").textContent = String(frame.tick);
  $("seek").value = String(i);
  const snapshot = keeper.snapshot;
  if (reset) {
    watcher.emit("state", { ...frame, type: "state", state: snapshot }, snapshot);
    view.reset(snapshot);
  } else {
    watcher.emit("tick", frame, snapshot);
    view.tick(snapshot, frame);
  }
  renderScores($("scores"), $("players-count"), game.players(snapshot));
}

/** Frame `i` from its keyframe: the keyframe's picture, then the ticks after it. */
function seek(i) {
  i = Math.max(0, Math.min(i, frames.length - 1));
  let k = 0;
  for (const key of keyframes) if (key <= i) k = key;
  keeper.begin(structuredClone(frames[k]));
  for (let j = k + 1; j <= i; j++) {
    if (frames[j].type === "tick") keeper.apply(frames[j]);
    else keeper.begin(structuredClone(frames[j]));
  }
  const log = $("chat-log");
  log.replaceChildren();
  for (const [after, chat] of chats) if (after <= i) renderChat(log, chat);
  show(i, { reset: true });
}

function seekTick(tick) {
  const i = frames.findIndex((f) => f.tick >= tick);
  seek(i < 0 ? frames.length - 1 : i);
}

function step() {
  if (at + 1 >= frames.length) return pause();
  const frame = frames[at + 1];
  if (frame.type === "tick") keeper.apply(frame);
  else keeper.begin(structuredClone(frame));
  for (const [after, chat] of chats) if (after === at + 1) renderChat($("chat-log"), chat);
  show(at + 1, { reset: frame.type !== "tick" });
}

function play() {
  pause();
  if (at + 1 >= frames.length) seek(0);
  timer = setInterval(step, 1000 / ((header.tick_rate || 10) * speed));
  app.dataset.status = "playing";
  $("play").textContent = "Pause";
}

function pause() {
  clearInterval(timer);
  timer = 0;
  app.dataset.status = "paused";
  $("play").textContent = "Play";
}

$("play").addEventListener("click", () => (timer ? pause() : play()));
$("seek").addEventListener("input", (e) => seek(Number(e.target.value)));
$("speed").addEventListener("change", (e) => {
  speed = Number(e.target.value) || 1;
  if (timer) play();
});

async function open(token) {
  $("status").textContent = "loading";
  let lines;
  try {
    lines = await load(token);
  } catch (error) {
    if (String(error.message) === "unauthorized") {
      sessionStorage.removeItem(TOKEN_KEY);
      $("login-error").textContent = "That token was refused.";
      $("login-error").hidden = false;
      $("login").hidden = false;
      $("status").textContent = "signed out";
      return;
    }
    $("status").textContent = `can't load the recording: ${error.message}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  index(lines);
  if (!frames.length) {
    $("status").textContent = "the recording is empty";
    return;
  }
  const first = frames[0];
  keeper.begin(structuredClone(first));
  watcher.emit("welcome", { ...first, player: null }, keeper.snapshot);
  view.welcome({ ...first, player: null }, keeper.snapshot);
  $("seek").max = String(frames.length - 1);
  $("seek").disabled = false;
  $("play").disabled = false;
  $("last-tick").textContent = String(frames[frames.length - 1].tick);
  $("status").textContent = `${header.game} · ${new Date(header.started * 1000).toLocaleString()}`;
  show(0, { reset: true });
  app.dataset.status = "paused";
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  if (token) open(token);
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) open(saved);
else {
  $("login").hidden = false;
  $("status").textContent = "signed out";
}
