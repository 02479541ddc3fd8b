// Predictor: reconciliation on ack, the input-in-force rule, bounds.
// Runs against static/netcode.js, the file the pages load.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Predictor } from "../../../static/netcode.js";

// A one-dimensional ship: `vx` units a second; tickRate 1 keeps sums exact.
const move = (own, input, dt) => ({ ...own, x: own.x + (input?.vx ?? 0) * dt });
const findShip = (snapshot, player) => snapshot.ships.find((s) => s.id === player) ?? null;
const world = (x, otherX = 50) => ({ ships: [{ id: "me", x }, { id: "other", x: otherX }] });

function predictor(options = {}) {
  return new Predictor({ predict: move, own: findShip, player: "me", tickRate: 1, ...options });
}

test("with no pending inputs the prediction is the server's own entity, copied", () => {
  const p = predictor();
  const snapshot = world(7);
  assert.equal(p.reconcile(snapshot, 0, 10), true);
  assert.deepEqual(p.state, { id: "me", x: 7 });
  assert.equal(p.tick, 10);
  snapshot.ships[0].x = 99; // the client's snapshot changes in place on the next tick
  assert.equal(p.state.x, 7);
  assert.deepEqual(p.sample(), { id: "me", x: 7 });
});

test("after every input is acknowledged, with the clock not ahead, it equals the server again", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 10);
  p.input(1, { vx: 1 });
  p.reconcile(world(1), 1, 11); // the server applied it at tick 11
  assert.deepEqual(p.pending, []);
  assert.deepEqual(p.state, { id: "me", x: 1 });
});

test("pending inputs are replayed on the server's state, the input in force for each tick", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 10);
  p.input(1, { vx: 1 }); // in force from local tick 11
  p.advance(2); // ticks 11, 12
  p.input(2, { vx: 3 }); // in force from tick 13
  p.advance(2); // ticks 13, 14
  assert.equal(p.tick, 14);
  assert.equal(p.state.x, 1 + 1 + 3 + 3);

  // The server, at tick 11, has applied neither: x is still 0 there, so the
  // replay runs ticks 12..14: input 1 for tick 12, input 2 for 13 and 14.
  p.reconcile(world(0), 0, 11);
  assert.equal(p.state.x, 1 + 3 + 3);

  // At tick 12 it applied input 1 (ack 1): that input's first local tick (11)
  // is server tick 12. Replay 12..14 from there... the server's x is 1.
  p.reconcile(world(1), 1, 12);
  assert.equal(p.shift, -1);
  assert.deepEqual(p.pending.map((i) => i.seq), [2]);
  // local 11 = server 12 (x 1); tick 12 under input 1, 13 and 14 under input 2
  assert.equal(p.state.x, 1 + 1 + 3 + 3);
});

test("two inputs recorded within one tick: only the later is ever in force", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 5);
  p.input(1, { vx: 10 });
  p.input(2, { vx: 2 });
  p.advance(3);
  assert.equal(p.state.x, 6);
  assert.deepEqual(p.inputAt(6), { vx: 2 });
  assert.equal(p.inputAt(5), null); // before any input: null
});

test("an input keeps acting after its ack: the base input", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 0);
  p.input(1, { vx: 2 }); // local 1
  p.advance(4); // local 4, x 8
  // server applied it at its tick 2 (x 2 there): local 1 = server 2
  p.reconcile(world(2), 1, 2);
  assert.equal(p.base.vx, 2);
  assert.equal(p.state.x, 2 + 2 * 3); // local 2..4 replayed under the base
  assert.equal(p.tick, 4);
});

test("an ack that jumps drops every input up to it, and aligns on the newest", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 0);
  p.input(1, { vx: 1 });
  p.advance(1);
  p.input(2, { vx: 2 });
  p.advance(1);
  p.input(3, { vx: 3 }); // first in force at local tick 3
  p.input(5, { vx: 5 }); // seq 4 went out unrecorded (a shot, say)
  p.advance(1);
  p.reconcile(world(9), 4, 6); // inputs 1..4 applied; 3 first at server tick 6
  assert.deepEqual(p.pending.map((i) => i.seq), [5]);
  assert.deepEqual(p.base, { vx: 3 });
  assert.equal(p.shift, 3 - 6);
  assert.equal(p.ack, 4);
});

test("an older picture is ignored; so is an ack lower than one seen", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 10);
  p.input(1, { vx: 1 });
  p.input(2, { vx: 2 });
  p.input(3, { vx: 3 });
  p.reconcile(world(4), 3, 12);
  const before = p.state;
  assert.equal(p.reconcile(world(100), 1, 11), false);
  assert.equal(p.state, before);
  assert.equal(p.serverTick, 12);
  assert.equal(p.reconcile(world(5), 1, 13), true); // newer picture, stale ack
  assert.equal(p.ack, 3);
  assert.equal(p.input(2, { vx: 9 }), false); // an acknowledged seq is not taken again
  assert.equal(p.input(3, { vx: 9 }), false);
  assert.equal(p.input(4, { vx: 9 }), true);
});

