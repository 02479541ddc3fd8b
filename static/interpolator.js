// Entity interpolation for any game: every other entity drawn a little in the
// past, blended between the two received snapshots around that time. No DOM,
// no network: it runs in browsers and under Node alike. Used through
// static/netcode.js; see docs/client.md, "Prediction and interpolation".

const TAU = 2 * Math.PI;

/**
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

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
    const frame = { tick, snapshot: structuredClone(snapshot) };
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
