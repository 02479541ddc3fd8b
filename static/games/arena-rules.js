// The arena's client side of the rules: the tick delta, the movement formula
// the server runs (for prediction) and the ray tests (for the tracer a shot
// draws at once). Pure: no DOM, no network, no clock. The rules themselves
// are docs/arena.md; the movement functions are its "Movement" section,
// operation for operation, so they give the server's doubles to the bit.

/** Round to the 1/1000 grid, halves upwards (docs/arena.md, "Movement"). */
export const q = (v) => Math.floor(v * 1000 + 0.5) / 1000;

/** The velocity for stick (mx, my): scaled down to length 1 if longer, times `speed`. */
export function velocity(mx, my, speed) {
  const lsq = mx * mx + my * my;
  if (lsq > 1) {
    const l = Math.sqrt(lsq);
    mx = mx / l;
    my = my / l;
  }
  return [q(mx * speed), q(my * speed)];
}

/** One step of `dt` seconds, clamped so a circle of radius `r` stays in the w x h field. */
export function advance(x, y, vx, vy, dt, w, h, r) {
  return [q(Math.min(Math.max(x + vx * dt, r), w - r)), q(Math.min(Math.max(y + vy * dt, r), h - r))];
}

/**
 * The `predict` of a `Predictor` for the own ship: one tick (or part of one)
 * under the stick in force. `controls` is `{move: [mx, my]}` as sent (null
 * before any: the server's velocity holds). A dead ship does not move.
 * @param {{width: number, height: number, speed: number, radius: number}} world
 */
export function shipPredictor(world) {
  return (ship, controls, dt) => {
    if (!ship.alive) return ship;
    let vx = ship.vx;
    let vy = ship.vy;
    if (controls && controls.move) [vx, vy] = velocity(controls.move[0], controls.move[1], world.speed);
    const [x, y] = advance(ship.x, ship.y, vx, vy, dt, world.width, world.height, world.radius);
    return { ...ship, x, y, vx, vy };
  };
}

/**
 * Apply one `tick` message's change to an arena SNAPSHOT, in place; returns
 * it. The keys in the order of docs/arena.md, "The tick delta"; every item
 * sets a value, so applying a delta twice changes nothing. `shots` are
 * events to draw: the snapshot is not touched by them.
 */
export function applyArenaDelta(snapshot, msg) {
  const gone = new Set(msg.removed || []);
  /** @type {Map<string, any>} */
  const ships = new Map();
  for (const s of snapshot.ships || []) if (!gone.has(s.id)) ships.set(s.id, s);
  for (const s of msg.ships || []) ships.set(s.id, { ...s });
  for (const [id, x, y, vx, vy] of msg.moves || []) {
    const s = ships.get(id);
    if (s) Object.assign(s, { x, y, vx, vy });
  }
  for (const [key, field] of [["aims", "aim"], ["hp", "hp"], ["scores", "score"]]) {
    for (const [id, value] of msg[key] || []) {
      const s = ships.get(id);
      if (s) s[field] = value;
    }
  }
  for (const id of msg.died || []) {
    const s = ships.get(id);
    if (s) s.alive = false;
  }
  snapshot.ships = [...ships.values()];
  return snapshot;
}

/**
 * How far the ray from (ox, oy) along the unit vector (dx, dy) runs before
 * it meets the circle at (cx, cy) of radius r: 0 inside it, null if it misses.
 */
export function rayCircle(ox, oy, dx, dy, cx, cy, r) {
  const fx = cx - ox;
  const fy = cy - oy;
  const distSq = fx * fx + fy * fy;
  if (distSq <= r * r) return 0;
  const along = fx * dx + fy * dy;
  if (along <= 0) return null;
  const offSq = distSq - along * along;
  if (offSq > r * r) return null;
  return along - Math.sqrt(r * r - offSq);
}

/** How far the ray from (ox, oy) inside the w x h field runs before it leaves it. */
export function rayExit(ox, oy, dx, dy, w, h) {
  let reach = Infinity;
  if (dx > 0) reach = (w - ox) / dx;
  else if (dx < 0) reach = -ox / dx;
  if (dy > 0) reach = Math.min(reach, (h - oy) / dy);
  else if (dy < 0) reach = Math.min(reach, -oy / dy);
  return Math.max(reach, 0);
}

/**
 * Where a shot from `shooter` along `aim` ends in `picture`: the first other
 * live ship its ray meets, else the range or the wall (the server's rule,
 * judged on the picture the player sees).
 * @returns {{x: number, y: number, hit: string | null}}
 */
export function traceShot(picture, shooter, aim, range, radius) {
  const dx = Math.cos(aim);
  const dy = Math.sin(aim);
  let reach = Math.min(range, rayExit(shooter.x, shooter.y, dx, dy, picture.width, picture.height));
  let hit = null;
  for (const s of picture.ships || []) {
    if (s.id === shooter.id || !s.alive) continue;
    const d = rayCircle(shooter.x, shooter.y, dx, dy, s.x, s.y, radius);
    if (d != null && d < reach) {
      reach = d;
      hit = s.id;
    }
  }
  return { x: shooter.x + dx * reach, y: shooter.y + dy * reach, hit };
}
