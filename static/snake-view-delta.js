// A snake view as a client holds it, and a view room's frames applied to it.
//
// Pure: no DOM, no network, no clock. The format is in docs/snake.md "Views";
// asgi_mmo/games/snake/viewdelta.py is the Python twin (tests/test_views_browser.py
// holds the two together, tick by tick).
//
//   const picture = viewPicture(welcome.view, welcome.state);  // or a `state`
//   applyViewTick(picture, tick);                               // each `tick`
//   viewSnapshot(picture);                                      // a SNAPSHOT to draw
//
// The picture keeps each snake's cells with their serials (the head has the
// highest), so a body seen only in parts is drawn in order; it holds every
// bucket (`view.bucket` cells a side) that its `view` rectangle touches.

function key(x, y) {
  return x + "," + y;
}

/** The picture of a `welcome`'s or `state`'s `view` and view SNAPSHOT. */
export function viewPicture(view, snapshot) {
  const picture = {
    width: snapshot.width,
    height: snapshot.height,
    view: { ...view },
    snakes: new Map(), // id -> entry (a SNAPSHOT snake without its body)
    cells: new Map(), // id -> Map(key -> [x, y, serial])
    food: new Map(), // key -> [x, y, v]
    stones: new Map(), // key -> [x, y]
  };
  for (const snake of snapshot.snakes) {
    const { body, serials, ...entry } = snake;
    picture.snakes.set(snake.id, entry);
    const own = new Map();
    body.forEach(([x, y], i) => own.set(key(x, y), [x, y, serials[i]]));
    picture.cells.set(snake.id, own);
  }
  for (const [x, y, v] of snapshot.food) picture.food.set(key(x, y), [x, y, v]);
  for (const [x, y] of snapshot.stones) picture.stones.set(key(x, y), [x, y]);
  return picture;
}

function filterCells(picture, keep) {
  for (const own of picture.cells.values()) {
    for (const [k, [x, y]] of own) if (!keep(x, y)) own.delete(k);
  }
  for (const map of [picture.food, picture.stones]) {
    for (const [k, [x, y]] of map) if (!keep(x, y)) map.delete(k);
  }
}

function applyPart(picture, part) {
  for (const [id, x, y] of part.cut || []) picture.cells.get(id)?.delete(key(x, y));
  for (const [id, x, y, serial] of part.cells || []) {
    if (!picture.cells.has(id)) picture.cells.set(id, new Map());
    picture.cells.get(id).set(key(x, y), [x, y, serial]);
  }
  for (const entry of part.snakes || []) picture.snakes.set(entry.id, { ...entry });
  for (const [x, y] of part.eaten || []) picture.food.delete(key(x, y));
  for (const [x, y, v] of part.food || []) picture.food.set(key(x, y), [x, y, v]);
  for (const [x, y] of part.stones_removed || []) picture.stones.delete(key(x, y));
  for (const [x, y] of part.stones || []) picture.stones.set(key(x, y), [x, y]);
}

/** Apply a view room's `tick` in place (a `state` replaces the picture: use `viewPicture`). */
export function applyViewTick(picture, msg) {
  if (msg.view) {
    picture.view = { ...msg.view };
    const { x, y, width, height, bucket } = picture.view;
    const [bx0, by0] = [Math.floor(x / bucket), Math.floor(y / bucket)];
    const [bx1, by1] = [Math.floor((x + width - 1) / bucket), Math.floor((y + height - 1) / bucket)];
    filterCells(picture, (cx, cy) => {
      const [bx, by] = [Math.floor(cx / bucket), Math.floor(cy / bucket)];
      return bx0 <= bx && bx <= bx1 && by0 <= by && by <= by1;
    });
  }
  const size = picture.view.bucket;
  for (const snapshot of msg.enter || []) {
    const [bx, by] = snapshot.b;
    filterCells(picture, (cx, cy) => Math.floor(cx / size) !== bx || Math.floor(cy / size) !== by);
    applyPart(picture, snapshot);
  }
  for (const fragment of msg.buckets || []) applyPart(picture, fragment);
  for (const [id, own] of picture.cells) {
    if (!own.size) {
      picture.cells.delete(id);
      picture.snakes.delete(id);
    }
  }
  for (const id of picture.snakes.keys()) if (!picture.cells.has(id)) picture.snakes.delete(id);
  return picture;
}

/** The picture as a SNAPSHOT: bodies head first (the parts outside the picture missing). */
export function viewSnapshot(picture) {
  const snakes = [];
  for (const [id, entry] of picture.snakes) {
    const own = [...(picture.cells.get(id)?.values() || [])].sort((a, b) => b[2] - a[2]);
    snakes.push({ ...entry, body: own.map(([x, y]) => [x, y]) });
  }
  return {
    width: picture.width,
    height: picture.height,
    snakes,
    food: [...picture.food.values()],
    stones: [...picture.stones.values()],
  };
}
