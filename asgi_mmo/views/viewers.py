"""The views of a view room's players, and handing each its frame every tick.

A room made with `"view": true` holds a `Viewers` (`Room.viewers`). It keeps
each player's view (its asked size and its rectangle, which is what the
player's client holds), builds the `view` and the view SNAPSHOT of a
`welcome`, and each tick moves every view after its player's focus and hands
the player its frame: a per-player head (`tick`, `ack`, `view` when the
rectangle moved) spliced in front of a tail the `ViewComposer` made once for
every view covering the same buckets. No JSON is encoded per player, and
nothing scans the field per player.

A player that missed ticks gets a `state` of its view, built from the same
cached bucket snapshots, as `fanout.fan_out` does for a plain room. The views
of players connected through other processes move here too (`move`), and the
room's owner publishes what they need (`cluster/owner.py`). A spectator's
view has no focus: it stays where its spectator put it (`pan`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from asgi_mmo.games.base import Bucket, SpatialGame
from asgi_mmo.seat import Seat
from asgi_mmo.stats import RoomStats
from asgi_mmo.views.compose import ViewComposer
from asgi_mmo.views.deliver import ViewFrames, ViewState
from asgi_mmo.views.rect import DEFAULT_SIZE, MARGIN, BucketRect, Rect, clamp_size, follow, place

#: the side of a bucket, in cells: a view's picture holds nothing farther than this outside it (a
#: game's SNAPSHOT of the view may hold less: snake's, no food or stone beyond 32 cells).
#: Half the largest view side (`rect.MAX_SIDE`), so a view touches at most 3 x 3 buckets; against 32,
#: a 1,000-player world's step costs 0.87x for 1.4x the bytes (docs/performance.md, "The world").
BUCKET_SIZE = 64


class Viewers:
    def __init__(self, game: SpatialGame, field_width: int, field_height: int, bucket: int = BUCKET_SIZE) -> None:
        self.game = game
        self.field = (field_width, field_height)
        self.bucket = bucket
        self.composer = ViewComposer(game, bucket)
        self._views: dict[str, ViewState] = {}
        self._asked: dict[str, tuple[int, int]] = {}
        #: spectators' free cameras: the top left corner asked for since the last tick (None: keep that axis)
        self._corners: dict[str, tuple[int | None, int | None]] = {}

    def ask(self, player_id: str, width: int | None, height: int | None) -> None:
        """The player asks for a view of this size (None: keep that side); clamped, in effect next tick."""
        view = self._views.get(player_id)
        current = self._asked.get(player_id, DEFAULT_SIZE) if view is None else (view.rect.width, view.rect.height)
        size = clamp_size(width or current[0], height or current[1], *self.field)
        self._asked[player_id] = size
        if view is not None and size != (view.rect.width, view.rect.height):
            view.resize = size

    def pan(self, viewer_id: str, x: int | None, y: int | None) -> None:
        """A spectator puts its view's top left corner here (clamped inside the field), next tick."""
        self._corners[viewer_id] = (x, y)

    def whole(self, viewer_id: str) -> None:
        """A viewer of the whole field (a recorder): its view is not held to the sizes players may ask."""
        self._asked[viewer_id] = self.field

    def forget(self, player_id: str) -> None:
        """The seat is gone."""
        self._views.pop(player_id, None)
        self._asked.pop(player_id, None)
        self._corners.pop(player_id, None)

    def welcome(self, player_id: str) -> dict[str, Any]:
        """`view` and `state` of a player's `welcome`, now (between ticks)."""
        view = self._place(player_id)
        rect = view.rect
        shown = {"x": rect.x, "y": rect.y, "width": rect.width, "height": rect.height, "bucket": self.bucket}
        return {"view": shown, "state": self.composer.fresh_state(rect, view.covered)}

    def _place(self, player_id: str) -> ViewState:
        """A new view for the player, of its asked size, centred on its focus (or where it was)."""
        width, height = self._asked.get(player_id) or clamp_size(*DEFAULT_SIZE, *self.field)
        old = self._views.get(player_id)
        focus = self.game.focus(player_id)
        if focus is None and old is not None:
            focus = (old.rect.x + width // 2, old.rect.y + height // 2)
        elif focus is None:
            focus = (self.field[0] // 2, self.field[1] // 2)
        rect = place(focus, width, height, *self.field)
        view = self._views[player_id] = ViewState(rect, BucketRect.of(rect, self.bucket))
        return view

    def move(self, player_id: str) -> tuple[ViewState, Rect, BucketRect, bool]:
        """The player's view moved for this tick (a new size, the focus): the view as its
        client holds it, the new rectangle and buckets, and whether the view is new here."""
        view = self._views.get(player_id)
        new = view is None
        if view is None:  # a player without a welcome of this room (a promoted mirror's)
            view = self._place(player_id)
        old = view.rect
        rect = old
        focus = self.game.focus(player_id)
        resized = view.resize is not None
        if view.resize is not None:
            center = (old.x + old.width // 2, old.y + old.height // 2)
            rect = place(focus or center, *view.resize, *self.field)
            view.resize = None
        corner = self._corners.pop(player_id, None) if self._corners else None
        if corner is not None:  # a spectator's camera: where it was put, not where a head is
            rect = self._at(rect, corner)
        elif not resized and (focus is None or old.keeps(focus)):
            return view, old, view.covered, new  # most views, most ticks: `follow` keeps it
        rect = follow(rect, focus, *self.field)
        covered = view.covered
        if rect is not old and (moved := BucketRect.of(rect, self.bucket)) != covered:
            covered = moved  # (else the same object: the composer's fast path)
        return view, rect, covered, new

    def _at(self, rect: Rect, corner: tuple[int | None, int | None]) -> Rect:
        """`rect` with its top left corner moved to `corner`, clamped so it lies inside the field."""
        x = rect.x if corner[0] is None else max(0, min(corner[0], self.field[0] - rect.width))
        y = rect.y if corner[1] is None else max(0, min(corner[1], self.field[1] - rect.height))
        return rect if (x, y) == (rect.x, rect.y) else Rect(x, y, rect.width, rect.height)

    def fan_out(
        self,
        seats: Iterable[Seat],
        tick: int,
        changes: Mapping[Bucket, dict[str, Any]],
        stats: RoomStats,
        *,
        now: float,
        slow_after: float,
        room_id: str,
    ) -> None:
        """Hand every seat's connection its view's frame of this tick."""
        composer = self.composer
        composer.begin(tick, changes)
        frames = ViewFrames(
            composer, tick, lambda _, rect, covered: composer.state(rect, covered), stats,
            now=now, slow_after=slow_after, room_id=room_id,
        )  # fmt: skip
        move, hand = self.move, frames.hand
        views, corners, focus_of, head = self._views, self._corners, self.game.focus, frames.head
        same, shared = composer.same, composer.shared_tails()
        sent = sent_bytes = dropped = 0
        for seat in seats:
            connection = seat.connection
            if connection is None:
                continue
            # Most views, most ticks: the view stays (`move`'s first case, `Rect.keeps` written
            # out), the frame is the head and the tail every view of these buckets shares, handed
            # over as `ViewFrames.deliver` does: no call to `move` or `hand`. In a world this loop
            # runs a thousand times a tick; each call it saves is 0.1 ms a tick. (Each frame goes
            # out as soon as it is made: all made first and handed over after measured no better.)
            player_id = seat.player_id
            view = views.get(player_id)
            if view is not None and view.resize is None and not connection.needs_state and (
                not corners or player_id not in corners
            ):
                focus = focus_of(player_id)
                rect = view.rect
                if focus is None or (
                    rect.x + MARGIN <= focus[0] <= rect.x + rect.width - 1 - MARGIN
                    and rect.y + MARGIN <= focus[1] <= rect.y + rect.height - 1 - MARGIN
                ):
                    tail, extra = shared.get(view.covered) or same(view.covered)
                    text = f"{head}{seat.ack}{tail}"
                    if connection.deliver_nowait(text, now):
                        sent += 1
                        sent_bytes += len(text) + extra
                    else:
                        connection.needs_state = True  # behind: a `state` brings it back once it catches up
                        dropped += 1
                    continue
            view, rect, covered, new = move(player_id)
            if new:
                connection.needs_state = True
            hand(seat, view, rect, covered)
        stats.msgs_out += sent
        stats.bytes_out += sent_bytes
        stats.ticks_dropped += dropped
