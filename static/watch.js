// The spectator's page (`/watch/{room}`): the room's live picture through a
// `spectate=true` socket, drawn by the room's game module. No name is asked,
// no seat taken, no input sent. In a view room the arrows (or dragging the
// field) move the camera: `{"type": "view", "x", "y"}` (docs/spectators-and-replays.md).

import { MmoClient } from "./mmo-client.js";
import { pictureOf } from "./spectating.js";
import { renderChat, renderScores } from "./watch-panels.js";

const $ = (id) => document.getElementById(id);
const app = $("app");
const canvas = $("game");
const CAMERA_STEP = 8; // cells per arrow press
let target = null; // the camera's corner asked for last: moves add up before the server's view catches up

const game = await import(app.dataset.gameModule);
const keeper = pictureOf(game);
const client = new MmoClient({ applyDelta: (_snapshot, msg) => keeper.apply(msg) });
const view = game.createView(canvas, { client, touchArea: $("stage") });
window.__mmo = { client, view, game, keeper }; // for the console and tests

function draw(kind, msg) {
  if (kind !== "tick") target = null; // a new picture: the camera is where the server says
  const snapshot = kind === "tick" ? keeper.snapshot : keeper.begin(msg);
  if (kind === "welcome") view.welcome({ ...msg, player: null }, snapshot);
  else if (kind === "state") view.reset(snapshot);
  else view.tick(snapshot, msg);
  app.dataset.tick = String(msg.tick);
  renderScores($("scores"), $("players-count"), game.players(snapshot));
}

client.addEventListener("welcome", (e) => {
  app.dataset.spectator = String(e.detail.spectator === true);
  $("banner").hidden = true;
  draw("welcome", e.detail);
});
client.addEventListener("state", (e) => draw("state", e.detail));
client.addEventListener("tick", (e) => draw("tick", e.detail));
client.addEventListener("chat", (e) => renderChat($("chat-log"), e.detail));
client.addEventListener("status", (e) => {
  const { status } = e.detail;
  $("conn").dataset.status = status;
  app.dataset.status = status;
  $("conn-text").textContent = status === "open" ? "watching" : status;
});
client.addEventListener("close", (e) => {
  if (e.detail.reconnect) return;
  $("banner-text").textContent =
    e.detail.error === "room_full" ? "This room has as many spectators as it takes." :
    e.detail.error === "room_not_found" ? "This room doesn't exist (any more)." : "The room can't be watched now.";
  $("banner").hidden = false;
});

// ---- the camera of a view room ----------------------------------------------
function moveCamera(dx, dy) {
  const shown = keeper.view;
  const field = keeper.snapshot;
  if (!shown || !field || !client.connected) return;
  const from = target || shown;
  target = {
    x: Math.max(0, Math.min(from.x + dx, field.width - shown.width)),
    y: Math.max(0, Math.min(from.y + dy, field.height - shown.height)),
  };
  client._send({ type: "view", x: target.x, y: target.y });
}
const KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1] };
addEventListener("keydown", (e) => {
  const step = KEYS[e.key];
  if (!step || !keeper.view) return;
  e.preventDefault();
  moveCamera(step[0] * CAMERA_STEP, step[1] * CAMERA_STEP);
});
let drag = null;
canvas.addEventListener("pointerdown", (e) => (drag = { x: e.clientX, y: e.clientY }));
addEventListener("pointerup", () => (drag = null));
canvas.addEventListener("pointermove", (e) => {
  const shown = keeper.view;
  if (!drag || !shown) return;
  const cell = canvas.clientWidth / Math.max(1, shown.width);
  const dx = Math.round((drag.x - e.clientX) / cell);
  const dy = Math.round((drag.y - e.clientY) / cell);
  if (Math.abs(dx) + Math.abs(dy) < 2) return;
  drag = { x: e.clientX, y: e.clientY };
  moveCamera(dx, dy);
});

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
client.connect({
  url: `${scheme}//${location.host}${app.dataset.wsPath}?spectate=true`,
  name: "Spectator",
  room: app.dataset.room,
});
