// Drawing the arena on a canvas: the field and its border, ships as circles
// in their colour with an aim barrel, names, hit points, tracers and hit
// sparks, the virtual stick, a minimap when the field is followed. Knows
// nothing of the network or of input devices: arena.js hands it a scene
// every animation frame. Player names are drawn with fillText, never markup.

import { ACCENT, CanvasStage, FIELD, clamp, drawFieldBorder, drawMinimap, drawSpinner, nameFont, strokeCross } from "../canvas.js";
import { rayExit } from "./arena-rules.js";

const GRID = "rgba(130, 160, 255, 0.06)";
const GRID_MAJOR = "rgba(130, 160, 255, 0.12)";
const HP_ON = ACCENT;
const HP_LOW = "#ff5a78";
const HP_OFF = "rgba(232, 237, 255, 0.18)";

/**
 * @typedef {object} Scene
 * @property {any} picture the arena picture to draw (SNAPSHOT shape), or null while there is none
 * @property {string | null} me the own ship's id
 * @property {number | null} aim the own ship's aim as the player holds it now
 * @property {{x0: number, y0: number, x1: number, y1: number, color: string, age: number, hit: boolean}[]} tracers age 0..1
 * @property {{x: number, y: number, age: number}[]} sparks
 * @property {Map<string, number>} hurt ship id -> age 0..1 of its last hit
 * @property {{x: number, y: number, dx: number, dy: number, radius: number} | null} thumb the virtual stick, CSS px
 * @property {boolean} idle nothing is coming: no spinner
 */

