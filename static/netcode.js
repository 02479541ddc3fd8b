// Client-side netcode for any game: prediction of the player's own entity,
// reconciled on the server's `ack`, and interpolation of everything else a
// little in the past. No DOM, no canvas, no network: it runs in browsers and
// under Node alike. See docs/client.md, "Prediction and interpolation".
//
//   import { Predictor, Interpolator, bindNetcode } from "/static/netcode.js";
//   const predictor = new Predictor({ predict: moveShip, own: findMyShip });
//   const net = bindNetcode(client, { predictor, interpolator: new Interpolator() });
//   net.sendInput({ move: [1, 0] });                  // instead of client.sendInput
//   requestAnimationFrame(function frame() { draw(net.frame()); requestAnimationFrame(frame); });
//
// The rule that maps inputs to ticks (the heart of the predictor): an input
// sent while the local clock is at tick L is "in force" from tick L+1 on, until
// the next input replaces it, exactly as a persistent input (a heading, a
// thrust) works on the server, where an input takes effect at the room's next
// step. Each tick is simulated with the input in force for that tick.

const TAU = 2 * Math.PI;
const EPSILON = 1e-9;

/**
 * @template T
 * @param {T} value
 * @returns {T}
 */
function copyJson(value) {
  return structuredClone(value);
}

/**
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

// ---- prediction -----------------------------------------------------------

/**
 * @typedef {object} PendingInput
 * @property {number} seq   the input's `seq`, as sent.
 * @property {unknown} data what `predict` receives for the ticks it is in force.
 * @property {number} start the first local tick it is in force.
 */

/**
 * @template S
 * @typedef {object} PredictorOptions
 * @property {(own: S, input: any, dt: number) => S} predict
 *   pure: the own entity after one tick (or, for drawing between ticks, a
 *   fraction of one: `dt` is then that fraction of the tick's seconds) under
 *   `input`, the input in force (`null` before the first one).
 * @property {(snapshot: any, player: string | null) => S | null | undefined} own
 *   the own entity in a snapshot (or null when it has none). To use
 *   `overlay()` with the default `place`, return the entity object itself.
 * @property {(snapshot: any, player: string | null, own: S) => void} [place]
 *   writes a predicted own entity into a picture; default: `Object.assign`
 *   onto the object `own(snapshot, player)` returns.
 * @property {string | null} [player] this player's id (also set by `reset`).
 * @property {number} [tickRate=20] ticks a second (also set by `reset`).
 * @property {number} [maxPending=128] unacknowledged inputs kept at most.
 * @property {number} [maxLead=32] ticks the prediction may run ahead of the
 *   last server picture; beyond that `advance` holds (the server went quiet).
 * @property {number} [lostAfter=64] an input still unacknowledged when the
 *   server's pictures are more than this many ticks past its first tick is
 *   dropped as lost (the server refused it: `rate_limited`, `bad_message`).
 */

/**
 * Predicts the player's own entity ahead of the server and reconciles it with
 * every authoritative picture.
 *
 * Local ticks: the predictor keeps its own tick counter `tick`, the tick its
 * `state` stands for. It learns how its ticks line up with the server's from
 * the acks: the first picture whose `ack` covers an input is the first server
 * tick that applied it, and that input's first local tick maps to it. So
 * local tick = server tick + `shift`. A reconcile with the server picture of
 * tick T starts from the server's own entity at local tick T + shift and
 * replays every local tick after it up to `tick`, each with the input in
 * force for that tick: the newest pending input whose first tick is not after
 * it, else the newest acknowledged one (`base`).
 *
 * @template S
 */
export class Predictor {
  /** @type {S | null} the predicted own entity at local tick `tick`. */
  state = null;
  /** @type {number | null} the local tick `state` stands for (null before any picture). */
  tick = null;
  /** @type {PendingInput[]} unacknowledged inputs, oldest first. */
  pending = [];
  /** @type {unknown} the input in force before the pending ones: the newest acknowledged. */
  base = null;
  /** Highest acknowledged seq seen. */
  ack = 0;
  /** @type {number | null} server tick of the last reconciled picture. */
  serverTick = null;
  /** Local tick minus server tick. */
  shift = 0;
  /** Whether `shift` was learned from an ack (else it is a guess). */
  aligned = false;
  /** Inputs dropped because more than `maxPending` were unacknowledged. */
  dropped = 0;
  /** Inputs dropped because the server never acknowledged them. */
  lost = 0;
  #seq = 0; // last recorded seq
  #elapsed = 0; // seconds into the tick after `tick`