test("an input is copied when recorded: a page may reuse its controls object", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 0);
  const controls = { vx: 1 };
  p.input(1, controls);
  controls.vx = 5;
  p.advance(2);
  assert.equal(p.state.x, 2);
});

test("inputs before any picture, or whose seq does not grow, are refused", () => {
  const p = predictor();
  assert.equal(p.input(1, { vx: 1 }), false);
  p.reconcile(world(0), 0, 1);
  assert.equal(p.input(2, { vx: 1 }), true);
  assert.equal(p.input(2, { vx: 1 }), false);
  assert.equal(p.input(1.5, { vx: 1 }), false);
  assert.equal(p.pending.length, 1);
});

test("at most maxPending inputs are kept: the oldest goes, counted, and becomes the base", () => {
  const p = predictor({ maxPending: 4 });
  p.reconcile(world(0), 0, 0);
  for (let seq = 1; seq <= 6; seq++) p.input(seq, { vx: seq });
  assert.deepEqual(p.pending.map((i) => i.seq), [3, 4, 5, 6]);
  assert.equal(p.dropped, 2);
  assert.deepEqual(p.base, { vx: 2 });
});

test("an input the server never acknowledges is dropped as lost", () => {
  const p = predictor({ lostAfter: 5 });
  p.reconcile(world(0), 0, 0);
  p.input(1, { vx: 1 }); // local 1; the server refused it
  p.reconcile(world(0), 0, 6);
  assert.equal(p.pending.length, 1);
  p.reconcile(world(0), 0, 7);
  assert.equal(p.pending.length, 0);
  assert.equal(p.lost, 1);
  assert.equal(p.base, null);
  assert.equal(p.state.x, 0);
});

test("advance steps whole ticks and holds maxLead ticks past the server's picture", () => {
  const p = predictor({ maxLead: 5 });
  p.reconcile(world(0), 0, 10);
  p.input(1, { vx: 1 });
  p.advance(0.25);
  p.advance(0.25);
  assert.equal(p.tick, 10);
  assert.equal(p.fraction, 0.5);
  p.advance(0.5);
  assert.equal(p.tick, 11);
  p.advance(100); // the server went quiet
  assert.equal(p.tick, 15);
  assert.equal(p.state.x, 5);
  assert.equal(p.fraction, 0);
  p.reconcile(world(1), 1, 11); // aligned: local 11 = server 11
  p.advance(3);
  assert.equal(p.tick, 16);
});

test("a picture that falls far behind pulls the local clock back to maxLead", () => {
  const p = predictor({ maxLead: 3 });
  p.reconcile(world(0), 0, 0);
  p.input(1, { vx: 1 });
  p.advance(3);
  p.reconcile(world(1), 1, 1); // local 1 = server 1
  p.reconcile(world(2), 1, 2);
  p.shift = -10; // as if the acks had taught a lead of 10 ticks
  p.reconcile(world(3), 1, 3);
  assert.equal(p.tick, 3 - 10 + 3);
});

test("sample carries the state through the part of the tick elapsed: a key shows on the next frame", () => {
  const p = new Predictor({ predict: move, own: findShip, player: "me", tickRate: 10 });
  p.reconcile(world(0), 0, 3);
  p.advance(0.03); // a frame into the tick
  p.input(1, { vx: 10 }); // a key: in force from the next tick, which is under way
  p.advance(0.016); // the next animation frame
  assert.equal(p.tick, 3);
  assert.ok(Math.abs(p.sample().x - 10 * 0.046) < 1e-9, String(p.sample().x));
  assert.equal(p.state.x, 0);
});

test("no own entity in the picture: no state, nothing overlaid", () => {
  const p = predictor();
  p.reconcile({ ships: [{ id: "other", x: 3 }] }, 0, 1);
  assert.equal(p.state, null);
  assert.equal(p.sample(), null);
  p.advance(2);
  assert.equal(p.tick, 3); // the clock runs on without an entity
  const picture = { ships: [{ id: "other", x: 3 }] };
  assert.equal(p.overlay(picture), picture);
  assert.deepEqual(picture, { ships: [{ id: "other", x: 3 }] });
});

test("overlay writes the predicted own entity into a picture", () => {
  const p = predictor();
  p.reconcile(world(0), 0, 0);
  p.input(1, { vx: 2 });
  p.advance(2.5);
  const picture = world(-1, 42);
  p.overlay(picture);
  assert.deepEqual(picture.ships, [{ id: "me", x: 5 }, { id: "other", x: 42 }]);
});

test("a custom place writes where the game keeps its own entity", () => {
  const p = predictor({
    own: (s) => s.me ?? null,
    place: (picture, player, own) => (picture.me = { ...own, player }),
  });
  p.reconcile({ me: { x: 1 } }, 0, 0);
  const picture = {};
  p.overlay(picture);
  assert.deepEqual(picture.me, { x: 1, player: "me" });
});

