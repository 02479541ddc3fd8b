// Client-side prediction for any game: the player's own entity drawn ahead
// of the server, reconciled with every authoritative picture on its `ack`.
// No DOM, no network: it runs in browsers and under Node alike. Used through
// static/netcode.js; see docs/client.md, "Prediction and interpolation".
//
// The rule that maps inputs to ticks (the heart of it): an input recorded
// while the local clock is at tick L is "in force" from tick L+1 on, until
// the next input replaces it, exactly as a persistent input (a heading, a
// thrust) works on the server, where an input takes effect at the room's next
// step. Each tick is simulated once, with the input in force for that tick.

const EPSILON = 1e-9;

/**
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

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
    this.pending.push({ seq, data: structuredClone(data), start: this.tick + 1 }); // the page may reuse its object
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
    this.state = server == null ? null : this.#replay(structuredClone(server), from);
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