  /** @param {PredictorOptions<S>} options */
  constructor({ predict, own, place, player = null, tickRate = 20, maxPending = 128, maxLead = 32, lostAfter = 64 }) {
    if (typeof predict !== "function") throw new TypeError("Predictor needs a predict function");
    if (typeof own !== "function") throw new TypeError("Predictor needs an own function");
    this.predict = predict;
    this.own = own;
    this.place = place || defaultPlace(own);
    this.maxPending = maxPending;
    this.maxLead = maxLead;
    this.lostAfter = lostAfter;
    /** @type {string | null} */
    this.player = player;
    /** Seconds a tick lasts. */
    this.dt = 1 / tickRate;
  }

  /**
   * Forget everything but the counters: a new connection or a new picture
   * (the binder calls it on every `welcome`).
   * @param {{player?: string | null, tickRate?: number}} [options]
   */
  reset({ player, tickRate } = {}) {
    if (player !== undefined) this.player = player;
    if (tickRate) this.dt = 1 / tickRate;
    this.state = null;
    this.tick = null;
    this.pending = [];
    this.base = null;
    this.ack = 0;
    this.serverTick = null;
    this.shift = 0;
    this.aligned = false;
    this.#seq = 0;
    this.#elapsed = 0;
  }

  /** Part of the next tick already elapsed locally, 0 to 1. */
  get fraction() {
    return this.tick == null ? 0 : clamp(this.#elapsed / this.dt, 0, 1);
  }

  /**
   * Record an input just sent, in force from the next local tick on. Inputs
   * whose `seq` does not grow, or that come before any picture, are ignored.
   * @param {number} seq the seq `MmoClient.sendInput` returned.
   * @param {unknown} data what `predict` receives while it is in force.
   * @returns {boolean} whether it was recorded.
   */
  input(seq, data) {
    if (this.tick == null || !Number.isInteger(seq) || seq <= this.#seq || seq <= this.ack) return false;
    this.#seq = seq;
    this.pending.push({ seq, data, start: this.tick + 1 });
    if (this.pending.length > this.maxPending) {
      const oldest = /** @type {PendingInput} */ (this.pending.shift());
      this.base = oldest.data; // taken as applied: the best guess left
      this.dropped += 1;
    }
    return true;
  }

  /**
   * Before the first ack teaches the alignment, guess it from the round
   * trip: an input reaches the server's pictures about one round trip later.
   * @param {number} rtt milliseconds.
   */
  hintRtt(rtt) {
    if (this.aligned || !(rtt >= 0)) return;
    this.shift = -Math.round((rtt / 1000) / this.dt);
  }

  /**
   * Start again from an authoritative picture: drop the inputs with seq <=
   * `ack`, take the server's own entity, replay the rest on top. A picture
   * older than the last one is ignored; so is an ack lower than one seen.
   * @param {any} snapshot the server's picture of tick `tick`.
   * @param {number} ack the highest seq the server applied by then.
   * @param {number} tick the picture's server tick.
   * @returns {boolean} whether the picture was used.
   */
  reconcile(snapshot, ack, tick) {
    if (this.serverTick != null && tick < this.serverTick) return false;
    this.serverTick = tick;
    if (ack > this.ack) this.#acknowledge(ack, tick);
    const from = tick + this.shift;
    if (this.tick == null || this.tick < from) {
      this.tick = from; // the clock was behind the picture: that tick starts now
      this.#elapsed = 0;
    }
    if (this.tick > from + this.maxLead) this.#pullBack(from + this.maxLead);
    this.#dropLost(from);
    const server = this.own(snapshot, this.player);
    this.state = server == null ? null : this.#replay(copyJson(server), from);
    return true;
  }

  /**
   * Run the local clock on by `seconds`, predicting each whole tick that
   * fills. Call it every animation frame with the time since the last one,
   * or every tick period with the tick's seconds.
   * @param {number} seconds
   */
  advance(seconds) {
    if (this.tick == null || !(seconds > 0)) return;
    this.#elapsed += seconds;
    const limit = this.#limit();
    while (this.#elapsed >= this.dt - EPSILON) {
      if (this.tick >= limit) {
        this.#elapsed = 0; // hold: the server is quiet, do not run away
        return;
      }
      this.#elapsed = Math.max(0, this.#elapsed - this.dt);
      this.tick += 1;
      if (this.state != null) this.state = this.predict(this.state, this.inputAt(this.tick), this.dt);
    }
  }

  /**
   * The own entity to draw now: `state` carried on by the part of the next
   * tick already elapsed, so a key shows on the next frame. Null when the
   * server's picture holds no own entity.
   * @returns {S | null}
   */
  sample() {
    if (this.state == null || this.tick == null) return null;
    const part = this.fraction;
    if (part <= 0) return this.state;
    return this.predict(this.state, this.inputAt(this.tick + 1), this.dt * part);
  }

  /**
   * Write `sample()` into a picture (for instance the interpolated one), so
   * the own entity is drawn where it is predicted. Returns the picture.
   * @template P
   * @param {P} picture
   * @returns {P}
   */
  overlay(picture) {
    const own = this.sample();
    if (picture != null && own != null) this.place(picture, this.player, own);
    return picture;
  }

  /**
   * The input in force at local tick `tick`.
   * @param {number} tick
   * @returns {any}
   */
  inputAt(tick) {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i].start <= tick) return this.pending[i].data;
    }
    return this.base;
  }

  // ---- internals ---------------------------------------------------------

  /**
   * @param {number} ack
   * @param {number} tick
   */
  #acknowledge(ack, tick) {
    /** @type {PendingInput | null} */
    let newest = null;
    while (this.pending.length && this.pending[0].seq <= ack) newest = /** @type {PendingInput} */ (this.pending.shift());
    if (newest) {
      this.base = newest.data;
      this.shift = newest.start - tick; // that input's first local tick is this server tick
      this.aligned = true;
    }
    this.ack = ack;
    if (this.#seq < ack) this.#seq = ack;
  }

  /** @param {number} tick the local tick `this.tick` may be at most. */
  #pullBack(tick) {
    this.tick = tick;
    this.#elapsed = 0;
    for (const p of this.pending) if (p.start > tick + 1) p.start = tick + 1;
  }

  /** @param {number} from the local tick of the server's picture. */
  #dropLost(from) {
    while (this.pending.length && this.pending[0].start + this.lostAfter < from) {
      this.pending.shift();
      this.lost += 1;
    }
  }

  /**
   * @param {S} state the server's own entity at local tick `from`.
   * @param {number} from
   * @returns {S}
   */
  #replay(state, from) {
    const until = /** @type {number} */ (this.tick);
    let next = 0; // first pending input not yet in force
    let input = this.base;
    for (let t = from + 1; t <= until; t++) {
      while (next < this.pending.length && this.pending[next].start <= t) input = this.pending[next++].data;
      state = this.predict(state, input, this.dt);
    }
    return state;
  }

  #limit() {
    return this.serverTick == null ? Infinity : this.serverTick + this.shift + this.maxLead;
  }
}

