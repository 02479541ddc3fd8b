// Client-side netcode for any game, in one import: prediction of the
// player's own entity (static/predictor.js), interpolation of everything else
// (static/interpolator.js), and `bindNetcode`, which wires both to an
// MmoClient. No DOM, no canvas, no network of its own: it runs in browsers
// and under Node alike. See docs/client.md, "Prediction and interpolation".
//
//   import { Predictor, Interpolator, bindNetcode } from "/static/netcode.js";
//   const predictor = new Predictor({ predict: moveShip, own: findMyShip });
//   const net = bindNetcode(client, { predictor, interpolator: new Interpolator() });
//   net.sendInput({ move: [1, 0] });                  // instead of client.sendInput
//   requestAnimationFrame(function frame() { draw(net.frame()); requestAnimationFrame(frame); });

import { Predictor } from "./predictor.js";
import { Interpolator, lerpAngle, lerpEntity, makeLerp, wrapAngle } from "./interpolator.js";

export { Predictor, Interpolator, lerpAngle, lerpEntity, makeLerp, wrapAngle };

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
