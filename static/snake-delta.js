// The snake game's tick delta, applied to a local snapshot.
//
// Pure: no DOM, no network, no clock. `applySnakeDelta(snapshot, msg)` mutates
// `snapshot` in place (and returns it) so that a client holding the picture of
// tick N-1 holds the picture of tick N. The keys of a `tick` message are
// applied in this order (see docs/snake.md):
//
//   removed        [id]                delete the snake; unknown ids are ignored
//   snakes         [SNAKE]             replace or add by id
//   moves          [[id, x, y, grow]]  prepend head [x, y], set dir from the
//                                      move; grow == 0 drops the last cell
//   died           [id]                alive = false, body unchanged
//   scores         [[id, score]]
//   eaten          [[x, y]]            remove the food at that cell
//   food           [[x, y, v]]         add food
//   stones_removed [[x, y]]
//   stones         [[x, y]]            add stones
//
// Applying one delta twice changes nothing (a move whose head is already in
// place is skipped; adds replace what is at the same cell), which keeps a
// client safe that took its snapshot between two ticks.

// The four directions and their turn straight back, as in
// asgi_mmo/games/snake/directions.py: the one copy the pages use (snake-view.js, play.js).
export const DIRS = Object.freeze({
  up: [0, -1],
  down: [0, 1],
  left: [-1, 0],
  right: [1, 0],
});

export const OPPOSITE = Object.freeze({
  up: "down",
  down: "up",
  left: "right",
  right: "left",
});

/** The direction of a one-cell step from [x0, y0] to [x1, y1], or null. */
export function dirOfStep(x0, y0, x1, y1) {
  const dx = x1 - x0;
  const dy = y1 - y0;
  if (dx === 1 && dy === 0) return "right";
  if (dx === -1 && dy === 0) return "left";
  if (dx === 0 && dy === 1) return "down";
  if (dx === 0 && dy === -1) return "up";
  return null;
}

function cellKey(x, y) {
  return x + "," + y;
}

function removeCells(list, cells) {
  if (!cells.length || !list.length) return list;
  const gone = new Set(cells.map(([x, y]) => cellKey(x, y)));
  return list.filter((item) => !gone.has(cellKey(item[0], item[1])));
}

function addCells(list, cells) {
  if (!cells.length) return list;
  const added = new Map(cells.map((c) => [cellKey(c[0], c[1]), c.slice()]));
  const kept = list.filter((item) => !added.has(cellKey(item[0], item[1])));
  return kept.concat([...added.values()]);
}

/** An empty snapshot, for a client that holds no picture yet. */
export function emptySnapshot() {
  return { width: 0, height: 0, snakes: [], food: [], stones: [] };
}

/** Apply one `tick` message's change to `snapshot` (in place); returns it. */
export function applySnakeDelta(snapshot, msg) {
  const snakes = snapshot.snakes || (snapshot.snakes = []);
  const index = new Map();
  snakes.forEach((s, i) => index.set(s.id, i));

  if (msg.removed && msg.removed.length) {
    const gone = new Set(msg.removed);
    snapshot.snakes = snakes.filter((s) => !gone.has(s.id));
    index.clear();
    snapshot.snakes.forEach((s, i) => index.set(s.id, i));
  }
  const list = snapshot.snakes;

  if (msg.snakes) {
    for (const incoming of msg.snakes) {
      const copy = { ...incoming, body: (incoming.body || []).map((c) => c.slice()) };
      const at = index.get(copy.id);
      if (at === undefined) {
        index.set(copy.id, list.length);
        list.push(copy);
      } else {
        list[at] = copy;
      }
    }
  }

  if (msg.moves) {
    for (const [id, x, y, grow] of msg.moves) {
      const at = index.get(id);
      if (at === undefined) continue;
      const snake = list[at];
      const body = snake.body || (snake.body = []);
      if (body.length && body[0][0] === x && body[0][1] === y) continue; // applied already
      if (body.length) {
        const dir = dirOfStep(body[0][0], body[0][1], x, y);
        if (dir) snake.dir = dir;
      }
      body.unshift([x, y]);
      if (!grow && body.length > 1) body.pop();
    }
  }

  if (msg.died) {
    for (const id of msg.died) {
      const at = index.get(id);
      if (at !== undefined) list[at].alive = false;
    }
  }

  if (msg.scores) {
    for (const [id, score] of msg.scores) {
      const at = index.get(id);
      if (at !== undefined) list[at].score = score;
    }
  }

  if (msg.eaten) snapshot.food = removeCells(snapshot.food || [], msg.eaten);
  if (msg.food) snapshot.food = addCells(snapshot.food || [], msg.food);
  if (msg.stones_removed) snapshot.stones = removeCells(snapshot.stones || [], msg.stones_removed);
  if (msg.stones) snapshot.stones = addCells(snapshot.stones || [], msg.stones);
  return snapshot;
}