/**
 * @template S
 * @param {(snapshot: any, player: string | null) => S | null | undefined} own
 * @returns {(snapshot: any, player: string | null, state: S) => void}
 */
function defaultPlace(own) {
  return (snapshot, player, state) => {
    const target = own(snapshot, player);
    if (target != null && typeof target === "object") Object.assign(target, state);
  };
}

// ---- interpolation ----------------------------------------------------------

/**
 * `a + (b - a) * t` along the shorter way round the circle, in radians; the
 * result lies in [-pi, pi).
 * @param {number} a
 * @param {number} b
 * @param {number} t
 */
export function lerpAngle(a, b, t) {
  let d = (b - a) % TAU;
  if (d > Math.PI) d -= TAU;
  else if (d < -Math.PI) d += TAU;
  return wrapAngle(a + d * t);
}

/** @param {number} a radians. @returns {number} the same angle in [-pi, pi). */
export function wrapAngle(a) {
  const r = (((a + Math.PI) % TAU) + TAU) % TAU;
  return r - Math.PI;
}

/**
 * @typedef {object} LerpOptions
 * @property {string[]} [linear=["x", "y"]] numeric fields blended in a straight line.
 * @property {string[]} [angles=["aim", "angle", "heading", "rotation"]] radians, blended the short way round.
 * @property {number} [snap=Infinity] a `linear` field that changes by more
 *   than this between two snapshots is not blended (a respawn, a teleport).
 */

