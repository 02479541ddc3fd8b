// Interpolator: blending between snapshots behind a render delay, entities
// that come and go, the clock, seenTick. Runs against static/netcode.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Interpolator, lerpAngle, lerpEntity, makeLerp, wrapAngle } from "../../../static/netcode.js";

const close = (actual, expected, message) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${message ?? ""} ${actual} != ${expected}`);

// 10 ticks a second (100 ms each) and a render delay of one tick: a snapshot
// of tick N arriving at 100 N ms is drawn from 100 (N + 1) ms on.
function interpolator(options = {}) {
  let clock = 0;
  const interp = new Interpolator({ tickRate: 10, renderDelay: 100, now: () => clock, ...options });
  return { interp, at: (ms) => (clock = ms) };
}

const ship = (id, x, y, extra = {}) => ({ id, x, y, ...extra });

test("between two snapshots: the first at t=0, halfway at 0.5, the second at 1", () => {
  const { interp } = interpolator();
  interp.push({ width: 10, ships: [ship("a", 0, 0, { score: 1 })] }, 1, 100);
  interp.push({ width: 10, ships: [ship("a", 10, -4, { score: 2 })] }, 2, 200);
  assert.deepEqual(interp.sample(200).ships, [ship("a", 0, 0, { score: 1 })]);
  assert.deepEqual(interp.sample(250).ships, [ship("a", 5, -2, { score: 2 })]); // score: the nearer (t=0.5 is b)
  assert.deepEqual(interp.sample(225).ships, [ship("a", 2.5, -1, { score: 1 })]);
  assert.deepEqual(interp.sample(300).ships, [ship("a", 10, -4, { score: 2 })]);
  assert.equal(interp.sample(250).width, 10);
  close(interp.renderTick(250), 1.5);
});

test("angles blend the short way round, across +-pi", () => {
  const { interp } = interpolator();
  interp.push({ ships: [ship("a", 0, 0, { aim: 3.0 })] }, 1, 100);
  interp.push({ ships: [ship("a", 0, 0, { aim: -3.0 })] }, 2, 200);
  close(interp.sample(200).ships[0].aim, 3.0);
  close(Math.abs(interp.sample(250).ships[0].aim), Math.PI, "halfway is pi, not 0");
  close(interp.sample(225).ships[0].aim, 3.0 + (2 * Math.PI - 6) / 4);
  close(interp.sample(300).ships[0].aim, -3.0);
  close(lerpAngle(-3.0, 3.0, 0.5) + Math.PI, 0);
  close(lerpAngle(0.5, 1.5, 0.5), 1.0);
  close(lerpAngle(0, 7 * Math.PI, 0.5), Math.PI / 2); // 7 pi is pi: a half turn
  close(wrapAngle(3 * Math.PI), -Math.PI);
  close(wrapAngle(-Math.PI / 2), -Math.PI / 2);
});

test("an entity that appears or disappears is shown, unmoved, while its snapshot is the nearer", () => {
  const { interp } = interpolator();
  interp.push({ ships: [ship("a", 0, 0), ship("gone", 5, 5)] }, 1, 100);
  interp.push({ ships: [ship("a", 4, 0), ship("new", 9, 9)] }, 2, 200);
  assert.deepEqual(interp.sample(237.5).ships, [ship("a", 1.5, 0), ship("gone", 5, 5)]);
  assert.deepEqual(interp.sample(262.5).ships, [ship("a", 2.5, 0), ship("new", 9, 9)]);
});

test("every array of objects with an id is blended; other arrays come from the nearer snapshot", () => {
  const { interp } = interpolator();
  interp.push({ ships: [ship("a", 0, 0)], bullets: [{ id: 7, x: 0, y: 0 }], walls: [[1, 2]], empty: [] }, 1, 100);
  interp.push({ ships: [ship("a", 2, 0)], bullets: [{ id: 7, x: 8, y: 0 }], walls: [[3, 4]], empty: [] }, 2, 200);
  const picture = interp.sample(225);
  assert.deepEqual(picture.bullets, [{ id: 7, x: 2, y: 0 }]);
  assert.deepEqual(picture.walls, [[1, 2]]);
  assert.deepEqual(picture.empty, []);
  const named = interpolator({ collections: ["ships"] });
  named.interp.push({ ships: [ship("a", 0, 0)], bullets: [{ id: 7, x: 0, y: 0 }] }, 1, 100);
  named.interp.push({ ships: [ship("a", 2, 0)], bullets: [{ id: 7, x: 8, y: 0 }] }, 2, 200);
  assert.deepEqual(named.interp.sample(225).bullets, [{ id: 7, x: 0, y: 0 }]);
  assert.deepEqual(named.interp.sample(225).ships, [ship("a", 0.5, 0)]);
});

test("when snapshots run out it blends on for at most maxExtrapolation, then holds the newest", () => {
  const { interp } = interpolator({ maxExtrapolation: 50 });
  interp.push({ ships: [ship("a", 0, 0)] }, 1, 100);
  interp.push({ ships: [ship("a", 10, 0)] }, 2, 200);
  assert.deepEqual(interp.sample(325).ships, [ship("a", 12.5, 0)]);
  assert.deepEqual(interp.sample(350).ships, [ship("a", 15, 0)]);
  assert.deepEqual(interp.sample(5000).ships, [ship("a", 15, 0)]);
  const held = interpolator({ maxExtrapolation: 0 });
  held.interp.push({ ships: [ship("a", 0, 0)] }, 1, 100);
  held.interp.push({ ships: [ship("a", 10, 0)] }, 2, 200);
  assert.deepEqual(held.interp.sample(5000).ships, [ship("a", 10, 0)]);
});

test("before the oldest snapshot it shows the oldest; with one snapshot, that one", () => {
  const { interp } = interpolator();
  assert.equal(interp.sample(0), null);
  assert.equal(interp.seenTick(0), null);
  assert.equal(interp.renderTick(0), null);
  interp.push({ ships: [ship("a", 3, 3)] }, 5, 500);
  assert.deepEqual(interp.sample(0).ships, [ship("a", 3, 3)]);
  assert.deepEqual(interp.sample(9999).ships, [ship("a", 3, 3)]);
  interp.push({ ships: [ship("a", 5, 3)] }, 6, 600);
  assert.deepEqual(interp.sample(100).ships, [ship("a", 3, 3)]);
});

test("seenTick: the whole tick nearest the picture, within the snapshots held", () => {
  const { interp } = interpolator();
  interp.push({ ships: [] }, 1, 100);
  interp.push({ ships: [] }, 2, 200);
  interp.push({ ships: [] }, 3, 300);
  assert.equal(interp.seenTick(240), 1);
  assert.equal(interp.seenTick(260), 2);
  assert.equal(interp.seenTick(300), 2);
  assert.equal(interp.seenTick(0), 1);
  assert.equal(interp.seenTick(10000), 3);
  assert.ok(Number.isInteger(interp.seenTick(333)));
});

test("the clock follows the least delayed arrival: a late snapshot does not pull the picture back", () => {
  const { interp } = interpolator();
  interp.push({ ships: [ship("a", 0, 0)] }, 1, 100);
  interp.push({ ships: [ship("a", 10, 0)] }, 2, 290); // 90 ms late
  interp.push({ ships: [ship("a", 20, 0)] }, 3, 300);
  assert.equal(interp.base, 0);
  close(interp.renderTick(350), 2.5);
  assert.deepEqual(interp.sample(350).ships, [ship("a", 15, 0)]);
  // a window of two arrivals forgets the early one
  const short = interpolator({ clockWindow: 2 });
  short.interp.push({ ships: [] }, 1, 100);
  short.interp.push({ ships: [] }, 2, 250);
  short.interp.push({ ships: [] }, 3, 350);
  assert.equal(short.interp.base, 50);
});

test("the default render delay is the larger of 100 ms and two tick periods", () => {
  assert.equal(new Interpolator({ tickRate: 20 }).renderDelay, 100);
  assert.equal(new Interpolator({ tickRate: 60 }).renderDelay, 100);
  assert.equal(new Interpolator({ tickRate: 5 }).renderDelay, 400);
  const interp = new Interpolator({ tickRate: 20 });
  interp.reset({ tickRate: 4 });
  assert.equal(interp.renderDelay, 500);
  assert.equal(new Interpolator({ renderDelay: 30 }).renderDelay, 30);
});

test("snapshots are copied in, pictures are fresh copies out", () => {
  const { interp } = interpolator();
  const live = { ships: [ship("a", 0, 0)] };
  interp.push(live, 1, 100);
  live.ships[0].x = 50; // MmoClient changes its snapshot in place
  interp.push(live, 2, 200);
  const picture = interp.sample(250);
  assert.deepEqual(picture.ships, [ship("a", 25, 0)]);
  picture.ships[0].x = -1;
  Object.assign(interp.sample(200).ships[0], { x: -2 });
  assert.deepEqual(interp.sample(250).ships, [ship("a", 25, 0)]);
  assert.deepEqual(interp.sample(200).ships, [ship("a", 0, 0)]);
});

test("an older tick is ignored, the same tick replaces, at most capacity snapshots are kept", () => {
  const { interp } = interpolator({ capacity: 3 });
  assert.equal(interp.push({ n: 1 }, 1, 100), true);
  assert.equal(interp.push({ n: 2 }, 2, 200), true);
  assert.equal(interp.push({ n: 0 }, 1, 210), false);
  assert.equal(interp.push({ n: 22 }, 2, 220), true);
  assert.deepEqual(interp.frames.map((f) => f.snapshot.n), [1, 22]);
  interp.push({ n: 3 }, 3, 300);
  interp.push({ n: 4 }, 4, 400);
  assert.deepEqual(interp.frames.map((f) => f.tick), [2, 3, 4]);
  interp.reset();
  assert.deepEqual(interp.frames, []);
  assert.equal(interp.sample(500), null);
});

test("ticks skipped between snapshots (after a resync) blend over the gap", () => {
  const { interp } = interpolator();
  interp.push({ ships: [ship("a", 0, 0)] }, 1, 100);
  interp.push({ ships: [ship("a", 30, 0)] }, 4, 400);
  assert.deepEqual(interp.sample(300).ships, [ship("a", 10, 0)]);
});

test("a game's own lerp and id", () => {
  const { interp } = interpolator({
    id: (e) => e.name,
    lerp: (a, b, t) => ({ name: a.name, hp: t < 1 ? a.hp : b.hp, x: a.x + (b.x - a.x) * t }),
    collections: ["players"],
  });
  interp.push({ players: [{ name: "ada", hp: 3, x: 0 }] }, 1, 100);
  interp.push({ players: [{ name: "ada", hp: 1, x: 1 }] }, 2, 200);
  assert.deepEqual(interp.sample(275).players, [{ name: "ada", hp: 3, x: 0.75 }]);
});

test("makeLerp: chosen fields, and no blending across a jump bigger than snap", () => {
  const lerp = makeLerp({ linear: ["x", "y", "r"], angles: ["dir"], snap: 10 });
  assert.deepEqual(lerp({ x: 0, y: 0, r: 1, dir: 0, k: "a" }, { x: 2, y: 4, r: 3, dir: 1, k: "b" }, 0.25), {
    x: 0.5,
    y: 1,
    r: 1.5,
    dir: 0.25,
    k: "a",
  });
  assert.deepEqual(lerp({ x: 0, y: 0 }, { x: 50, y: 0 }, 0.25), { x: 0, y: 0 });
  assert.deepEqual(lerp({ x: 0, y: 0 }, { x: 50, y: 0 }, 0.75), { x: 50, y: 0 });
  assert.deepEqual(lerpEntity({ id: 1, x: 0, name: "n" }, { id: 1, x: 1, y: 5, name: "m" }, 0.5), {
    id: 1,
    x: 0.5,
    y: 5,
    name: "m",
  });
});
