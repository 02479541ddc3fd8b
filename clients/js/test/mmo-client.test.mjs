// static/mmo-client.js under Node, over a fake WebSocket: the protocol as the
// pages speak it (EventTarget, CustomEvent and performance are Node globals).
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { MmoClient, FATAL_CLOSE_CODES } from "../../../static/mmo-client.js";
import { applySnakeDelta } from "../../../static/snake-delta.js";
import { FakeSocket } from "./fake-socket.mjs";

beforeEach(() => FakeSocket.reset());

const snake = (id, body, dir = "right") => ({ id, name: id, color: "#fff", body, dir, alive: true, score: 0, bot: false });

function welcome(extra = {}) {
  return {
    type: "welcome",
    protocol: 1,
    room: "r1",
    game: "snake",
    player: "p1",
    token: "tok-1",
    tick_rate: 10,
    tick: 5,
    state: { width: 40, height: 30, snakes: [snake("p1", [[5, 5], [4, 5], [3, 5]])], food: [], stones: [] },
    ...extra,
  };
}

/** A client joined to room r1; `events` collects every event's type and detail. */
function joined(options = {}) {
  const client = new MmoClient({ applyDelta: applySnakeDelta, WebSocket: FakeSocket, pingInterval: 60_000, ...options });
  const events = [];
  for (const type of ["status", "welcome", "tick", "state", "chat", "pong", "error", "close"]) {
    client.addEventListener(type, (e) => events.push([type, e.detail]));
  }
  client.connect({ url: "http://example.test/ws", name: "ada b", room: "r1" });
  const socket = FakeSocket.made.at(-1);
  socket.receive(welcome());
  return { client, socket, events };
}

test("connect opens a ws: URL carrying name and room; welcome opens the session and pings", (t) => {
  const { client, socket, events } = joined();
  t.after(() => client.close());
  assert.equal(socket.url.protocol, "ws:");
  assert.equal(socket.url.pathname, "/ws");
  assert.equal(socket.url.searchParams.get("name"), "ada b");
  assert.equal(socket.url.searchParams.get("room"), "r1");
  assert.equal(socket.url.searchParams.has("token"), false);
  assert.deepEqual(
    events.filter(([type]) => type === "status").map(([, d]) => d.status),
    ["connecting", "open"],
  );
  assert.equal(client.status, "open");
  assert.equal(client.connected, true);
  assert.equal(client.player, "p1");
  assert.equal(client.token, "tok-1");
  assert.equal(client.tickRate, 10);
  assert.equal(client.tick, 5);
  assert.equal(client.snapshot.snakes[0].id, "p1");
  const [ping] = socket.sentOf("ping");
  assert.equal(typeof ping.t, "number");
  assert.equal("rtt" in ping, false);
});

test("ticks apply the game's delta in order and carry the ack", (t) => {
  const { client, socket, events } = joined();
  t.after(() => client.close());
  assert.equal(client.sendInput({ dir: "down" }), 1);
  assert.equal(client.sendInput({ dir: "left" }), 2);
  assert.deepEqual(socket.sentOf("input"), [
    { type: "input", seq: 1, data: { dir: "down" } },
    { type: "input", seq: 2, data: { dir: "left" } },
  ]);
  assert.equal(client.pendingInputs, 2);
  socket.receive({ type: "tick", tick: 6, ack: 1, moves: [["p1", 5, 6, 0]] });
  assert.equal(client.tick, 6);
  assert.equal(client.ack, 1);
  assert.equal(client.pendingInputs, 1);
  assert.deepEqual(client.snapshot.snakes[0].body, [[5, 6], [5, 5], [4, 5]]);
  assert.equal(client.snapshot.snakes[0].dir, "down");
  assert.equal(events.filter(([type]) => type === "tick").length, 1);
  socket.receive({ type: "tick", tick: 7, ack: 9 }); // a resumed seat had sent more
  assert.equal(client.seq, 9);
  assert.equal(client.sendInput({ dir: "up" }), 10);
});

test("a tick that skips one asks for a sync, and ticks wait for the state", (t) => {
  const { client, socket, events } = joined();
  t.after(() => client.close());
  socket.receive({ type: "tick", tick: 7, ack: 0 });
  assert.equal(socket.sentOf("sync").length, 1);
  assert.equal(client.tick, 5);
  socket.receive({ type: "tick", tick: 8, ack: 0 });
  assert.equal(socket.sentOf("sync").length, 1); // one sync in flight at most
  assert.equal(client.tick, 5);
  const state = { width: 40, height: 30, snakes: [], food: [[1, 1, 3]], stones: [] };
  socket.receive({ type: "state", tick: 8, state });
  assert.equal(client.tick, 8);
  assert.deepEqual(client.snapshot, state);
  socket.receive({ type: "tick", tick: 9, ack: 0, eaten: [[1, 1]] });
  assert.equal(client.tick, 9);
  assert.deepEqual(client.snapshot.food, []);
  assert.deepEqual(
    events.filter(([type]) => type === "tick" || type === "state").map(([type, d]) => [type, d.tick]),
    [["state", 8], ["tick", 9]],
  );
});