/**
 * A per-entity blend: the `linear` and `angles` fields blended, every other
 * field taken from the nearer snapshot (`a` while t < 0.5, then `b`).
 * @param {LerpOptions} [options]
 * @returns {(a: Record<string, any>, b: Record<string, any>, t: number) => Record<string, any>}
 */
export function makeLerp({ linear = ["x", "y"], angles = ["aim", "angle", "heading", "rotation"], snap = Infinity } = {}) {
  return (a, b, t) => {
    const out = { ...(t < 0.5 ? a : b) };
    if (snap < Infinity && linear.some((k) => Math.abs(b[k] - a[k]) > snap)) return out;
    for (const k of linear) {
      if (typeof a[k] === "number" && typeof b[k] === "number") out[k] = a[k] + (b[k] - a[k]) * t;
    }
    for (const k of angles) {
      if (typeof a[k] === "number" && typeof b[k] === "number") out[k] = lerpAngle(a[k], b[k], t);
    }
    return out;
  };
}

/** The default blend: `x`, `y` linear; `aim`, `angle`, `heading`, `rotation` as angles. */
export const lerpEntity = makeLerp();

/**
 * @typedef {object} Frame
 * @property {number} tick
 * @property {Record<string, any>} snapshot a private copy.
 */

/**
 * @typedef {object} InterpolatorOptions
 * @property {number} [tickRate=20] ticks a second (also set by `reset`).
 * @property {number | null} [renderDelay] ms behind the newest picture the
 *   others are drawn; default the larger of 100 ms and two tick periods.
 * @property {number} [maxExtrapolation=50] ms the picture may run past the
 *   newest snapshot (blending on beyond it) before it holds.
 * @property {(a: any, b: any, t: number) => any} [lerp] the per-entity
 *   blend; default `lerpEntity`.
 * @property {string[] | null} [collections] the snapshot's fields that hold
 *   entities; default every top-level array of objects with an `id`.
 * @property {(entity: any) => unknown} [id] an entity's identity; default `entity.id`.
 * @property {number} [capacity=32] snapshots kept.
 * @property {number} [clockWindow=64] arrivals the clock estimate looks at.
 * @property {() => number} [now] ms clock; default `performance.now()`.
 */

/**
 * Keeps the last few authoritative snapshots and draws them `renderDelay` ms
 * in the past, blending the two around that time.
 *
 * Time: a snapshot of tick N is taken to stand for server time N tick
 * periods; its arrival fixes `base`, the local time of server tick 0, as the
 * earliest arrival over the last `clockWindow` snapshots (network delay only
 * ever adds, so the least delayed arrival is the truest). The picture drawn
 * at local time `now` is that of tick `(now - base - renderDelay) / tickMs`.
 */
export class Interpolator {
  /** @type {Frame[]} the snapshots kept, oldest first. */
  frames = [];
  /** @type {number | null} local ms of server tick 0 (the clock estimate). */
  base = null;
  /** @type {number[]} arrival minus tick time, newest last. */
  #arrivals = [];

  /** @param {InterpolatorOptions} [options] */
  constructor({
    tickRate = 20,
    renderDelay = null,
    maxExtrapolation = 50,
    lerp = lerpEntity,
    collections = null,
    id = (entity) => entity.id,
    capacity = 32,
    clockWindow = 64,
    now = () => performance.now(),
  } = {}) {
    this.fixedDelay = renderDelay;
    this.maxExtrapolation = maxExtrapolation;
    this.lerp = lerp;
    this.collections = collections;
    this.id = id;
    this.capacity = capacity;
    this.clockWindow = clockWindow;
    this.now = now;
    this.tickMs = 1000 / tickRate;
  }

  /** ms behind the clock estimate that the picture is drawn. */
  get renderDelay() {
    return this.fixedDelay ?? Math.max(100, 2 * this.tickMs);
  }