export class ArenaPainter extends CanvasStage {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    super(canvas);
    /** @type {import("../canvas.js").FieldLayout} the last frame's */
    this.layout = { scale: 10, ox: 0, oy: 0, follow: false };
  }

  /** A point in CSS px of the canvas, in world units (by the last frame's layout). */
  toWorld(point) {
    const L = this.layout;
    return { x: (point.x - L.ox) / L.scale, y: (point.y - L.oy) / L.scale };
  }

  /** @param {Scene} scene @param {number} now */
  draw(scene, now) {
    this.fit();
    const ctx = this.ctx;
    this.clear();
    const pic = scene.picture;
    if (!pic || !pic.width || !pic.height) {
      if (!scene.idle) drawSpinner(this, now);
      return;
    }
    const ships = pic.ships || [];
    const mine = ships.find((s) => s.id === scene.me) || null;
    const minScale = this.cssW < 600 ? 5.5 : 9;
    const L = (this.layout = this.layoutField(pic.width, pic.height, mine, minScale, 0.15));
    const rules = pic.rules || {};
    const radius = rules.ship_radius || 0.8;
    ctx.save();
    ctx.translate(L.ox, L.oy);
    this._drawField(pic.width, pic.height, L);
    for (const t of scene.tracers) this._drawTracer(t, L.scale);
    const glow = ships.length <= 60;
    for (const s of ships) if (!s.alive) this._drawShip(s, L.scale, radius, rules, false, null, 0);
    for (const s of ships) {
      if (s.alive && s !== mine) this._drawShip(s, L.scale, radius, rules, glow, null, scene.hurt.get(s.id) || 0);
    }
    if (mine && mine.alive) {
      const aim = scene.aim ?? mine.aim;
      this._drawAimGuide(mine, aim, L.scale, rules.shot_range || 25, pic.width, pic.height);
      this._drawShip(mine, L.scale, radius, rules, true, aim, scene.hurt.get(mine.id) || 0);
    }
    for (const p of scene.sparks) this._drawSpark(p, L.scale);
    ctx.restore();
    if (L.follow) this._drawMinimap(pic, L, scene.me);
    if (scene.thumb) this._drawThumb(scene.thumb);
  }

  _drawField(W, H, L) {
    const ctx = this.ctx;
    const s = L.scale;
    ctx.fillStyle = FIELD;
    ctx.fillRect(0, 0, W * s, H * s);
    // grid lines every 5 units (every 10 brighter), only those on screen
    const x0 = Math.max(0, Math.floor(-L.ox / s / 5) * 5);
    const x1 = Math.min(W, Math.ceil((this.cssW - L.ox) / s));
    const y0 = Math.max(0, Math.floor(-L.oy / s / 5) * 5);
    const y1 = Math.min(H, Math.ceil((this.cssH - L.oy) / s));
    ctx.lineWidth = 1 / this.dpr;
    for (const [major, style] of [[false, GRID], [true, GRID_MAJOR]]) {
      ctx.beginPath();
      for (let x = x0 + 5; x < x1; x += 5) {
        if ((x % 10 === 0) !== major) continue;
        ctx.moveTo(x * s, y0 * s);
        ctx.lineTo(x * s, y1 * s);
      }
      for (let y = y0 + 5; y < y1; y += 5) {
        if ((y % 10 === 0) !== major) continue;
        ctx.moveTo(x0 * s, y * s);
        ctx.lineTo(x1 * s, y * s);
      }
      ctx.strokeStyle = style;
      ctx.stroke();
    }
    drawFieldBorder(ctx, W * s, H * s);
  }

  /** The own ship's line of fire, to the range or the wall: where a shot would go. */
  _drawAimGuide(ship, aim, s, range, W, H) {
    const ctx = this.ctx;
    const dx = Math.cos(aim);
    const dy = Math.sin(aim);
    const reach = Math.min(range, rayExit(ship.x, ship.y, dx, dy, W, H));
    ctx.save();
    ctx.strokeStyle = "rgba(255, 255, 255, 0.22)";
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 6]);
    ctx.beginPath();
    ctx.moveTo(ship.x * s, ship.y * s);
    ctx.lineTo((ship.x + dx * reach) * s, (ship.y + dy * reach) * s);
    ctx.stroke();
    ctx.restore();
  }

  _drawShip(ship, s, radius, rules, glow, aimOverride, hurt) {
    const ctx = this.ctx;
    const cx = ship.x * s;
    const cy = ship.y * s;
    const r = Math.max(3, radius * s);
    const color = ship.color || ACCENT;
    ctx.save();
    if (!ship.alive) {
      ctx.globalAlpha = 0.3;
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.max(1, r * 0.18);
      ctx.setLineDash([r * 0.45, r * 0.35]);
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash([]);
      strokeCross(ctx, cx, cy, r * 0.45);
      ctx.restore();
      return;
    }
    const aim = aimOverride ?? ship.aim ?? 0;
    const isMe = aimOverride != null;
    // barrel, under the hull
    ctx.strokeStyle = "rgba(240, 244, 255, 0.92)";
    ctx.lineCap = "round";
    ctx.lineWidth = Math.max(2, r * 0.42);
    ctx.beginPath();
    ctx.moveTo(cx, cy);
    ctx.lineTo(cx + Math.cos(aim) * r * 1.75, cy + Math.sin(aim) * r * 1.75);
    ctx.stroke();
    // hull
    if (glow) {
      ctx.shadowColor = color;
      ctx.shadowBlur = Math.min(22, r * (isMe ? 2.2 : 1.5));
    }
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, Math.PI * 2);
    ctx.fill();
    ctx.shadowBlur = 0;
    ctx.globalAlpha = 0.35;
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.arc(cx - r * 0.25, cy - r * 0.25, r * 0.45, 0, Math.PI * 2);
    ctx.fill();
    ctx.globalAlpha = 1;
    if (isMe) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(cx, cy, r + 3.5, 0, Math.PI * 2);
      ctx.stroke();
    }
    if (hurt > 0) {
      ctx.globalAlpha = 1 - hurt;
      ctx.strokeStyle = HP_LOW;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(cx, cy, r + 2 + hurt * r * 1.5, 0, Math.PI * 2);
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
    // name above, hit points below
    const size = clamp(r * 1.35, 10, 13);
    ctx.font = nameFont(size, isMe);
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.fillStyle = isMe ? "#ffffff" : "rgba(232, 237, 255, 0.78)";
    ctx.shadowColor = "rgba(0, 0, 0, 0.9)";
    ctx.shadowBlur = 4;
    const hpTop = cy + r + (isMe ? 7 : 5);
    // Against the top edge of the canvas the name goes below the hit points, not off screen.
    const above = this.layout.oy + cy - r - (isMe ? 6 : 4) - size >= 2;
    if (!above) ctx.textBaseline = "top";
    ctx.fillText(ship.name || "", cx, above ? cy - r - (isMe ? 6 : 4) : hpTop + 6);
    ctx.shadowBlur = 0;
    this._drawHp(ship.hp ?? 0, rules.hit_points || ship.hp || 1, cx, hpTop, r);
    ctx.restore();
  }

  /** Hit points under a ship: a pip each, or a bar when there are many. */
  _drawHp(hp, max, cx, top, r) {
    const ctx = this.ctx;
    const width = clamp(r * 2.6, 16, 34);
    const color = hp <= max / 3 && max > 1 ? HP_LOW : HP_ON;
    if (max > 5) {
      const x0 = cx - width / 2;
      ctx.fillStyle = HP_OFF;
      ctx.fillRect(x0, top, width, 3);
      ctx.fillStyle = color;
      ctx.fillRect(x0, top, (width * clamp(hp, 0, max)) / max, 3);
      return;
    }
    const gap = max > 6 ? 1 : 2;
    const pip = Math.max(1.5, (width - gap * (max - 1)) / max);
    const x0 = cx - (pip * max + gap * (max - 1)) / 2;
    for (let i = 0; i < max; i++) {
      ctx.fillStyle = i < hp ? color : HP_OFF;
      ctx.fillRect(x0 + i * (pip + gap), top, pip, 3);
    }
  }

  _drawTracer(t, s) {
    const ctx = this.ctx;
    ctx.save();
    ctx.globalAlpha = Math.max(0, 1 - t.age);
    ctx.strokeStyle = t.color || "#ffffff";
    ctx.shadowColor = t.color || "#ffffff";
    ctx.shadowBlur = 8;
    ctx.lineCap = "round";
    ctx.lineWidth = 2.2;
    ctx.beginPath();
    ctx.moveTo(t.x0 * s, t.y0 * s);
    ctx.lineTo(t.x1 * s, t.y1 * s);
    ctx.stroke();
    ctx.lineWidth = 0.9;
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    ctx.restore();
    if (t.hit) this._drawSpark({ x: t.x1, y: t.y1, age: t.age }, s);
  }

  _drawSpark(p, s) {
    const ctx = this.ctx;
    ctx.save();
    ctx.globalAlpha = Math.max(0, 1 - p.age);
    ctx.fillStyle = "#fff6d8";
    ctx.shadowColor = "#ffcc4d";
    ctx.shadowBlur = 12;
    ctx.beginPath();
    ctx.arc(p.x * s, p.y * s, 2.5 + 4 * p.age, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
  }

  _drawThumb(t) {
    const ctx = this.ctx;
    const R = t.radius;
    const len = Math.hypot(t.dx, t.dy);
    const k = len > R ? R / len : 1;
    ctx.save();
    ctx.fillStyle = "rgba(232, 237, 255, 0.06)";
    ctx.strokeStyle = "rgba(232, 237, 255, 0.3)";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(t.x, t.y, R, 0, Math.PI * 2);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = "rgba(46, 230, 168, 0.55)";
    ctx.beginPath();
    ctx.arc(t.x + t.dx * k, t.y + t.dy * k, R * 0.38, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
  }

  _drawMinimap(pic, L, me) {
    const small = this.cssW < 600;
    const maxW = Math.min(150, this.cssW * (small ? 0.24 : 0.3));
    const scale = Math.min(maxW / pic.width, (this.cssH * (small ? 0.22 : 0.3)) / pic.height);
    const dots = [];
    for (const s of pic.ships || []) {
      if (s.alive) dots.push({ x: s.x, y: s.y, color: s.color || ACCENT, mine: s.id === me });
    }
    drawMinimap(this, pic, scale, dots, L);
  }
}
