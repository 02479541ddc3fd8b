"""Joining a view's frame from bucket fragments serialised once per tick.

`ViewComposer.begin` takes a tick's changes by bucket (`SpatialGame.bucket_changes`)
and serialises each changed bucket's fragment; after it, every JSON text is
made at most once per tick, however many views use it: each bucket snapshot a view entering the
bucket (or a `state`) needs, each rectangle's `view` object, and each frame
tail, keyed by the buckets a view covered and covers (players whose views
cover the same buckets share one string). The frame's tail is what follows a
player's `ack`:

    ,"enter":[SNAPSHOT of each bucket the view enters],"buckets":[FRAGMENT of each other dirty bucket it covers]}

(either key left out when its list is empty). Nothing here looks at the
field: only at the buckets that views cover. A bucket's snapshot is kept
from tick to tick until the bucket changes (every change to a bucket's
content, a snake's entry included, puts the bucket in that tick's changes),
so a view entering a quiet bucket costs no new snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from asgi_mmo.games.base import Bucket, SpatialGame
from asgi_mmo.views.rect import BucketRect, Rect

#: (JSON text, its UTF-8 bytes beyond its character count)
Text = tuple[str, int]


def _text(json: str) -> Text:
    return json, 0 if json.isascii() else len(json.encode()) - len(json)


class ViewComposer:
    def __init__(self, game: SpatialGame | None, size: int) -> None:
        """`game`: the room's (None in a process that relays the room: `begin_relayed`)."""
        self.game = game
        self.size = size
        #: the buckets of each covered rectangle seen (kept across ticks)
        self._bucket_lists: dict[BucketRect, tuple[Bucket, ...]] = {}
        #: bucket snapshots as JSON, kept until the bucket changes (strings: no work for the
        #: garbage collector, unlike the dicts, which are built afresh each tick they are needed)
        self._snapshot_json: dict[Bucket, str] = {}
        self.begin(0, {})

    def begin(self, tick: int, changes: Mapping[Bucket, dict[str, Any]]) -> None:
        """A new tick: its changes by bucket; the previous tick's caches are dropped, but
        for the snapshots of buckets that did not change."""
        self.tick = tick
        #: each changed bucket's fragment, serialised once: most buckets are seen by someone
        dumps = orjson.dumps
        self._fragments: dict[Bucket, str] = {b: dumps(change).decode() for b, change in changes.items()}
        self._snapshots: dict[Bucket, dict[str, Any]] = {}
        snapshot_json = self._snapshot_json
        if len(snapshot_json) > 4 * len(changes) + 4096:  # a bound: most are dropped below anyway
            snapshot_json.clear()
        for b in changes:
            snapshot_json.pop(b, None)
        self._same: dict[BucketRect, Text] = {}
        self._tails: dict[tuple[BucketRect, BucketRect], Text] = {}
        self._states: dict[Rect, Text] = {}
        self._rects: dict[Rect, str] = {}

    def snapshot(self, bucket: Bucket) -> dict[str, Any]:
        """The bucket's content at this tick (built once, for every view and state that needs it)."""
        data = self._snapshots.get(bucket)
        if data is None:
            if self.game is None:
                raise LookupError(f"bucket {bucket} was not relayed")
            data = self._snapshots[bucket] = self.game.bucket_snapshot(bucket[0], bucket[1], self.size)
        return data

    def snapshot_text(self, bucket: Bucket) -> str:
        """The bucket's snapshot at this tick as JSON (made once)."""
        text = self._snapshot_json.get(bucket)
        if text is None:
            text = self._snapshot_json[bucket] = orjson.dumps(self.snapshot(bucket)).decode()
        return text

    def begin_relayed(self, tick: int, fragments: dict[Bucket, str], entered: dict[Bucket, str]) -> None:
        """A new tick whose texts the room's owner made (a process that relays the room):
        the fragments of the buckets its views cover, the snapshots of those they enter."""
        self.begin(tick, {})
        self._fragments = fragments
        self._snapshot_json = entered

    def fragment_text(self, bucket: Bucket) -> str | None:
        """The bucket's fragment this tick as JSON (None: it did not change)."""
        return self._fragments.get(bucket)

    def shared_tails(self) -> Mapping[BucketRect, Text]:
        """This tick's `same` texts made so far, by covered buckets (read-only: a room's fan-out
        looks there first, and calls `same` only for a rectangle not seen yet this tick)."""
        return self._same

    def same(self, covered: BucketRect) -> Text:
        """What follows the ack in the tick of a view that covers the same buckets as before
        (most views, most ticks)."""
        text = self._same.get(covered)
        if text is None:
            joined = ",".join(filter(None, map(self._fragments.get, self._buckets_of(covered))))  # (C loops)
            text = self._same[covered] = _text(f',"buckets":[{joined}]}}' if joined else "}")
        return text

    def tail(self, old: BucketRect, new: BucketRect) -> Text:
        """What follows the ack in the tick of a view that covered `old` and covers `new`."""
        if old is new:
            return self.same(new)
        fragments = self._fragments
        key = (old, new)
        text = self._tails.get(key)
        if text is not None:
            return text
        buckets = self._buckets_of(new)
        entered = [self.snapshot_text(bucket) for bucket in buckets if not old.holds(bucket)]
        changed = [
            fragment for bucket in buckets if old.holds(bucket) and (fragment := fragments.get(bucket)) is not None
        ]
        parts = []
        if entered:
            parts.append(f'"enter":[{",".join(entered)}]')
        if changed:
            parts.append(f'"buckets":[{",".join(changed)}]')
        text = self._tails[key] = _text("," + ",".join(parts) + "}" if parts else "}")
        return text

    def _buckets_of(self, covered: BucketRect) -> tuple[Bucket, ...]:
        found = self._bucket_lists.get(covered)
        if found is None:
            if len(self._bucket_lists) > 65536:  # rectangles come back; a bound all the same
                self._bucket_lists.clear()
            found = self._bucket_lists[covered] = tuple(covered.buckets())
        return found

    def state(self, rect: Rect, covered: BucketRect) -> Text:
        """The view SNAPSHOT of `rect` (which covers these buckets) at this tick, as JSON: per
        rectangle, not per buckets, as the game may leave out what lies far outside it."""
        text = self._states.get(rect)
        if text is None:
            if self.game is None:
                raise LookupError("a relayed view's state comes from the room's owner")
            parts = [self.snapshot(bucket) for bucket in self._buckets_of(covered)]
            snapshot = self.game.view_snapshot(parts, (rect.x, rect.y, rect.width, rect.height))
            text = self._states[rect] = _text(orjson.dumps(snapshot).decode())
        return text

    def rect(self, rect: Rect) -> str:
        """The `view` object of a rectangle, with the bucket size (a client drops what its
        view no longer covers, bucket by bucket)."""
        text = self._rects.get(rect)
        if text is None:
            text = self._rects[rect] = f'{rect.to_json()[:-1]},"bucket":{self.size}}}'
        return text

    def fresh_state(self, rect: Rect, covered: BucketRect) -> dict[str, Any]:
        """The view SNAPSHOT of `rect` now, between ticks (a welcome): not from this tick's caches."""
        game = self.game
        if game is None:
            raise LookupError("a relayed view's state comes from the room's owner")
        parts = [game.bucket_snapshot(bx, by, self.size) for bx, by in covered.buckets()]
        return game.view_snapshot(parts, (rect.x, rect.y, rect.width, rect.height))
