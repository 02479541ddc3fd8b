// What a spectator's page and the replay page share: the picture a watcher
// holds, brought up to date frame by frame with the game's own delta code.
//
// A plain room's frames go through the game module's `applyDelta`; a view
// room's (welcome and state carry `view`) through snake-view-delta.js, whose
// picture is turned back into a SNAPSHOT for the game's view to draw.

import { applyViewTick, viewPicture, viewSnapshot } from "./snake-view-delta.js";

/** A picture keeper for one game module: `begin(msg)` on a welcome or state, `apply(msg)` on a tick. */
export function pictureOf(game) {
  let picture = null; // a view room's picture (snake-view-delta.js), or null
  let snapshot = null;
  return {
    get snapshot() {
      return snapshot;
    },
    get view() {
      return picture ? picture.view : null;
    },
    /** A welcome's or a state's whole picture; returns the SNAPSHOT to draw. */
    begin(msg) {
      picture = msg.view ? viewPicture(msg.view, msg.state) : null;
      snapshot = picture ? viewSnapshot(picture) : msg.state; // (the caller clones what it keeps)
      return snapshot;
    },
    /** A tick's change applied; returns the SNAPSHOT to draw. */
    apply(msg) {
      if (picture) {
        applyViewTick(picture, msg);
        snapshot = viewSnapshot(picture);
      } else {
        game.applyDelta(snapshot, msg);
      }
      return snapshot;
    },
  };
}

/**
 * A stand-in for MmoClient that a game's view can be built on (it listens to
 * `welcome`, `tick` and `state` and reads `snapshot`), but that sends nothing:
 * the watcher has no seat.
 */
export class Watcher extends EventTarget {
  constructor() {
    super();
    this.snapshot = null;
    this.tick = null;
    this.tickRate = null;
    this.player = null;
    this.connected = false;
    this.seq = 0;
    this.ack = 0;
    this.pendingInputs = 0;
  }

  sendInput() {
    return 0; // a spectator sends no input
  }

  /** Hand a frame on to the view's listeners, `snapshot` already up to date. */
  emit(type, msg, snapshot) {
    this.snapshot = snapshot;
    if (typeof msg.tick === "number") this.tick = msg.tick;
    if (msg.tick_rate) this.tickRate = msg.tick_rate;
    this.dispatchEvent(new CustomEvent(type, { detail: msg }));
  }
}
