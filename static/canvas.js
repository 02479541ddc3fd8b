// What both game views share on a canvas: the HiDPI backing store, the frame
// loop, the camera over a field larger than the screen, the keys the games
// read, listeners that can all be removed at once, and the drawings both make
// alike (the field's glowing border, the waiting spinner, the minimap).
// Each view keeps its own game's drawing and input mapping.

export const BACKGROUND = "#070a12";
export const FIELD = "#0b1120";
export const ACCENT = "#2ee6a8";
export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif';

/** @param {number} v @param {number} lo @param {number} hi */
export function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}

/** @param {number} a @param {number} b @param {number} f */
export function lerp(a, b, f) {
  return a + (b - a) * f;
}

/** The font of a player's name: bolder for the own one. @param {number} size @param {boolean} mine */
export function nameFont(size, mine) {
  return `${mine ? 750 : 600} ${size}px ${FONT}`;
}

// ---- keys ---------------------------------------------------------------------

/** @type {Readonly<Record<string, string>>} */
const KEY_DIRS = Object.freeze({
  ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right",
  KeyW: "up", KeyS: "down", KeyA: "left", KeyD: "right",
});

/** The direction a key names (the arrows, WASD), or undefined. @param {KeyboardEvent} e */
export function keyDirection(e) {
  return KEY_DIRS[e.code] || KEY_DIRS[e.key];
}

/** @param {KeyboardEvent} e */
export function isSpaceKey(e) {
  return e.code === "Space" || e.key === " ";
}

/** A key for the page, not the game: a shortcut, or typing in a field. @param {KeyboardEvent} e */
function isPageKey(e) {
  return e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target);
}

/** @param {EventTarget | null} target */
function isTyping(target) {
  if (!target || !(target instanceof Element)) return false;
  return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']") !== null;
}

// ---- listeners ----------------------------------------------------------------

/** Event listeners (and other things to undo) that `removeAll` takes away together. */
export class Listeners {
  /** @type {(() => void)[]} */
  #undo = [];

  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {(e: any) => void} fn
   * @param {AddEventListenerOptions} [options]
   */
  on(target, type, fn, options) {
    target.addEventListener(type, fn, options);
    this.#undo.push(() => target.removeEventListener(type, fn, options));
  }

  /** @param {() => void} undo */
  add(undo) {
    this.#undo.push(undo);
  }

  removeAll() {
    for (const undo of this.#undo.splice(0)) undo();
  }
}

/**
 * The game's keys pressed anywhere on the page (not while typing, nor with a modifier):
 * a direction (also on auto-repeat, which `repeat` tells) and Space (not on repeat).
 * @param {Listeners} listeners
 * @param {(dir: string, repeat: boolean) => void} onDirection
 * @param {() => void} onSpace
 */
export function onGameKeys(listeners, onDirection, onSpace) {
  listeners.on(window, "keydown", (/** @type {KeyboardEvent} */ e) => {
    if (isPageKey(e)) return;
    const dir = keyDirection(e);
    if (dir) {
      e.preventDefault();
      onDirection(dir, e.repeat);
    } else if (isSpaceKey(e)) {
      e.preventDefault();
      if (!e.repeat) onSpace();
    }
  });
}

// ---- the stage ----------------------------------------------------------------

/**
 * Where the field stands on the canvas: CSS px per field unit and the field's top-left corner.
 * @typedef {object} FieldLayout
 * @property {number} scale
 * @property {number} ox
 * @property {number} oy
 * @property {boolean} follow the field is larger than the view: the camera follows a point
 */

/** A canvas whose backing store matches its CSS size times the pixel ratio (at most 3). */
export class CanvasStage {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { alpha: false }));
    this.dpr = 1;
    this.cssW = 0;
    this.cssH = 0;
    /** @type {{x: number, y: number} | null} the field point at the view's centre, when following */
    this.camera = null;
    this.resize();
  }

  resize() {
    const dpr = Math.max(1, Math.min(window.devicePixelRatio || 1, 3));
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (!w || !h) return;
    const bw = Math.round(w * dpr);
    const bh = Math.round(h * dpr);
    if (this.canvas.width !== bw || this.canvas.height !== bh) {
      this.canvas.width = bw;
      this.canvas.height = bh;
    }
    this.dpr = bw / w;
    this.cssW = w;
    this.cssH = h;
  }

  /** Resize when the layout changed the canvas since the last time. */
  fit() {
    if (this.canvas.clientWidth !== this.cssW || this.canvas.clientHeight !== this.cssH) this.resize();
  }

  /** The whole canvas in the background colour, CSS px from here on. @param {CanvasRenderingContext2D} [ctx] */
  clear(ctx = this.ctx) {
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, this.cssW, this.cssH);
  }

  /**
   * The whole W x H field, centred, when it fits at `wholeScale` (default `minScale`) or
   * more; else `minScale` around `focus` (the centre without one), the camera easing
   * towards it by `ease` a frame, kept from showing more than a margin beyond the field's
   * edges. A `wholeScale` below `minScale` shows a field that nearly fits whole, a little
   * smaller, rather than a part of it.
   * @param {number} W @param {number} H
   * @param {{x: number, y: number} | null} focus
   * @param {number} minScale @param {number} ease
   * @param {number} [wholeScale]
   * @returns {FieldLayout}
   */
  layoutField(W, H, focus, minScale, ease, wholeScale = minScale) {
    const pad = clamp(Math.min(this.cssW, this.cssH) * 0.025, 6, 16);
    const fit = Math.min((this.cssW - 2 * pad) / W, (this.cssH - 2 * pad) / H);
    if (fit >= wholeScale) {
      this.camera = null;
      return { scale: fit, ox: (this.cssW - W * fit) / 2, oy: (this.cssH - H * fit) / 2, follow: false };
    }
    const scale = minScale;
    const halfW = this.cssW / scale / 2;
    const halfH = this.cssH / scale / 2;
    const target = focus ? { x: focus.x, y: focus.y } : { x: W / 2, y: H / 2 };
    target.x = W * scale <= this.cssW ? W / 2 : clamp(target.x, halfW - pad / scale, W - halfW + pad / scale);
    target.y = H * scale <= this.cssH ? H / 2 : clamp(target.y, halfH - pad / scale, H - halfH + pad / scale);
    if (!this.camera) this.camera = { ...target };
    this.camera.x = lerp(this.camera.x, target.x, ease);
    this.camera.y = lerp(this.camera.y, target.y, ease);
    return { scale, ox: this.cssW / 2 - this.camera.x * scale, oy: this.cssH / 2 - this.camera.y * scale, follow: true };
  }
}

