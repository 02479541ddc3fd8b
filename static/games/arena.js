// The arena's browser module (the interface: docs/client.md, "Game modules").
//
// The own ship is drawn from the Predictor (static/netcode.js), reconciled on
// every ack, with the movement formula of docs/arena.md; every other ship from
// the Interpolator, a render delay behind. Every `fire` says which tick the
// player saw (`seen`), for the server's lag compensation. Inputs go out at
// once for the stick, the trigger and respawns; aim changes at most every
// AIM_EVERY_MS, and all of them within a budget under the server's rate limit.

import { runFrames } from "../canvas.js";
import { Interpolator, Predictor, bindNetcode, lerpEntity } from "../netcode.js";
import { ArenaControls } from "./arena-controls.js";
import { applyArenaDelta, shipPredictor, traceShot } from "./arena-rules.js";
import { ArenaPainter } from "./arena-view.js";

export const name = "arena";
export const applyDelta = applyArenaDelta;

export const texts = Object.freeze({
  controls: "WASD / arrows move · mouse aims · click or Space fires · Enter chats",
  touchControls: "Touch: the left thumb moves · tap on the right to aim and fire",
  touchHint: "left: move · right: tap to aim and fire",
  respawnKeys: "click or press [Space] to respawn",
  respawnTouch: "tap to respawn",
});

export const tickRates = Object.freeze([
  { value: 10, label: "10 Hz" },
  { value: 20, label: "20 Hz", default: true },
  { value: 30, label: "30 Hz" },
  { value: 60, label: "60 Hz" },
]);

/** @param {any} snapshot */
export function players(snapshot) {
  return snapshot?.ships || [];
}

const AIM_EVERY_MS = 100; // aim-only inputs at most this often
const AIM_STEP = 0.004; // radians: smaller aim changes are not sent
const BUDGET = { rate: 20, burst: 12 }; // inputs a second; the server allows 30 messages (pings, chat too)
const TRACER_MS = 260;
const HURT_MS = 300;
const RESPAWN_EVERY_MS = 400;
const SMOOTH_MS = 80; // a jump of the predicted own ship is drawn eased over this long
const SMOOTH_MAX = 3; // world units: a longer jump (a respawn) is drawn as it is

/**
 * What a game module's `createView` receives.
 * @typedef {object} ViewContext
 * @property {import("../mmo-client.js").MmoClient} client connected by the page after the view exists
 * @property {HTMLElement} touchArea where pointers are read (the stage, overlays included)
 * @property {() => void} [onInputSent] after every input sent (the page saves the seat's seq)
 * @property {() => void} [onFirstTouch] a finger touched the field (hide the touch hint)
 */