  /**
   * Forget every snapshot (a new connection: tick numbers may start over).
   * @param {{tickRate?: number}} [options]
   */
  reset({ tickRate } = {}) {
    if (tickRate) this.tickMs = 1000 / tickRate;
    this.frames = [];
    this.base = null;
    this.#arrivals = [];
  }

  /**
   * Keep a copy of the picture of `tick`, received at `at` (default now). A
   * tick older than the newest kept is ignored; the same tick again replaces it.
   * @param {any} snapshot
   * @param {number} tick
   * @param {number} [at]
   * @returns {boolean} whether it was kept.
   */
  push(snapshot, tick, at = this.now()) {
    const last = this.frames[this.frames.length - 1];
    if (last && tick < last.tick) return false;
    const frame = { tick, snapshot: copyJson(snapshot) };
    if (last && tick === last.tick) this.frames[this.frames.length - 1] = frame;
    else this.frames.push(frame);
    if (this.frames.length > this.capacity) this.frames.shift();
    this.#arrivals.push(at - tick * this.tickMs);
    if (this.#arrivals.length > this.clockWindow) this.#arrivals.shift();
    this.base = Math.min(...this.#arrivals);
    return true;
  }

  /**
   * The (fractional) server tick drawn at `now`, before clamping to the
   * snapshots held; null with none.
   * @param {number} [now]
   * @returns {number | null}
   */
  renderTick(now = this.now()) {
    if (this.base == null) return null;
    return (now - this.base - this.renderDelay) / this.tickMs;
  }

  /**
   * The server tick of the picture drawn at `now`, a whole number within the
   * snapshots held: what to send as the tick a player saw (lag compensation).
   * @param {number} [now]
   * @returns {number | null}
   */
  seenTick(now = this.now()) {
    const tick = this.renderTick(now);
    if (tick == null) return null;
    const first = this.frames[0].tick;
    const last = this.frames[this.frames.length - 1].tick;
    return clamp(Math.round(tick), first, last);
  }

  /**
   * The picture to draw at `now`: a new object shaped like the snapshots,
   * its entities fresh (shallow) copies the caller may change. Before the
   * oldest snapshot it shows the oldest; past the newest it blends on for at
   * most `maxExtrapolation` ms, then holds the newest.
   * @param {number} [now]
   * @returns {Record<string, any> | null}
   */
  sample(now = this.now()) {
    const tick = this.renderTick(now);
    if (tick == null) return null;
    const frames = this.frames;
    const first = frames[0];
    const last = frames[frames.length - 1];
    if (tick <= first.tick) return this.blend(first, first, 1);
    if (frames.length === 1) return this.blend(last, last, 1);
    if (tick >= last.tick) return this.#extrapolate(tick);
    let i = frames.length - 2;
    while (frames[i].tick > tick) i--;
    const a = frames[i];
    const b = frames[i + 1];
    return this.blend(a, b, (tick - a.tick) / (b.tick - a.tick));
  }

  /** @param {number} tick past the newest frame. */
  #extrapolate(tick) {
    const frames = this.frames;
    const a = frames[frames.length - 2];
    const b = frames[frames.length - 1];
    const past = Math.min(tick - b.tick, this.maxExtrapolation / this.tickMs);
    return this.blend(a, b, 1 + past / (b.tick - a.tick));
  }

  /**
   * Blend two frames at `t` (0 is `a`, 1 is `b`). Entities in both are
   * blended with `lerp`; one in only one of them is shown, unmoved, while the
   * picture is nearer to that one (t < 0.5 for `a`). Other fields come from
   * the nearer frame.
   * @param {Frame} a
   * @param {Frame} b
   * @param {number} t
   * @returns {Record<string, any>}
   */
  blend(a, b, t) {
    const near = t < 0.5 ? a.snapshot : b.snapshot;
    /** @type {Record<string, any>} */
    const out = { ...near };
    for (const key of this.#collectionsOf(a.snapshot, b.snapshot)) {
      out[key] = this.#blendList(a.snapshot[key] || [], b.snapshot[key] || [], t);
    }
    return out;
  }

  /**
   * @param {any[]} listA
   * @param {any[]} listB
   * @param {number} t
   */
  #blendList(listA, listB, t) {
    const byId = new Map(listA.map((e) => [this.id(e), e]));
    const out = [];
    for (const eb of listB) {
      const key = this.id(eb);
      const ea = byId.get(key);
      if (ea !== undefined) {
        out.push(this.lerp(ea, eb, t));
        byId.delete(key);
      } else if (t >= 0.5) {
        out.push({ ...eb });
      }
    }
    if (t < 0.5) for (const ea of byId.values()) out.push({ ...ea });
    return out;
  }

