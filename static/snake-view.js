// Drawing the snake field on a canvas, and reading the player's steering.
//
// `SnakeView` knows the SNAPSHOT shape (docs/snake.md) but nothing of the
// network: the page hands it the client's snapshot after each tick, and it
// calls back `onTurn(dir)`, `onRespawn()` for the keys, swipes and taps it
// sees. Everything is drawn with canvas calls (names with fillText), so no
// player data ever becomes markup.

import {
  ACCENT, CanvasStage, FIELD, FONT, Listeners, clamp, drawFieldBorder, drawMinimap, drawSpinner,
  lerp, nameFont, onGameKeys, runFrames, strokeCross,
} from "./canvas.js";
import { DIRS } from "./snake-delta.js";

const GRID = "rgba(130, 160, 255, 0.07)";
const GRID_MAJOR = "rgba(130, 160, 255, 0.12)";
const STONE = "#3a4460";
const STONE_TOP = "#56627f";
const FOOD_COLORS = [null, "#7cf29a", "#7cf29a", "#a6f46b", "#ffe066", "#ffcc4d", "#ffa94d", "#ff8a5c", "#ff6b9a", "#e77bff"];
//: the own snake's colour: the page's accent, which no bot wears (a mint the server's
//: palette lacks), drawn with a white outline and a strong glow
export const ME_COLOR = ACCENT;
const ME_OUTLINE = "#ffffff";
//: the start grace (docs/snake.md rule 1): a new snake stands this long or until a turn
const START_GRACE_MS = 3000;
//: a view's sides, as the server clamps them (docs/protocol.md "View rooms")
const MIN_VIEW_SIDE = 16;
const MAX_VIEW_SIDE = 128;
//: a view room's camera: how fast it eases towards its target, and how close to the
//: canvas's edge the own head may come at most (in cells)
const CAMERA_EASE_MS = 120;
const HEAD_MARGIN = 4;
//: the parts of the field a view room's picture does not hold
const FOG = "rgba(7, 10, 18, 0.6)";