test("chat, pong, errors; junk and unknown messages are ignored", (t) => {
  const { client, socket, events } = joined();
  t.after(() => client.close());
  assert.equal(client.sendChat("  hi  "), true);
  assert.equal(client.sendChat("   "), false);
  assert.equal(client.sendChat("x".repeat(201)), false);
  assert.deepEqual(socket.sentOf("chat"), [{ type: "chat", text: "hi" }]);
  socket.receive({ type: "chat", player: "p2", name: "bo", text: "yo" });
  socket.receive({ type: "pong", t: performance.now() - 25 });
  assert.ok(client.rtt >= 25 && client.rtt < 5000, String(client.rtt));
  socket.receive({ type: "error", code: "rate_limited", message: "slow down" });
  socket.receive("not json");
  socket.receive({ type: "from-the-future", x: 1 });
  socket.receive("[1, 2]");
  assert.deepEqual(
    events.slice(-3).map(([type]) => type),
    ["chat", "pong", "error"],
  );
  assert.equal(client.lastError, "rate_limited");
  assert.equal(client.status, "open");
});

test("inputs before the welcome are not sent", (t) => {
  const client = new MmoClient({ applyDelta: applySnakeDelta, WebSocket: FakeSocket });
  t.after(() => client.close());
  client.connect({ url: "ws://example.test/ws", name: "ada" });
  assert.equal(client.sendInput({ dir: "up" }), 0);
  assert.deepEqual(FakeSocket.made[0].sent, []);
  assert.equal(FakeSocket.made[0].url.searchParams.has("room"), false); // quick join
});

test("a fatal close ends the session: no retry", (t) => {
  const { client, socket, events } = joined();
  t.after(() => client.close());
  socket.receive({ type: "error", code: "room_not_found", message: "no such room" });
  socket.drop(4404);
  const [, close] = events.find(([type]) => type === "close");
  assert.deepEqual(close, { code: 4404, reason: "", error: "room_not_found", reconnect: false });
  assert.equal(client.status, "closed");
  assert.equal(FakeSocket.made.length, 1);
  assert.equal(FATAL_CLOSE_CODES[4409], "room_full");
});

test("server_shutdown (1012) retries with the seat's token", async (t) => {
  const { client, socket, events } = joined({ backoffBase: 1, backoffMax: 1 });
  t.after(() => client.close());
  socket.drop(1012);
  assert.equal(client.status, "reconnecting");
  assert.equal(events.find(([type]) => type === "close")[1].reconnect, true);
  const again = await FakeSocket.next(2);
  assert.equal(again.url.searchParams.get("token"), "tok-1");
  assert.equal(again.url.searchParams.get("room"), "r1");
  again.receive(welcome({ tick: 40 }));
  assert.equal(client.status, "open");
  assert.equal(client.tick, 40);
  assert.equal(client.attempt, 0);
});

test("leave sends leave and closes for good", (t) => {
  const { client, socket } = joined();
  t.after(() => client.close());
  client.leave();
  assert.deepEqual(socket.sent.at(-1), { type: "leave" });
  assert.equal(socket.closedWith, 1000);
  assert.equal(client.status, "closed");
  assert.equal(client.sendInput({ dir: "up" }), 0);
});

test("a view room: the view's size is asked on connecting, sent after, and the picture keeps the view", async (t) => {
  const snakeModule = await import("../../../static/games/snake.js");
  let size = { width: 40, height: 24 };
  const client = new MmoClient({
    applyDelta: snakeModule.applyDelta, readState: snakeModule.readState, WebSocket: FakeSocket, pingInterval: 60_000,
    backoffBase: 1, backoffMax: 1,
  });
  t.after(() => client.close());
  const minimaps = [];
  client.addEventListener("minimap", (e) => minimaps.push(e.detail));
  client.connect({ url: "ws://example.test/ws", name: "ada", room: "w", view: () => size });
  const socket = FakeSocket.made.at(-1);
  assert.equal(socket.url.searchParams.get("view"), "40x24");
  assert.equal(client.sendView(50, 30), false); // not before the welcome
  const view = { x: 0, y: 0, width: 40, height: 24, bucket: 32 };
  const state = {
    width: 200, height: 100, food: [[3, 3, 2]], stones: [],
    snakes: [{ ...snake("p1", [[5, 5], [4, 5]]), serials: [2, 1] }],
  };
  socket.receive(welcome({ room: "w", view, state }));
  assert.deepEqual(client.snapshot.view, view);
  assert.deepEqual(client.snapshot.snakes[0].body, [[5, 5], [4, 5]]);
  socket.receive({
    type: "tick", tick: 6, ack: 0, view: { ...view, x: 8 },
    buckets: [{ cut: [["p1", 4, 5]], cells: [["p1", 6, 5, 3]], eaten: [[3, 3]] }],
  });
  assert.equal(client.snapshot.view.x, 8);
  assert.deepEqual(client.snapshot.snakes[0].body, [[6, 5], [5, 5]]);
  assert.deepEqual(client.snapshot.food, []);
  assert.equal(client.sendView(50, 30), true);
  assert.equal(client.sendView(50.5, 30), false);
  assert.deepEqual(socket.sentOf("view"), [{ type: "view", width: 50, height: 30 }]);
  socket.receive({ type: "minimap", tick: 6, cols: 7, rows: 4, cell: 32, density: "", leaders: [] });
  assert.equal(minimaps.length, 1);
  size = { width: 64, height: 40 };
  socket.drop(1012); // a restart: the reconnect asks for the size of now
  const again = await FakeSocket.next(2);
  assert.equal(again.url.searchParams.get("view"), "64x40");
});