  /**
   * @param {Record<string, any>} a
   * @param {Record<string, any>} b
   * @returns {string[]}
   */
  #collectionsOf(a, b) {
    if (this.collections) return this.collections;
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].filter((k) => isEntityList(a[k]) || isEntityList(b[k]));
  }
}

/** @param {unknown} value */
function isEntityList(value) {
  if (!Array.isArray(value) || value.length === 0) return false;
  const first = value[0];
  return first !== null && typeof first === "object" && !Array.isArray(first) && "id" in first;
}

// ---- wiring ---------------------------------------------------------------

/**
 * The part of `MmoClient` the binder uses.
 * @typedef {object} NetcodeClient
 * @property {(type: string, listener: (event: any) => void) => void} addEventListener
 * @property {(type: string, listener: (event: any) => void) => void} removeEventListener
 * @property {(data: any) => number} sendInput
 * @property {any} snapshot
 * @property {number | null} tick
 * @property {number} ack
 * @property {string | null} player
 * @property {number | null} tickRate
 */

/**
 * @typedef {object} Netcode
 * @property {(data: any, controls?: unknown) => number} sendInput sends
 *   `data` and records `controls` (default `data`; null: nothing) with the
 *   predictor; returns the seq (0: not sent).
 * @property {(now?: number) => Record<string, any> | null} frame the picture
 *   to draw now: interpolated, the own entity predicted (its clock run up
 *   to `now` first).
 * @property {(now?: number) => number | null} seenTick the tick the player sees.
 * @property {() => void} unbind stop listening to the client.
 */

/**
 * Wire a predictor and an interpolator to an `MmoClient`: every `welcome`
 * resets both; every `welcome`, `state` and `tick` is pushed to the
 * interpolator and reconciled by the predictor (its clock run up to the
 * moment the picture came first); every `pong` gives the predictor its guess
 * of the lead until an ack teaches it.
 * @param {NetcodeClient} client
 * @param {{predictor?: Predictor<any> | null, interpolator?: Interpolator, now?: () => number}} [parts]
 * @returns {Netcode}
 */
export function bindNetcode(client, { predictor = null, interpolator = new Interpolator(), now = interpolator.now } = {}) {
  /** @type {number | null} when the predictor's clock was last advanced */
  let advanced = null;
  /** Run the predictor's clock up to `at` (before a reconcile, too: no time is counted twice). */
  const catchUp = (at = now()) => {
    if (advanced != null) predictor?.advance(Math.max(0, at - advanced) / 1000);
    advanced = at;
  };
  const update = () => {
    if (client.snapshot == null || client.tick == null) return;
    const at = now();
    interpolator.push(client.snapshot, client.tick, at);
    catchUp(at);
    predictor?.reconcile(client.snapshot, client.ack, client.tick);
  };
  const welcome = () => {
    const tickRate = client.tickRate || undefined;
    interpolator.reset({ tickRate });
    predictor?.reset({ player: client.player, tickRate });
    advanced = null;
    update();
  };
  /** @param {any} event */
  const pong = (event) => predictor?.hintRtt(event.detail.rtt);
  /** @type {[string, (event: any) => void][]} */
  const listeners = [
    ["welcome", welcome],
    ["state", update],
    ["tick", update],
    ["pong", pong],
  ];
  for (const [type, fn] of listeners) client.addEventListener(type, fn);
  return {
    sendInput(data, controls = data) {
      const seq = client.sendInput(data);
      if (seq && controls != null) predictor?.input(seq, controls);
      return seq;
    },
    frame(at = now()) {
      catchUp(at);
      const picture = interpolator.sample(at);
      return predictor ? predictor.overlay(picture) : picture;
    },
    seenTick: (at = now()) => interpolator.seenTick(at),
    unbind() {
      for (const [type, fn] of listeners) client.removeEventListener(type, fn);
    },
  };
}
