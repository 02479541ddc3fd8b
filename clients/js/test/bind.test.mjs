// bindNetcode: a real MmoClient over a fake socket, a game of ships that
// move along x, the picture a page would draw each frame.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { MmoClient } from "../../../static/mmo-client.js";
import { Interpolator, Predictor, bindNetcode } from "../../../static/netcode.js";
import { FakeSocket } from "./fake-socket.mjs";

beforeEach(() => FakeSocket.reset());

// The game: a tick message carries the ships that changed, whole.
function applyShips(snapshot, msg) {
  for (const changed of msg.ships ?? []) {
    const at = snapshot.ships.findIndex((s) => s.id === changed.id);
    if (at < 0) snapshot.ships.push({ ...changed });
    else snapshot.ships[at] = { ...changed };
  }
  return snapshot;
}
const move = (own, input, dt) => ({ ...own, x: own.x + (input?.vx ?? 0) * dt });
const findShip = (snapshot, player) => snapshot.ships.find((s) => s.id === player) ?? null;

function setup() {
  let clock = 1000;
  const now = () => clock;
  const client = new MmoClient({ applyDelta: applyShips, WebSocket: FakeSocket, pingInterval: 60_000 });
  const predictor = new Predictor({ predict: move, own: findShip });
  const interpolator = new Interpolator({ renderDelay: 100, now });
  const net = bindNetcode(client, { predictor, interpolator });
  client.connect({ url: "ws://example.test/ws", name: "ada", game: "ships" });
  const socket = FakeSocket.made.at(-1);
  socket.receive({
    type: "welcome",
    protocol: 1,
    room: "r1",
    game: "ships",
    player: "me",
    token: "t",
    tick_rate: 10,
    tick: 10,
    state: { ships: [{ id: "me", x: 0 }, { id: "bo", x: 0 }] },
  });
  return { client, socket, predictor, interpolator, net, setClock: (ms) => (clock = ms) };
}

test("the welcome resets both parts with the room's tick rate and player", (t) => {
  const { client, predictor, interpolator } = setup();
  t.after(() => client.close());
  assert.equal(predictor.player, "me");
  assert.equal(predictor.dt, 0.1);
  assert.equal(interpolator.tickMs, 100);
  assert.equal(predictor.tick, 10);
  assert.deepEqual(predictor.state, { id: "me", x: 0 });
  assert.equal(interpolator.frames.length, 1);
});

test("sendInput sends and records; frames draw the own ship predicted, the others interpolated", (t) => {
  const { client, socket, predictor, net, setClock } = setup();
  t.after(() => client.close());
  assert.deepEqual(net.frame(1000).ships, [{ id: "me", x: 0 }, { id: "bo", x: 0 }]);
  assert.equal(net.sendInput({ vx: 10 }), 1);
  assert.deepEqual(socket.sentOf("input"), [{ type: "input", seq: 1, data: { vx: 10 } }]);
  assert.deepEqual(predictor.pending.map((i) => i.seq), [1]);
  // the very next frame, 16 ms on: the own ship has moved, before any server tick
  const next = net.frame(1016);
  assert.ok(Math.abs(next.ships[0].x - 10 * 0.016) < 1e-9, String(next.ships[0].x));
  assert.equal(next.ships[1].x, 0);

  // the server's tick 11 (arrives at 1100): bo moved, our input not yet applied
  setClock(1100);
  socket.receive({ type: "tick", tick: 11, ack: 0, ships: [{ id: "bo", x: 4 }] });
  // tick 12 applies our input (ack 1)
  setClock(1200);
  socket.receive({ type: "tick", tick: 12, ack: 1, ships: [{ id: "me", x: 1 }, { id: "bo", x: 8 }] });
  assert.deepEqual(predictor.pending, []);
  const picture = net.frame(1250);
  assert.equal(picture.ships[1].x, 6); // bo, 100 ms behind: halfway from tick 11 to 12
  // own ship: the input, in force from local tick 11, was applied at server
  // tick 12 (x 1 there): local 11 is server 12. Local tick 12 ended at 1200
  // ms; at 1250 the clock is half into tick 13: x = 1 + 1 + 0.5.
  assert.equal(predictor.shift, -1);
  assert.equal(predictor.tick, 12);
  assert.ok(Math.abs(picture.ships[0].x - 2.5) < 1e-9, String(picture.ships[0].x));
  assert.equal(net.seenTick(1250), 12);
  assert.equal(net.seenTick(1240), 11);
});

test("sendInput with controls of null records nothing; offline sends nothing", (t) => {
  const { client, socket, predictor, net } = setup();
  t.after(() => client.close());
  assert.equal(net.sendInput({ fire: true, seen: net.seenTick() }, null), 1);
  assert.deepEqual(socket.sentOf("input")[0].data, { fire: true, seen: 10 });
  assert.deepEqual(predictor.pending, []);
  assert.equal(net.sendInput({ vx: 1 }, { vx: 2 }), 2);
  assert.deepEqual(predictor.pending[0].data, { vx: 2 });
  client.close();
  assert.equal(net.sendInput({ vx: 1 }), 0);
  assert.equal(predictor.pending.length, 1);
});

test("a pong hints the lead; a state feeds both; unbind stops listening", (t) => {
  const { client, socket, predictor, interpolator, net } = setup();
  t.after(() => client.close());
  socket.receive({ type: "pong", t: performance.now() - 200 });
  assert.ok(predictor.shift <= -2, String(predictor.shift));
  socket.receive({ type: "state", tick: 20, state: { ships: [{ id: "me", x: 7 }] } });
  assert.equal(interpolator.frames.at(-1).tick, 20);
  assert.equal(predictor.serverTick, 20);
  net.unbind();
  socket.receive({ type: "tick", tick: 21, ack: 0, ships: [{ id: "me", x: 8 }] });
  assert.equal(client.tick, 21);
  assert.equal(interpolator.frames.at(-1).tick, 20);
  assert.equal(predictor.serverTick, 20);
});

test("without a predictor the binder draws the interpolated picture alone", (t) => {
  const client = new MmoClient({ applyDelta: applyShips, WebSocket: FakeSocket, pingInterval: 60_000 });
  t.after(() => client.close());
  let clock = 0;
  const net = bindNetcode(client, { interpolator: new Interpolator({ now: () => clock }) });
  client.connect({ url: "ws://example.test/ws", name: "ada" });
  FakeSocket.made[0].receive({ type: "welcome", player: "me", tick_rate: 20, tick: 1, state: { ships: [{ id: "me", x: 3 }] } });
  clock = 500;
  assert.deepEqual(net.frame().ships, [{ id: "me", x: 3 }]);
  assert.equal(net.sendInput({ vx: 1 }), 1);
});
