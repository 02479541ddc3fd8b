// The arena's input devices, read into three controls: the stick (WASD or
// the arrows; a virtual stick under the left thumb), the aim point (the
// mouse; a tap or drag under the right thumb) and the trigger (the left
// mouse button, Space; the right thumb). Knows nothing of ships or the
// network: arena.js turns these into inputs.

import { Listeners, isSpaceKey, keyDirection, onGameKeys } from "../canvas.js";

/** CSS px the thumb travels from where it landed for a full stick (less on a short field). */
const STICK_RADIUS = 56;

/** Pointer events on these belong to the page (forms, banners), not to the game. */
function isPageControl(target) {
  return target instanceof Element && target.closest("button, a, input, form, .banner") !== null;
}

/** Round a stick component to 1/100, within -1 .. 1 (what the schema takes). */
function stickPart(v) {
  return Math.max(-1, Math.min(1, Math.round(v * 100) / 100)) || 0;
}

export class ArenaControls {
  /** @type {[number, number]} */
  stick = [0, 0];
  /** @type {{x: number, y: number} | null} the aim point, CSS px in the canvas */
  aimPoint = null;
  triggerDown = false;
  /** @type {{x: number, y: number, dx: number, dy: number, radius: number} | null} the virtual stick, CSS px in the canvas */
  thumb = null;

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} handlers
   * @param {(stick: [number, number]) => void} handlers.onStick the stick changed
   * @param {() => void} handlers.onAim the aim point moved
   * @param {(down: boolean) => void} handlers.onTrigger pressed or released
   * @param {() => void} [handlers.onFirstTouch]
   * @param {HTMLElement} [touchArea] where pointers are read (default: the canvas)
   */
  constructor(canvas, { onStick, onAim, onTrigger, onFirstTouch = () => {} }, touchArea = canvas) {
    this.canvas = canvas;
    this.area = touchArea;
    this.handlers = { onStick, onAim, onTrigger, onFirstTouch };
    this.held = new Set();
    this.stickPointer = null;
    this.aimPointer = null;
    this.listeners = new Listeners();
    this._bind();
  }

  destroy() {
    this.listeners.removeAll();
  }

  _local(e) {
    const box = this.canvas.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  _setStick(mx, my) {
    const next = [stickPart(mx), stickPart(my)];
    if (next[0] === this.stick[0] && next[1] === this.stick[1]) return;
    this.stick = next;
    this.handlers.onStick(next);
  }

  _keysStick() {
    const h = this.held;
    this._setStick(Number(h.has("right")) - Number(h.has("left")), Number(h.has("down")) - Number(h.has("up")));
  }

  _trigger(down) {
    if (down === this.triggerDown && !down) return;
    this.triggerDown = down;
    this.handlers.onTrigger(down);
  }

  _releaseAll() {
    this.held.clear();
    this.thumb = null;
    this.stickPointer = this.aimPointer = null;
    this._setStick(0, 0);
    if (this.triggerDown) this._trigger(false);
  }

  _bind() {
    const on = this.listeners.on.bind(this.listeners);
    onGameKeys(
      this.listeners,
      (dir) => {
        this.held.add(dir);
        this._keysStick();
      },
      () => this._trigger(true),
    );
    // A key let go counts wherever the focus went meanwhile (the chat).
    on(window, "keyup", (e) => {
      const dir = keyDirection(e);
      if (dir && this.held.delete(dir)) this._keysStick();
      else if (isSpaceKey(e) && this.triggerDown) this._trigger(false);
    });
    on(window, "blur", () => this._releaseAll());
    on(document, "visibilitychange", () => document.hidden && this._releaseAll());

    on(this.area, "pointermove", (e) => {
      if (e.pointerType === "mouse") {
        this.aimPoint = this._local(e);
        this.handlers.onAim();
      } else if (e.pointerId === this.stickPointer && this.thumb) {
        const p = this._local(e);
        this.thumb.dx = p.x - this.thumb.x;
        this.thumb.dy = p.y - this.thumb.y;
        const len = Math.hypot(this.thumb.dx, this.thumb.dy);
        const scale = len > this.thumb.radius ? 1 / len : 1 / this.thumb.radius;
        this._setStick(this.thumb.dx * scale, this.thumb.dy * scale);
      } else if (e.pointerId === this.aimPointer) {
        this.aimPoint = this._local(e);
        this.handlers.onAim();
      }
    });
    on(this.area, "pointerdown", (e) => {
      if (isPageControl(e.target)) return;
      const p = this._local(e);
      if (e.pointerType === "mouse") {
        this.canvas.focus({ preventScroll: true });
        if (e.button !== 0) return;
        this.aimPoint = p;
        this.handlers.onAim();
        this._trigger(true);
        return;
      }
      this.handlers.onFirstTouch();
      if (p.x < this.canvas.clientWidth / 2 && this.stickPointer == null) {
        this.stickPointer = e.pointerId;
        const radius = Math.max(28, Math.min(STICK_RADIUS, this.canvas.clientHeight * 0.17));
        this.thumb = { x: p.x, y: p.y, dx: 0, dy: 0, radius };
      } else if (this.aimPointer == null) {
        this.aimPointer = e.pointerId;
        this.aimPoint = p;
        this.handlers.onAim();
        this._trigger(true);
      }
    });
    const up = (e) => {
      if (e.pointerType === "mouse") {
        if (e.button === 0 && this.triggerDown) this._trigger(false);
      } else if (e.pointerId === this.stickPointer) {
        this.stickPointer = null;
        this.thumb = null;
        this._setStick(0, 0);
      } else if (e.pointerId === this.aimPointer) {
        this.aimPointer = null;
        this._trigger(false);
      }
    };
    on(window, "pointerup", up);
    on(window, "pointercancel", up);
    on(this.area, "contextmenu", (e) => e.preventDefault());
  }
}