export class SnakeView extends CanvasStage {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} options
   * @param {(dir: string) => void} options.onTurn
   * @param {() => void} options.onRespawn
   * @param {() => void} [options.onSwipeStart] first touch: e.g. hide hints
   * @param {HTMLElement} [options.touchArea] where swipes are read (default: the canvas)
   */
  constructor(canvas, { onTurn, onRespawn, onSwipeStart, touchArea } = {}) {
    super(canvas);
    this.onTurn = onTurn || (() => {});
    this.onRespawn = onRespawn || (() => {});
    this.onSwipeStart = onSwipeStart || (() => {});
    this.touchArea = touchArea || canvas;
    this.snapshot = null;
    this.me = null;
    this.tickMs = 100;
    this.tickAt = 0; // performance.now() of the last tick
    this.motion = new Map(); // id -> {moved, tailFrom: [x,y] | null}
    this.last = new Map(); // id -> {head, tail, len} as of the last tick
    this.waitingSince = null; // performance.now() when my snake began to stand (start grace)
    this._labelWidths = new Map(); // font|name -> measured width
    this.idle = false; // nothing is coming: no spinner while there is no field
    this.map = null; // a view room's latest minimap, decoded
    this.minimapBox = null; // where the minimap was drawn last (for tests)
    this.frame = 0;
    this.listeners = new Listeners();
    this._bind();
    this.listeners.add(
      runFrames(this, (now) => {
        this.frame += 1;
        this.draw(now);
      }),
    );
  }

  /** Who "I" am: my snake is drawn on top, labelled and followed. */
  setMe(playerId) {
    this.me = playerId;
  }

  setTickRate(rate) {
    if (rate > 0) this.tickMs = 1000 / rate;
  }

  /** A whole new picture (welcome, state): no interpolation from the old one. */
  reset(snapshot) {
    if (snapshot && snapshot.view) this.camera = null; // a view room's camera starts on the new picture
    this.snapshot = snapshot;
    this.motion.clear();
    this.last.clear();
    this._remember();
    this.waitingSince = null;
    this._noteWaiting();
    this.tickAt = performance.now() - this.tickMs;
  }

  /** The snapshot after one tick's change: animate from the previous tick. */
  tick(snapshot) {
    this.snapshot = snapshot;
    this.motion.clear();
    for (const s of snapshot.snakes || []) {
      const prev = this.last.get(s.id);
      const b = s.body || [];
      if (!prev || b.length < 2 || !s.alive) continue;
      const moved = b[1][0] === prev.head[0] && b[1][1] === prev.head[1];
      if (!moved) continue;
      const grew = b.length > prev.len;
      this.motion.set(s.id, { tailFrom: grew ? null : prev.tail });
    }
    this._remember();
    this._noteWaiting();
    this.tickAt = performance.now();
  }

  /** True while my snake stands in its start grace (until my first turn or 3 s). */
  waiting() {
    const me = this.mySnake();
    return Boolean(me && me.alive && me.waiting);
  }

  _noteWaiting() {
    if (!this.waiting()) this.waitingSince = null;
    else if (this.waitingSince === null) this.waitingSince = performance.now();
  }

  mySnake() {
    if (!this.snapshot || this.me == null) return null;
    return (this.snapshot.snakes || []).find((s) => s.id === this.me) || null;
  }

  destroy() {
    this.listeners.removeAll();
  }

  // ---- input -----------------------------------------------------------

  _bind() {
    const on = this.listeners.on.bind(this.listeners);
    onGameKeys(
      this.listeners,
      (dir, repeat) => {
        if (!repeat) this.onTurn(dir);
      },
      () => this.onRespawn(),
    );

    // Swipes: a finger that travels far enough steers, and can steer again
    // without lifting; a short touch is a tap.
    let start = null;
    const MIN = 22;
    on(this.touchArea, "pointerdown", (e) => {
      if (e.pointerType === "mouse") {
        this.canvas.focus({ preventScroll: true });
        return;
      }
      start = { x: e.clientX, y: e.clientY, moved: false, id: e.pointerId };
      this.onSwipeStart();
    });
    on(this.touchArea, "pointermove", (e) => {
      if (!start || e.pointerId !== start.id) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (Math.max(Math.abs(dx), Math.abs(dy)) < MIN) return;
      const dir = Math.abs(dx) > Math.abs(dy) ? (dx > 0 ? "right" : "left") : dy > 0 ? "down" : "up";
      this.onTurn(dir);
      start = { x: e.clientX, y: e.clientY, moved: true, id: e.pointerId };
    });
    const end = (e) => {
      if (!start || e.pointerId !== start.id) return;
      const tap = !start.moved && Math.hypot(e.clientX - start.x, e.clientY - start.y) < MIN;
      start = null;
      if (tap && e.type === "pointerup") {
        const me = this.mySnake();
        if (me && !me.alive) this.onRespawn();
      }
    };
    on(this.touchArea, "pointerup", end);
    on(this.touchArea, "pointercancel", end);
  }

  // ---- drawing ---------------------------------------------------------

  _remember() {
    this.last.clear();
    for (const s of this.snapshot?.snakes || []) {
      const b = s.body || [];
      if (!b.length) continue;
      this.last.set(s.id, { head: b[0].slice(), tail: b[b.length - 1].slice(), len: b.length });
    }
  }

  // ---- a view room: the camera on the own head, the view's size, the minimap ----

  /** CSS px per cell in a view room: readable, and at most MAX_VIEW_SIDE cells a side. */
  viewCell() {
    const base = this.cssW < 600 ? 14 : 16;
    return Math.max(base, this.cssW / MAX_VIEW_SIDE, this.cssH / MAX_VIEW_SIDE);
  }

  /** The view that covers this canvas at `viewCell()`: the size the page asks the server for. */
  wantedView() {
    if (!this.cssW || !this.cssH) return null;
    const cell = this.viewCell();
    const side = (px) => clamp(Math.ceil(px / cell), MIN_VIEW_SIDE, MAX_VIEW_SIDE);
    return { width: side(this.cssW), height: side(this.cssH) };
  }

  /**
   * The camera of a view room: centred on the own head (as drawn, between ticks), kept
   * inside the buckets the picture holds (a little beyond where they end at the field's
   * edge, for its border), easing there frame by frame; on the rectangle's middle while
   * the own snake is dead.
   */
  _viewLayout(snap, now) {
    const cell = this.viewCell();
    const { x, y, width, height } = snap.view;
    const b = snap.view.bucket || 32;
    const W = snap.width;
    const H = snap.height;
    const held = {
      x0: Math.floor(x / b) * b, y0: Math.floor(y / b) * b,
      x1: Math.min(W, (Math.floor((x + width - 1) / b) + 1) * b),
      y1: Math.min(H, (Math.floor((y + height - 1) / b) + 1) * b),
    };
    const pad = clamp(Math.min(this.cssW, this.cssH) * 0.025, 6, 16) / cell;
    const me = this.mySnake();
    const f = clamp((now - this.tickAt) / this.tickMs, 0, 1);
    const head = me && me.alive && me.body && me.body.length ? this._headPoint(me, f) : null;
    const focus = head ? { x: head[0], y: head[1] } : { x: x + width / 2, y: y + height / 2 };
    const axis = (v, lo, hi, half, side) => {
      const from = lo <= 0 ? lo - pad : lo;
      const to = hi >= side ? hi + pad : hi;
      return to - from <= 2 * half ? (from + to) / 2 : clamp(v, from + half, to - half);
    };
    const halfW = this.cssW / cell / 2;
    const halfH = this.cssH / cell / 2;
    const target = { x: axis(focus.x, held.x0, held.x1, halfW, W), y: axis(focus.y, held.y0, held.y1, halfH, H) };
    const camera = this.camera;
    const far = camera && Math.max(Math.abs(camera.x - target.x) / halfW, Math.abs(camera.y - target.y) / halfH) > 1;
    if (!camera || far || camera.cell !== cell) {
      this.camera = { ...target, cell, at: now };
    } else {
      // eased by time, not by frame, so a slow frame rate does not leave the head behind
      const ease = 1 - Math.exp(-clamp(now - camera.at, 0, 250) / CAMERA_EASE_MS);
      camera.x = lerp(camera.x, target.x, ease);
      camera.y = lerp(camera.y, target.y, ease);
      camera.at = now;
    }
    if (head) {
      // and never more than HEAD_MARGIN cells off: the server keeps the head that far
      // inside its rectangle, so the camera stays on what the picture holds
      const mx = Math.min(HEAD_MARGIN, halfW / 2);
      const my = Math.min(HEAD_MARGIN, halfH / 2);
      this.camera.x = clamp(this.camera.x, head[0] - halfW + mx, head[0] + halfW - mx);
      this.camera.y = clamp(this.camera.y, head[1] - halfH + my, head[1] + halfH - my);
    }
    const ox = this.cssW / 2 - this.camera.x * cell;
    const oy = this.cssH / 2 - this.camera.y * cell;
    return { scale: cell, cell, ox, oy, follow: true, held };
  }

  /** Where the own head is drawn now, in CSS px of the canvas, or null (for tests and the curious). */
  headOnScreen() {
    const me = this.mySnake();
    if (!this.snapshot || !me || !me.alive || !me.body || !me.body.length) return null;
    const L = this._lastLayout || this._layout();
    const [hx, hy] = this._headPoint(me, clamp((performance.now() - this.tickAt) / this.tickMs, 0, 1));
    return { x: L.ox + hx * L.cell, y: L.oy + hy * L.cell, width: this.cssW, height: this.cssH, cell: L.cell };
  }

  /** A view room's `minimap` message (docs/protocol.md): decoded once, drawn every frame. */
  setMinimap(msg) {
    const { cols, rows, cell } = msg;
    if (!(cols > 0 && rows > 0 && cell > 0) || typeof msg.density !== "string") return;
    let bytes;
    try {
      bytes = Uint8Array.from(atob(msg.density), (c) => c.charCodeAt(0));
    } catch {
      return;
    }
    if (bytes.length !== cols * rows) return;
    const layer = document.createElement("canvas");
    layer.width = cols;
    layer.height = rows;
    const g = layer.getContext("2d");
    const image = g.createImageData(cols, rows);
    for (let i = 0; i < bytes.length; i++) {
      const v = bytes[i];
      if (!v) continue;
      const heat = Math.min(1, Math.sqrt(v / 96)); // a lone snake shows; a crowd glows
      image.data.set([Math.round(46 + 209 * heat), Math.round(230 - 20 * heat), Math.round(168 - 100 * heat), Math.round(90 + 165 * heat)], i * 4);
    }
    g.putImageData(image, 0, 0);
    this.map = { msg, layer, cols, rows, cell, leaders: Array.isArray(msg.leaders) ? msg.leaders : [] };
  }

  /** The minimap of a view room, top left: the world's density, the leaders, my rectangle and head. */
  _drawWorldMap(snap) {
    const ctx = this.ctx;
    const W = snap.width;
    const H = snap.height;
    const size = clamp(Math.min(this.cssW, this.cssH) * 0.28, 72, 170);
    const scale = size / Math.max(W, H);
    const w = W * scale;
    const h = H * scale;
    const x = 10;
    const y = 10;
    ctx.save();
    ctx.fillStyle = "rgba(7, 10, 18, 0.92)";
    ctx.fillRect(x, y, w, h);
    const m = this.map;
    if (m) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, y, w, h);
      ctx.clip();
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(m.layer, x, y, m.cols * m.cell * scale, m.rows * m.cell * scale);
      ctx.restore();
      m.leaders.forEach((leader, i) => {
        if (typeof leader.x !== "number" || typeof leader.y !== "number") return;
        const r = i === 0 ? 3.5 : 2.5;
        ctx.fillStyle = i === 0 ? "#ffd166" : "rgba(255, 209, 102, 0.8)";
        ctx.beginPath();
        ctx.arc(x + (leader.x + 0.5) * scale, y + (leader.y + 0.5) * scale, r, 0, Math.PI * 2);
        ctx.fill();
      });
    }
    // The frame first: the player's rectangle, drawn after it, stays white at the world's edge too.
    ctx.strokeStyle = "rgba(46, 230, 168, 0.5)";
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    const v = snap.view;
    const mark = {
      x: Math.round(x + v.x * scale), y: Math.round(y + v.y * scale),
      width: Math.max(3, Math.round(v.width * scale)), height: Math.max(3, Math.round(v.height * scale)),
    };
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1;
    ctx.strokeRect(mark.x + 0.5, mark.y + 0.5, mark.width - 1, mark.height - 1); // whole pixels: sharp
    const me = this.mySnake();
    if (me && me.alive && me.body && me.body.length) {
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(x + me.body[0][0] * scale - 2, y + me.body[0][1] * scale - 2, 4, 4);
    }
    ctx.restore();
    this.minimapBox = { x, y, width: w, height: h, tick: m ? m.msg.tick : null, mark };
  }

  /** The parts of the field the picture does not hold (seen while the camera catches up). */
  _drawFog(ctx, L, W, H) {
    const { cell, held } = L;
    ctx.fillStyle = FOG;
    const rects = [
      [0, 0, W, held.y0], [0, held.y1, W, H - held.y1],
      [0, held.y0, held.x0, held.y1 - held.y0], [held.x1, held.y0, W - held.x1, held.y1 - held.y0],
    ];
    for (const [rx, ry, rw, rh] of rects) if (rw > 0 && rh > 0) ctx.fillRect(rx * cell, ry * cell, rw * cell, rh * cell);
  }

  /** Cell size and the field's top-left corner on the canvas, in CSS px. */
  _layout(now = performance.now()) {
    const snap = this.snapshot;
    if (snap.view) return (this._lastLayout = this._viewLayout(snap, now));
    const me = this.mySnake();
    // The field is too big to show whole: follow my snake's head.
    const head = me && me.body && me.body.length ? { x: me.body[0][0] + 0.5, y: me.body[0][1] + 0.5 } : null;
    // On a small screen (a phone) cells of 9 px when following, but a field that fits whole
    // at 7 px cells or more (a 49 x 49 field on a 390 px wide phone) is shown whole.
    const small = Math.min(this.cssW, this.cssH) < 600;
    const L = this.layoutField(snap.width || 1, snap.height || 1, head, small ? 9 : 12, 0.12, small ? 7 : 12);
    return { ...L, cell: L.scale };
  }

  draw(now = performance.now()) {
    const ctx = this.ctx;
    const snap = this.snapshot;
    if (!snap || !snap.width || !snap.height) {
      this.clear();
      if (!this.idle) drawSpinner(this, now);
      return;
    }
    const L = this._layout(now);
    const f = clamp((now - this.tickAt) / this.tickMs, 0, 1);
    const { cell, ox, oy } = L;
    const W = snap.width;
    const H = snap.height;

    // visible cell range (for big fields)
    const x0 = Math.max(0, Math.floor(-ox / cell) - 1);
    const y0 = Math.max(0, Math.floor(-oy / cell) - 1);
    const x1 = Math.min(W, Math.ceil((this.cssW - ox) / cell) + 1);
    const y1 = Math.min(H, Math.ceil((this.cssH - oy) / cell) + 1);
    const visible = (x, y) => x >= x0 - 2 && x <= x1 + 2 && y >= y0 - 2 && y <= y1 + 2;

    // background, arena, grid, glowing border: painted once while the view
    // stands still, every frame while it follows a snake
    if (L.follow) {
      this._paintArena(ctx, W, H, cell, ox, oy, [x0, y0, x1, y1]);
    } else {
      const key = [this.canvas.width, this.canvas.height, W, H, cell, ox, oy].join("|");
      if (!this._arena || this._arena.key !== key) {
        const layer = document.createElement("canvas");
        layer.width = this.canvas.width;
        layer.height = this.canvas.height;
        this._paintArena(layer.getContext("2d"), W, H, cell, ox, oy, [0, 0, W, H]);
        this._arena = { key, layer };
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(this._arena.layer, 0, 0);
    }

    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.save();
    ctx.translate(ox, oy);
    if (L.held) this._drawFog(ctx, L, W, H);

    // stones
    const r = Math.max(1, cell * 0.18);
    for (const [x, y] of snap.stones || []) {
      if (!visible(x, y)) continue;
      const px = x * cell + cell * 0.06;
      const py = y * cell + cell * 0.06;
      const s = cell * 0.88;
      ctx.fillStyle = STONE;
      roundRect(ctx, px, py, s, s, r);
      ctx.fill();
      ctx.fillStyle = STONE_TOP;
      roundRect(ctx, px + s * 0.12, py + s * 0.1, s * 0.76, s * 0.45, r * 0.7);
      ctx.fill();
    }

    // food digits
    const pulse = 1 + 0.06 * Math.sin(now / 260);
    for (const [x, y, v] of snap.food || []) {
      if (!visible(x, y)) continue;
      const sprite = this._foodSprite(v, cell);
      const size = sprite.cssSize * pulse;
      ctx.drawImage(sprite, (x + 0.5) * cell - size / 2, (y + 0.5) * cell - size / 2, size, size);
    }

    // snakes: ghosts first, then the living, mine on top
    const snakes = snap.snakes || [];
    const ghosts = snakes.filter((s) => !s.alive);
    const living = snakes.filter((s) => s.alive && s.id !== this.me);
    const mine = snakes.filter((s) => s.alive && s.id === this.me);
    const glow = living.length + mine.length <= 60;
    for (const s of ghosts) this._drawSnake(s, cell, 1, false, visible);
    for (const s of living) this._drawSnake(s, cell, f, glow, visible);
    for (const s of mine) this._drawSnake(s, cell, f, true, visible);

    if (this.waitingSince !== null) for (const s of mine) this._drawCountdown(s, cell, now);

    // names by their heads, placed so that none overlaps another or leaves the field
    if (cell >= 8) this._drawLabels([...mine, ...living], cell, f, ox, oy, W, H);
    ctx.restore();

    if (snap.view) this._drawWorldMap(snap);
    else if (L.follow) this._drawMinimap(snap, L);
  }

  /**
   * The name labels: mine first (it always gets a place), then the others nearest
   * to mine first. Each tries above, below, right and left of its head, pushed
   * inside the visible part of the field; a label that fits nowhere without
   * overlapping one already placed is left out this frame.
   */
  _drawLabels(snakes, cell, f, ox, oy, W, H) {
    const ctx = this.ctx;
    const size = Math.max(10, Math.min(14, cell * 0.62));
    const lineH = size + 4;
    // the box labels must stay in: the field, cut to the canvas (field coordinates, px)
    const box = {
      x0: Math.max(0, -ox) + 2, y0: Math.max(0, -oy) + 2,
      x1: Math.min(W * cell, this.cssW - ox) - 2, y1: Math.min(H * cell, this.cssH - oy) - 2,
    };
    const heads = [];
    for (const s of snakes) {
      const h = this._headPoint(s, f);
      if (h) heads.push({ s, x: h[0] * cell, y: h[1] * cell });
    }
    const mine = heads.find((h) => h.s.id === this.me);
    if (mine) {
      const d = (h) => (h.x - mine.x) ** 2 + (h.y - mine.y) ** 2;
      heads.sort((a, b) => (a === mine ? -1 : b === mine ? 1 : d(a) - d(b)));
    }
    const placed = [];
    const overlaps = (r) => placed.some((p) => r.x < p.x + p.w && p.x < r.x + r.w && r.y < p.y + p.h && p.y < r.y + r.h);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.shadowColor = "rgba(0,0,0,0.9)";
    for (const { s, x, y } of heads) {
      if (x < box.x0 - cell || x > box.x1 + cell || y < box.y0 - cell || y > box.y1 + cell) continue;
      const mineOne = s.id === this.me;
      const font = nameFont(size, mineOne);
      const away = Boolean(s.away && !mineOne); // a seat kept while its player is away
      const text = s.name ? (away ? `${s.name} · away` : s.name) : "";
      if (!text) continue;
      ctx.font = font;
      const key = `${font}|${text}`;
      let w = this._labelWidths.get(key);
      if (w === undefined) {
        if (this._labelWidths.size > 512) this._labelWidths.clear();
        w = ctx.measureText(text).width + 6;
        this._labelWidths.set(key, w);
      }
      const gap = cell * 0.62;
      const candidates = [
        [x - w / 2, y - gap - lineH], // above
        [x - w / 2, y + gap], // below
        [x + gap, y - lineH / 2], // right
        [x - gap - w, y - lineH / 2], // left
      ];
      let spot = null;
      for (const [cx, cy] of candidates) {
        const r = {
          x: clamp(cx, box.x0, Math.max(box.x0, box.x1 - w)),
          y: clamp(cy, box.y0, Math.max(box.y0, box.y1 - lineH)),
          w, h: lineH,
        };
        if (mineOne || !overlaps(r)) {
          spot = r;
          break;
        }
      }
      if (!spot) continue;
      spot.text = text;
      placed.push(spot);
      ctx.fillStyle = mineOne ? "#ffffff" : away ? "rgba(232, 237, 255, 0.4)" : "rgba(232, 237, 255, 0.72)";
      ctx.shadowBlur = 4;
      ctx.fillText(text, spot.x + 3, spot.y + lineH / 2);
    }
    ctx.shadowBlur = 0;
    this.labels = placed; // for tests: the rectangles drawn this frame (field px)
  }

  /** The start grace: a ring around my standing head that runs down over 3 s. */
  _drawCountdown(s, cell, now) {
    const b = s.body || [];
    if (!b.length) return;
    const ctx = this.ctx;
    const cx = (b[0][0] + 0.5) * cell;
    const cy = (b[0][1] + 0.5) * cell;
    const left = clamp(1 - (now - this.waitingSince) / START_GRACE_MS, 0, 1);
    const r = cell * 1.15 + 3;
    ctx.save();
    ctx.lineCap = "round";
    ctx.lineWidth = Math.max(2, cell * 0.16);
    ctx.strokeStyle = "rgba(255, 255, 255, 0.18)";
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, Math.PI * 2);
    ctx.stroke();
    ctx.strokeStyle = ME_COLOR;
    ctx.shadowColor = ME_COLOR;
    ctx.shadowBlur = 10;
    ctx.beginPath();
    ctx.arc(cx, cy, r, -Math.PI / 2, -Math.PI / 2 + left * Math.PI * 2);
    ctx.stroke();
    ctx.restore();
  }

  _paintArena(ctx, W, H, cell, ox, oy, [x0, y0, x1, y1]) {
    this.clear(ctx);
    ctx.save();
    ctx.translate(ox, oy);
    ctx.fillStyle = FIELD;
    ctx.fillRect(0, 0, W * cell, H * cell);
    if (cell >= 5) {
      ctx.lineWidth = 1 / this.dpr;
      for (const [major, style] of [[false, GRID], [true, GRID_MAJOR]]) {
        ctx.beginPath();
        for (let x = x0; x <= x1; x++) {
          if ((x % 5 === 0) !== major) continue;
          const px = this._crisp(ox, x * cell) - ox;
          ctx.moveTo(px, y0 * cell);
          ctx.lineTo(px, y1 * cell);
        }
        for (let y = y0; y <= y1; y++) {
          if ((y % 5 === 0) !== major) continue;
          const py = this._crisp(oy, y * cell) - oy;
          ctx.moveTo(x0 * cell, py);
          ctx.lineTo(x1 * cell, py);
        }
        ctx.strokeStyle = style;
        ctx.stroke();
      }
    }
    drawFieldBorder(ctx, W * cell, H * cell);
    ctx.restore();
  }

  /** A CSS coordinate moved to the middle of a device pixel: 1-pixel lines stay sharp. */
  _crisp(origin, offset) {
    return (Math.floor((origin + offset) * this.dpr) + 0.5) / this.dpr;
  }

  /** A food digit with its glow, drawn once per value, cell size and pixel ratio. */
  _foodSprite(v, cell) {
    const key = `${v}|${cell}|${this.dpr}`;
    this._sprites = this._sprites || new Map();
    let sprite = this._sprites.get(key);
    if (sprite) return sprite;
    if (this._sprites.size > 64) this._sprites.clear();
    const cssSize = cell * 2.2;
    sprite = document.createElement("canvas");
    sprite.width = sprite.height = Math.ceil(cssSize * this.dpr);
    sprite.cssSize = sprite.width / this.dpr;
    const g = sprite.getContext("2d");
    g.scale(this.dpr, this.dpr);
    const c = sprite.cssSize / 2;
    const color = FOOD_COLORS[v] || FOOD_COLORS[5];
    g.shadowColor = color;
    g.shadowBlur = cell * 0.8;
    g.fillStyle = color;
    g.beginPath();
    g.arc(c, c, cell * 0.46, 0, Math.PI * 2);
    g.fill();
    g.shadowBlur = 0;
    if (cell >= 7) {
      g.fillStyle = "#08101a";
      g.textAlign = "center";
      g.textBaseline = "middle";
      g.font = `800 ${Math.max(7, cell * 0.72)}px ${FONT}`;
      g.fillText(String(v), c, c + cell * 0.05);
    }
    this._sprites.set(key, sprite);
    return sprite;
  }

  _cellPoints(s, f) {
    const b = s.body || [];
    const pts = b.map(([x, y]) => [x + 0.5, y + 0.5]);
    const m = this.motion.get(s.id);
    if (m && pts.length >= 2 && f < 1) {
      pts[0] = [lerp(pts[1][0], pts[0][0], f), lerp(pts[1][1], pts[0][1], f)];
      if (m.tailFrom) {
        const last = pts[pts.length - 1];
        const from = [m.tailFrom[0] + 0.5, m.tailFrom[1] + 0.5];
        pts.push([lerp(from[0], last[0], f), lerp(from[1], last[1], f)]);
      }
    }
    return pts;
  }

  _headPoint(s, f) {
    const pts = this._cellPoints(s, f);
    return pts.length ? pts[0] : null;
  }

  _drawSnake(s, cell, f, glow, visible) {
    const b = s.body || [];
    if (!b.length) return;
    if (!b.some(([x, y]) => visible(x, y))) return;
    const ctx = this.ctx;
    const pts = this._cellPoints(s, f);
    const dead = !s.alive;
    const isMe = s.id === this.me;
    const color = isMe ? ME_COLOR : s.color || ACCENT;
    ctx.save();
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (dead) ctx.globalAlpha = 0.22;
    const path = () => {
      ctx.beginPath();
      ctx.moveTo(pts[0][0] * cell, pts[0][1] * cell);
      for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0] * cell, pts[i][1] * cell);
      if (pts.length === 1) ctx.lineTo(pts[0][0] * cell + 0.01, pts[0][1] * cell);
    };
    // my snake: a white outline under the body
    if (isMe && !dead) {
      ctx.shadowColor = ME_COLOR;
      ctx.shadowBlur = Math.min(30, cell * 1.8);
      ctx.strokeStyle = ME_OUTLINE;
      ctx.lineWidth = cell * 0.74 + Math.max(2, cell * 0.2);
      path();
      ctx.stroke();
      ctx.shadowBlur = 0;
    }
    // body
    if (glow && !dead) {
      ctx.shadowColor = color;
      ctx.shadowBlur = Math.min(24, cell * (isMe ? 1.3 : 0.9));
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = cell * 0.74;
    path();
    ctx.stroke();
    ctx.shadowBlur = 0;
    // a lighter spine makes it read as a tube
    ctx.globalAlpha = dead ? 0.12 : 0.28;
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = cell * 0.22;
    path();
    ctx.stroke();
    ctx.globalAlpha = dead ? 0.3 : 1;
    if (dead) ctx.setLineDash([cell * 0.3, cell * 0.25]);

    // head: brighter, with eyes looking the way it goes
    const [hx, hy] = pts[0];
    const dir = DIRS[s.dir] || DIRS.right;
    const cx = hx * cell;
    const cy = hy * cell;
    const hr = cell * 0.48;
    ctx.fillStyle = color;
    if (glow && !dead) {
      ctx.shadowColor = color;
      ctx.shadowBlur = Math.min(28, cell * 1.4);
    }
    ctx.beginPath();
    ctx.arc(cx, cy, hr, 0, Math.PI * 2);
    ctx.fill();
    ctx.shadowBlur = 0;
    ctx.globalAlpha = dead ? 0.15 : 0.42;
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.arc(cx, cy, hr, 0, Math.PI * 2);
    ctx.fill();
    ctx.globalAlpha = dead ? 0.3 : 1;
    if (isMe && !dead) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = Math.max(1, cell * 0.08);
      ctx.beginPath();
      ctx.arc(cx, cy, hr + cell * 0.12, 0, Math.PI * 2);
      ctx.stroke();
    }
    if (cell >= 6) {
      const [dx, dy] = dir;
      const side = [-dy, dx];
      const fwd = cell * 0.16;
      const apart = cell * 0.2;
      for (const sgn of [-1, 1]) {
        const ex = cx + dx * fwd + side[0] * apart * sgn;
        const ey = cy + dy * fwd + side[1] * apart * sgn;
        if (dead) {
          const k = cell * 0.09;
          ctx.strokeStyle = "#ffffff";
          ctx.lineWidth = Math.max(1, cell * 0.06);
          ctx.setLineDash([]);
          strokeCross(ctx, ex, ey, k);
        } else {
          ctx.fillStyle = "#ffffff";
          ctx.beginPath();
          ctx.arc(ex, ey, cell * 0.13, 0, Math.PI * 2);
          ctx.fill();
          ctx.fillStyle = "#0a0f1c";
          ctx.beginPath();
          ctx.arc(ex + dx * cell * 0.05, ey + dy * cell * 0.05, cell * 0.07, 0, Math.PI * 2);
          ctx.fill();
        }
      }
    }
    ctx.restore();
  }

  _drawMinimap(snap, L) {
    const scale = Math.min(150, this.cssW * 0.32) / snap.width;
    const dots = [];
    for (const s of snap.snakes || []) {
      if (!s.alive || !s.body || !s.body.length) continue;
      dots.push({ x: s.body[0][0], y: s.body[0][1], color: s.color || ACCENT, mine: s.id === this.me });
    }
    drawMinimap(this, snap, scale, dots, L, 0.85);
  }
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  if (ctx.roundRect) {
    ctx.roundRect(x, y, w, h, r);
  } else {
    ctx.rect(x, y, w, h);
  }
}