/** The aim sent: on the 1/1000 grid, within the schema's -pi .. pi. */
function wireAim(a) {
  return Math.max(-Math.PI, Math.min(Math.PI, Math.round(a * 1000) / 1000));
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {ViewContext} context
 */
export function createView(canvas, { client, touchArea, onInputSent = () => {}, onFirstTouch = () => {} }) {
  const world = { width: 60, height: 40, speed: 12, radius: 0.8, range: 25, cooldownMs: 300, tickMs: 100 };
  let me = null;
  let idle = false;

  // ---- netcode ------------------------------------------------------------
  const readWorld = () => {
    const snap = client.snapshot;
    if (!snap) return;
    const rules = snap.rules || {};
    world.width = snap.width;
    world.height = snap.height;
    world.speed = rules.ship_speed ?? world.speed;
    world.radius = rules.ship_radius ?? world.radius;
    world.range = rules.shot_range ?? world.range;
    if (client.tickRate) world.tickMs = 1000 / client.tickRate;
    const cooldownTicks = Math.max(1, Math.ceil((rules.fire_cooldown_ms ?? 300) / world.tickMs - 1e-9));
    world.cooldownMs = (cooldownTicks + 0.5) * world.tickMs; // half a tick spare: jitter never wastes a shot
  };
  // Registered before the binder's listeners: the world is known before a reconcile replays.
  client.addEventListener("welcome", readWorld);
  client.addEventListener("state", readWorld);
  // The own ship as predicted just before a picture reconciles it (the binder listens next).
  let beforeReconcile = null;
  const notePrediction = () => {
    net.frame(performance.now()); // the predictor's clock up to now, as the binder will run it
    beforeReconcile = predictor.sample();
  };
  client.addEventListener("state", notePrediction);
  client.addEventListener("tick", notePrediction);

  /** Ships that appear, die or jump (a respawn) are not slid across the field. */
  const blendShip = (a, b, t) => {
    const snap = world.speed * (world.tickMs / 1000) * 2 + 0.5;
    if (a.alive !== b.alive || Math.abs(b.x - a.x) > snap || Math.abs(b.y - a.y) > snap) return { ...(t < 0.5 ? a : b) };
    return lerpEntity(a, b, t);
  };
  const ownShip = (snapshot, player) => (snapshot?.ships || []).find((s) => s.id === player) ?? null;
  const placeShip = (picture, player, ship) => {
    const ships = picture.ships || (picture.ships = []);
    const at = ships.findIndex((s) => s.id === player);
    if (at >= 0) ships[at] = { ...ships[at], ...ship };
    else ships.push({ ...ship });
  };
  const interpolator = new Interpolator({ lerp: blendShip });
  const predictor = new Predictor({ predict: shipPredictor(world), own: ownShip, place: placeShip });
  const net = bindNetcode(client, { predictor, interpolator });
  client.addEventListener("state", () => absorb(beforeReconcile, predictor.sample()));
  client.addEventListener("tick", () => absorb(beforeReconcile, predictor.sample()));

  // ---- smoothing ------------------------------------------------------------
  // A reconcile that corrects the prediction, or an input that changes the tick
  // in progress, moves the predicted ship at once; the jump is drawn as an
  // offset that fades to nothing within SMOOTH_MS: the ship glides, it does not jump.
  let smooth = { x: 0, y: 0, at: 0 };
  const offsetAt = (now) => {
    const k = 1 - (now - smooth.at) / SMOOTH_MS;
    return k > 0 ? { x: smooth.x * k, y: smooth.y * k } : { x: 0, y: 0 };
  };
  const absorb = (before, after) => {
    const now = performance.now();
    if (!before || !after || before.alive !== after.alive) return;
    if (before.x === after.x && before.y === after.y) return; // nothing moved: the fade runs on
    const left = offsetAt(now);
    const x = left.x + before.x - after.x;
    const y = left.y + before.y - after.y;
    smooth = Math.hypot(x, y) > SMOOTH_MAX ? { x: 0, y: 0, at: now } : { x, y, at: now };
  };

  // ---- inputs -------------------------------------------------------------
  let sentStick = [0, 0]; // the stick the server holds once our inputs land
  let stick = [0, 0];
  let aim = null; // the aim the player holds now (radians)
  let sentAim = null;
  let lastAimSentAt = -Infinity;
  let aimTimer = 0;
  let retryTimer = 0;
  let nextFireAt = 0;
  let lastRespawnAt = -Infinity;
  let tokens = BUDGET.burst;
  let tokensAt = performance.now();
  /** @type {{at: number, frame: number, stick: [number, number]} | null} the last stick change sent (for tests) */
  let lastStickSent = null;

  const takeToken = (now) => {
    tokens = Math.min(BUDGET.burst, tokens + ((now - tokensAt) / 1000) * BUDGET.rate);
    tokensAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  /** Send what changed (and a shot, if `fire`); false when the budget says wait. */
  const flush = ({ fire = false, respawn = false } = {}) => {
    if (!client.connected) return true;
    const now = performance.now();
    const data = {};
    if (stick[0] !== sentStick[0] || stick[1] !== sentStick[1]) data.move = stick.slice();
    if (aim != null && (sentAim == null || Math.abs(aim - sentAim) >= AIM_STEP || fire)) {
      if (fire || data.move || now - lastAimSentAt >= AIM_EVERY_MS) data.aim = wireAim(aim);
    }
    if (fire) {
      data.fire = true;
      const seen = net.seenTick();
      if (seen != null) data.seen = seen;
    }
    if (respawn) data.respawn = true;
    if (!Object.keys(data).length) return true;
    if (!takeToken(now)) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => flush(), 1000 / BUDGET.rate);
      return false;
    }
    if (data.move) sentStick = data.move;
    // Every input records the stick in force after it: the server keeps the last `move`.
    // The predictor's clock up to now first (it runs on frames): the input is in force from
    // the tick after the one in progress now, not after the one of the last frame.
    net.frame(now);
    const before = predictor.sample();
    const seq = net.sendInput(data, { move: sentStick });
    absorb(before, predictor.sample());
    if (!seq) return true;
    if (data.move) lastStickSent = { at: now, frame: view.frame, stick: data.move };
    if (data.aim != null) {
      sentAim = data.aim;
      lastAimSentAt = now;
    }
    onInputSent();
    return true;
  };

  const scheduleAim = () => {
    if (aimTimer) return;
    const wait = Math.max(0, AIM_EVERY_MS - (performance.now() - lastAimSentAt));
    aimTimer = setTimeout(() => {
      aimTimer = 0;
      flush();
    }, wait);
  };

  const ownNow = () => ownShip(client.snapshot, me);

  /** The aim from the own ship as drawn to the aim point; sent soon if it changed. */
  const updateAim = (own) => {
    if (!own || !own.alive || !controls.aimPoint) return;
    const target = painter.toWorld(controls.aimPoint);
    if (target.x !== own.x || target.y !== own.y) aim = Math.atan2(target.y - own.y, target.x - own.x);
    if (aim != null && (sentAim == null || Math.abs(aim - sentAim) >= AIM_STEP)) scheduleAim();
  };

  const respawn = () => {
    const ship = ownNow();
    const now = performance.now();
    if (!client.connected || (ship && ship.alive) || now - lastRespawnAt < RESPAWN_EVERY_MS) return;
    if (flush({ respawn: true })) lastRespawnAt = now;
  };

  /** Fire now if the gun is ready: the input, and the tracer the player sees at once. */
  const fire = (now, picture, own) => {
    if (now < nextFireAt || aim == null || !client.connected) return;
    if (!flush({ fire: true })) return;
    nextFireAt = now + world.cooldownMs;
    const end = traceShot(picture, own, aim, world.range, world.radius);
    localShots.push({ at: now, x0: own.x, y0: own.y, x1: end.x, y1: end.y, color: own.color, hit: end.hit != null });
  };

  const controls = new ArenaControls(
    canvas,
    {
      onStick(next) {
        stick = next;
        flush();
      },
      onAim: () => updateAim(lastOwn),
      onTrigger(down) {
        if (!down) return;
        const ship = ownNow();
        if (ship && !ship.alive) respawn();
        else if (lastOwn && lastOwn.alive) fire(performance.now(), lastPicture, lastOwn); // not a frame later
      },
      onFirstTouch,
    },
    touchArea,
  );

  // ---- events to draw -------------------------------------------------------
  /** Others' shots, drawn when the interpolated picture reaches their tick. */
  const shots = [];
  /** Own shots, drawn at once from the predicted ship. */
  const localShots = [];
  const sparks = [];
  const hurtAt = new Map();
  client.addEventListener("tick", (e) => {
    const msg = e.detail;
    const now = performance.now();
    for (const [shooter, x0, y0, x1, y1, hit] of msg.shots || []) {
      if (shooter === me) {
        if (hit != null) sparks.push({ at: now, x: x1, y: y1 });
        continue;
      }
      const ship = ownShip(client.snapshot, shooter);
      shots.push({ tick: msg.tick, shown: null, x0, y0, x1, y1, hit: hit != null, color: ship?.color || "#ffffff" });
    }
    for (const [id] of msg.hp || []) hurtAt.set(id, { tick: msg.tick, at: id === me ? now : null });
    if (shots.length > 200) shots.splice(0, shots.length - 200);
  });

  // ---- the frame loop ---------------------------------------------------------
  const painter = new ArenaPainter(canvas);
  canvas.style.cursor = "crosshair";
  const trail = []; // the own ship as drawn, last frames (for tests)
  let stopFrames = () => {};
  let lastPicture = null;
  let lastOwn = null;

  const view = {
    name,
    frame: 0,
    net,
    predictor,
    interpolator,
    painter,
    controls,
    /** @type {{frame: number, at: number, x: number, y: number} | null} the own ship as last drawn */
    drawn: null,
    trail,
    shots,
    localShots,
    get lastStickSent() {
      return lastStickSent;
    },
    get me() {
      return me;
    },
    set idle(value) {
      idle = value;
    },
    welcome(msg) {
      me = msg.player;
      smooth = { x: 0, y: 0, at: 0 };
      // The stick held now goes out at once, still: a resumed seat may hold an older one,
      // and the first ack lines the prediction up before the first key.
      sentStick = [NaN, NaN];
      sentAim = null;
      shots.length = localShots.length = sparks.length = 0;
      hurtAt.clear();
      flush();
    },
    reset() {},
    tick() {},
    mine: ownNow,
    respawn,
    destroy() {
      stopFrames();
      controls.destroy();
      net.unbind();
      clearTimeout(aimTimer);
      clearTimeout(retryTimer);
    },
  };

  const age = (list, now, ms) => {
    while (list.length && now - list[0].at > ms) list.shift();
    return list.map((p) => ({ ...p, age: (now - p.at) / ms }));
  };

  const frame = () => {
    const now = performance.now(); // one clock for the netcode: never earlier than its last push
    view.frame += 1;
    const picture = net.frame(now);
    const own = picture && me ? (picture.ships || []).find((s) => s.id === me) : null;
    if (own) {
      const offset = offsetAt(now);
      own.x += offset.x;
      own.y += offset.y;
    }
    lastPicture = picture;
    lastOwn = own;
    updateAim(own);
    if (own && own.alive && controls.triggerDown) fire(now, picture, own);
    const renderTick = interpolator.renderTick(now);
    const tracers = [];
    for (const s of shots) {
      if (s.shown == null && renderTick != null && renderTick >= s.tick - 0.5) s.shown = now;
      if (s.shown != null && now - s.shown < TRACER_MS) tracers.push({ ...s, age: (now - s.shown) / TRACER_MS });
    }
    while (shots.length && shots[0].shown != null && now - shots[0].shown >= TRACER_MS) shots.shift();
    const hurt = new Map();
    for (const [id, h] of hurtAt) {
      if (h.at == null && renderTick != null && renderTick >= h.tick - 0.5) h.at = now;
      if (h.at == null) continue;
      if (now - h.at >= HURT_MS) hurtAt.delete(id);
      else hurt.set(id, (now - h.at) / HURT_MS);
    }
    painter.draw(
      {
        picture,
        me,
        aim: own && own.alive ? aim : null,
        tracers: tracers.concat(age(localShots, now, TRACER_MS)),
        sparks: age(sparks, now, TRACER_MS),
        hurt,
        thumb: controls.thumb,
        idle,
      },
      now,
    );
    if (own) {
      view.drawn = { frame: view.frame, at: now, x: own.x, y: own.y };
      trail.push(view.drawn);
      if (trail.length > 240) trail.shift();
    }
  };
  stopFrames = runFrames(painter, frame);
  return view;
}