test("hintRtt guesses the lead until an ack teaches it", () => {
  const p = predictor({ tickRate: 20 });
  p.reconcile(world(0), 0, 100);
  p.hintRtt(300);
  assert.equal(p.shift, -6);
  p.hintRtt(Number.NaN);
  assert.equal(p.shift, -6);
  p.input(1, { vx: 0 });
  p.reconcile(world(0), 1, 103);
  assert.equal(p.aligned, true);
  const learned = p.shift;
  p.hintRtt(1000);
  assert.equal(p.shift, learned);
});

test("reset forgets the picture and the inputs, keeps the counters", () => {
  const p = predictor({ maxPending: 1 });
  p.reconcile(world(0), 0, 0);
  p.input(1, { vx: 1 });
  p.input(2, { vx: 1 });
  p.reset({ player: "other", tickRate: 4 });
  assert.equal(p.tick, null);
  assert.equal(p.state, null);
  assert.deepEqual(p.pending, []);
  assert.equal(p.dt, 0.25);
  assert.equal(p.dropped, 1);
  p.reconcile(world(0, 8), 0, 1);
  assert.equal(p.state.x, 8);
});

test("the options are checked", () => {
  assert.throws(() => new Predictor({ own: findShip }), TypeError);
  assert.throws(() => new Predictor({ predict: move }), TypeError);
});

// A server and a client with a fixed delay each way, tick by tick: once the
// lead is learned, reconciling changes nothing (the prediction was right),
// and when the player stops, the ship rests where the server puts it.
const delay = (d, now) => (typeof d === "function" ? d(now) : d);

function simulate({ up, down, keys, ticks, hintRtt = false }) {
  const server = { x: 0, input: null, ack: 0 };
  const toServer = []; // [arrivalTime, seq, data]
  const toClient = []; // [arrivalTime, tick, x, ack]
  const p = new Predictor({ predict: move, own: (s) => s.ship, player: "me", tickRate: 1 });
  p.reconcile({ ship: { x: 0 } }, 0, 0);
  if (hintRtt) p.hintRtt((delay(up, 0) + delay(down, 0)) * 1000);
  let seq = 0;
  const corrections = [];
  for (let now = 1; now <= ticks; now++) {
    // the server: inputs that arrived, then its step, then the tick message
    while (toServer.length && toServer[0][0] <= now) {
      const [, s, data] = toServer.shift();
      server.input = data;
      server.ack = s;
    }
    server.x = move(server, server.input, 1).x;
    toClient.push([now + delay(down, now), now, server.x, server.ack]);
    toClient.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    // the client: pictures that arrived, a key maybe, then its own tick
    while (toClient.length && toClient[0][0] <= now) {
      const [, tick, x, ack] = toClient.shift();
      const before = p.state.x;
      p.reconcile({ ship: { x } }, ack, tick);
      corrections.push({ now, aligned: p.aligned, delta: p.state.x - before });
    }
    if (keys[now] !== undefined) {
      seq += 1;
      p.input(seq, { vx: keys[now] });
      toServer.push([now + delay(up, now), seq, { vx: keys[now] }]);
      toServer.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    }
    p.advance(1);
  }
  return { p, server, corrections };
}

test("under a steady delay the prediction needs no correction once aligned, and ends where the server is", () => {
  const keys = { 5: 1, 12: -2, 13: 3, 20: 0 };
  const { p, server, corrections } = simulate({ up: 3, down: 3, keys, ticks: 40 });
  // The reconcile that learns the alignment corrects (the lead was unknown
  // before it); every one after it finds the prediction right.
  const first = corrections.findIndex((c) => c.aligned);
  assert.notEqual(corrections[first].delta, 0);
  const after = corrections.slice(first + 1);
  assert.ok(after.length > 20);
  assert.deepEqual(after.filter((c) => c.delta !== 0), []);
  assert.equal(p.state.x, server.x);
  assert.deepEqual(p.pending, []);
});

test("with the round trip hinted, even the first input needs no correction", () => {
  const keys = { 5: 1, 9: 0 };
  const { p, server, corrections } = simulate({ up: 2, down: 4, keys, ticks: 30, hintRtt: true });
  assert.deepEqual(corrections.filter((c) => c.delta !== 0), []);
  assert.equal(p.state.x, server.x);
});

test("under a jittery delay corrections stay within the jitter, and the ship ends where the server is", () => {
  const keys = { 3: 2, 10: -1, 11: 1, 17: 0 };
  const jitter = (now) => 2 + (now * 7919) % 3; // 2 to 4 ticks, fixed
  const { p, server, corrections } = simulate({ up: jitter, down: jitter, keys, ticks: 40 });
  const first = corrections.findIndex((c) => c.aligned);
  // A delay off by up to 2 ticks moves the alignment by up to 2 ticks, each
  // worth at most the largest change of speed (3).
  for (const c of corrections.slice(first + 1)) assert.ok(Math.abs(c.delta) <= 2 * 3, JSON.stringify(c));
  assert.equal(p.state.x, server.x);
});
