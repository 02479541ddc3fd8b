// The snake game's browser module (the interface: docs/client.md, "Game
// modules"): snake-delta.js, snake-view-delta.js and snake-view.js behind the
// shape every game module has, plus the steering rule the page used to hold.
//
// In a view room (a `welcome` with `view`) the client's snapshot is the
// SNAPSHOT of the player's view, rebuilt after every tick from the picture
// snake-view-delta.js keeps (its buckets, each snake's cells with serials),
// with the view's rectangle as `view`: the page and the view read it as any
// snapshot, and the view follows the own head inside it.

import { applySnakeDelta, OPPOSITE } from "../snake-delta.js";
import { applyViewTick, viewPicture, viewSnapshot } from "../snake-view-delta.js";
import { ME_COLOR, SnakeView } from "../snake-view.js";

/** The protocol name this module draws (`GET /api/games`). */
export const name = "snake";

const PICTURE = Symbol("view picture");

/** The picture of a `welcome` or `state` (for `MmoClient`): in a view room, the view's. */
export function readState(msg) {
  if (!msg.view || !msg.state) return msg.state;
  const picture = viewPicture(msg.view, msg.state);
  return Object.assign(viewSnapshot(picture), { view: { ...picture.view }, [PICTURE]: picture });
}

/** Brings a snapshot from tick N-1 to N, in place (for `MmoClient`). */
export function applyDelta(snapshot, msg) {
  const picture = snapshot[PICTURE];
  if (!picture) return applySnakeDelta(snapshot, msg);
  applyViewTick(picture, msg);
  return Object.assign(snapshot, viewSnapshot(picture), { view: { ...picture.view } });
}

/** Help texts the page shows; `[Key]` is drawn as a key cap. */
export const texts = Object.freeze({
  controls: "Arrows / WASD steer · Space respawns · Enter chats",
  touchControls: "Touch: swipe to steer · tap to play again",
  touchHint: "swipe to steer",
  respawnKeys: "press [Space] or tap to play again",
  respawnTouch: "tap to play again",
  startHint: "press a key or swipe to start",
});

/** The colour the own snake is drawn in (no bot wears it): the page's own score row uses it. */
export const ownColor = ME_COLOR;

/** Tick rates the lobby offers for a new room (`default`: preselected). */
export const tickRates = Object.freeze([
  { value: 6, label: "Relaxed" },
  { value: 10, label: "Normal", default: true },
  { value: 15, label: "Fast" },
  { value: 24, label: "Frantic" },
]);

/**
 * What the score list shows: one row per snake.
 * @param {any} snapshot
 * @returns {{id: string, name: string, color: string, score: number, alive: boolean, bot: boolean}[]}
 */
export function players(snapshot) {
  return snapshot?.snakes || [];
}

/**
 * The view: a SnakeView that steers through `context.client`.
 * @param {HTMLCanvasElement} canvas
 * @param {import("./arena.js").ViewContext} context
 */
export function createView(canvas, { client, touchArea, onInputSent = () => {}, onFirstTouch = () => {} }) {
  let lastDir = null; // the last direction sent
  const send = (data) => {
    if (client.sendInput(data)) onInputSent();
  };
  const turn = (dir) => {
    const me = view.mySnake();
    if (!client.connected || !me || !me.alive) return;
    if (me.waiting) {
      // Standing in the start grace: any direction starts it (the server ignores a
      // turn straight back as a turn), the one it faces included.
      send({ dir });
      lastDir = dir === OPPOSITE[me.dir] ? me.dir : dir;
      return;
    }
    const current = client.pendingInputs > 0 && lastDir ? lastDir : me.dir;
    if (dir === current || dir === OPPOSITE[current]) return;
    send({ dir });
    lastDir = dir;
  };
  const respawn = () => {
    const me = view.mySnake();
    if (!client.connected || (me && me.alive)) return;
    send({ respawn: true });
    lastDir = null;
  };
  const view = new SnakeView(canvas, { touchArea, onTurn: turn, onRespawn: respawn, onSwipeStart: onFirstTouch });
  return {
    snakeView: view,
    get me() {
      return view.me;
    },
    set idle(value) {
      view.idle = value;
    },
    welcome(msg, snapshot) {
      lastDir = null;
      view.setMe(msg.player);
      view.setTickRate(msg.tick_rate);
      view.reset(snapshot);
    },
    reset: (snapshot) => view.reset(snapshot),
    minimap: (msg) => view.setMinimap(msg),
    wantedView: () => view.wantedView(),
    tick: (snapshot) => view.tick(snapshot),
    mine: () => view.mySnake(),
    waiting: () => view.waiting(),
    respawn,
    destroy: () => view.destroy(),
  };
}