/**
 * Calls `onFrame(now)` every animation frame while the document is shown, the stage
 * fitted to its layout first; resizes on window and element resizes too.
 * @param {CanvasStage} stage
 * @param {(now: number) => void} onFrame
 * @returns {() => void} stops it all
 */
export function runFrames(stage, onFrame) {
  const listeners = new Listeners();
  let raf = 0;
  const loop = (/** @type {number} */ now) => {
    raf = requestAnimationFrame(loop);
    if (document.hidden) return;
    stage.fit();
    onFrame(now);
  };
  listeners.on(window, "resize", () => stage.resize());
  if (typeof ResizeObserver === "function") {
    const observer = new ResizeObserver(() => stage.resize());
    observer.observe(stage.canvas);
    listeners.add(() => observer.disconnect());
  }
  raf = requestAnimationFrame(loop);
  return () => {
    cancelAnimationFrame(raf);
    listeners.removeAll();
  };
}

// ---- drawings both views make -------------------------------------------------

/** The field's glowing border around a w x h px field at the origin. @param {CanvasRenderingContext2D} ctx */
export function drawFieldBorder(ctx, /** @type {number} */ w, /** @type {number} */ h) {
  ctx.save();
  ctx.shadowColor = ACCENT;
  ctx.shadowBlur = 18;
  ctx.strokeStyle = "rgba(46, 230, 168, 0.75)";
  ctx.lineWidth = 2;
  ctx.strokeRect(-1, -1, w + 2, h + 2);
  ctx.restore();
}

/** An X of half-width `k` centred on (x, y), in the current stroke style. @param {CanvasRenderingContext2D} ctx */
export function strokeCross(ctx, /** @type {number} */ x, /** @type {number} */ y, /** @type {number} */ k) {
  ctx.beginPath();
  ctx.moveTo(x - k, y - k);
  ctx.lineTo(x + k, y + k);
  ctx.moveTo(x + k, y - k);
  ctx.lineTo(x - k, y + k);
  ctx.stroke();
}

/** The spinner in the middle while there is no field yet. @param {CanvasStage} stage @param {number} now */
export function drawSpinner(stage, now) {
  const ctx = stage.ctx;
  ctx.save();
  ctx.strokeStyle = "rgba(46, 230, 168, 0.8)";
  ctx.lineWidth = 4;
  ctx.lineCap = "round";
  ctx.shadowColor = ACCENT;
  ctx.shadowBlur = 12;
  const a = (now / 400) % (Math.PI * 2);
  ctx.beginPath();
  ctx.arc(stage.cssW / 2, stage.cssH / 2, 18, a, a + Math.PI * 1.3);
  ctx.stroke();
  ctx.restore();
}

/**
 * The minimap in the bottom-right corner: the field at `scale` px per unit, a dot per
 * player (the own one white and larger), and the frame of the part in view.
 * @param {CanvasStage} stage
 * @param {{width: number, height: number}} field
 * @param {number} scale
 * @param {{x: number, y: number, color: string, mine: boolean}[]} dots field units
 * @param {FieldLayout} view
 * @param {number} [alpha]
 */
export function drawMinimap(stage, field, scale, dots, view, alpha = 1) {
  const ctx = stage.ctx;
  const w = field.width * scale;
  const h = field.height * scale;
  const x = stage.cssW - w - 10;
  const y = stage.cssH - h - 10;
  ctx.save();
  ctx.globalAlpha = alpha;
  ctx.fillStyle = "rgba(7, 10, 18, 0.85)";
  ctx.strokeStyle = "rgba(46, 230, 168, 0.5)";
  ctx.lineWidth = 1;
  ctx.fillRect(x, y, w, h);
  ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
  for (const dot of dots) {
    ctx.fillStyle = dot.mine ? "#ffffff" : dot.color;
    const size = dot.mine ? 4 : 2.5;
    ctx.fillRect(x + dot.x * scale - size / 2, y + dot.y * scale - size / 2, size, size);
  }
  const L = view;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.55)";
  ctx.strokeRect(x + (-L.ox / L.scale) * scale, y + (-L.oy / L.scale) * scale, (stage.cssW / L.scale) * scale, (stage.cssH / L.scale) * scale);
  ctx.restore();
}
