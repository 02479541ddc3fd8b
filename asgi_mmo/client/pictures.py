"""The picture a client holds, brought up to date with the game's own delta code.

A room's `welcome` (or a `state`) gives the picture; every `tick` after it is applied with
the game's Python applier: `asgi_mmo.games.snake.delta`, `asgi_mmo.games.arena.delta`, and
in a view room `asgi_mmo.games.snake.viewdelta.ViewPicture` (docs/snake.md "Views").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from asgi_mmo.client.updates import Snapshot
from asgi_mmo.games.arena import delta as arena_delta
from asgi_mmo.games.snake import delta as snake_delta
from asgi_mmo.games.snake.viewdelta import ViewPicture

#: a game's `apply_delta(snapshot, tick_frame)`: brings the snapshot to the frame's tick, in place
DeltaApplier = Callable[[Snapshot, dict[str, Any]], Snapshot]


@dataclass(frozen=True, slots=True)
class ClientGame:
    """What a client needs of a game: its applier, where its players' entities are, views."""

    apply_delta: DeltaApplier | None
    #: the SNAPSHOT's list of players' entities (each with `id`, `name`, `alive`), if any
    entities: str | None
    views: bool = False


#: the games of this package by protocol name; another game needs `connect(apply_delta=...)`
CLIENT_GAMES: dict[str, ClientGame] = {
    "snake": ClientGame(snake_delta.apply_delta, "snakes", views=True),
    "arena": ClientGame(arena_delta.apply_delta, "ships"),
}


class Picture(Protocol):
    """A picture at some tick: `apply` a `tick` frame; `snapshot()` is the SNAPSHOT it holds."""

    @property
    def view(self) -> dict[str, int] | None:
        """The view's rectangle in a view room, else None."""
        ...

    def apply(self, frame: dict[str, Any]) -> None: ...
    def snapshot(self) -> Snapshot: ...
    def alive(self) -> dict[str, tuple[bool, str]]:
        """Each player's entity in the picture: id -> (alive, name)."""
        ...


class WholePicture:
    """A room without views: the SNAPSHOT itself, changed in place by the game's applier.

    Without an applier (a game this package does not know) ticks change nothing: the
    picture is the last `welcome` or `state`.
    """

    def __init__(self, game: ClientGame, snapshot: Snapshot) -> None:
        self.game = game
        self._snapshot = snapshot

    @property
    def view(self) -> dict[str, int] | None:
        return None

    def apply(self, frame: dict[str, Any]) -> None:
        if self.game.apply_delta is not None:
            self.game.apply_delta(self._snapshot, frame)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def alive(self) -> dict[str, tuple[bool, str]]:
        if self.game.entities is None:
            return {}
        entities = self._snapshot.get(self.game.entities, ())
        return {e["id"]: (bool(e.get("alive")), str(e.get("name", ""))) for e in entities}


class ViewedPicture:
    """A view room (snake): cells by serial per snake, the buckets the rectangle touches."""

    def __init__(self, view: dict[str, int], snapshot: Snapshot) -> None:
        self._picture = ViewPicture.of(view, snapshot)
        self._cached: Snapshot | None = None

    @property
    def view(self) -> dict[str, int] | None:
        return self._picture.view

    def apply(self, frame: dict[str, Any]) -> None:
        self._picture.apply(frame)
        self._cached = None

    def snapshot(self) -> Snapshot:
        # built when asked, once per tick: a consumer that never looks pays nothing
        if self._cached is None:
            self._cached = self._picture.snapshot()
        return self._cached

    def alive(self) -> dict[str, tuple[bool, str]]:
        return {sid: (bool(e.get("alive")), str(e.get("name", ""))) for sid, e in self._picture.snakes.items()}


def client_game(name: str, apply_delta: DeltaApplier | None = None) -> ClientGame:
    """The game called `name` (a welcome's `game`); `apply_delta` overrides or adds one."""
    known = CLIENT_GAMES.get(name, ClientGame(None, None))
    if apply_delta is None:
        return known
    return ClientGame(apply_delta, known.entities, known.views)


def picture_of(game: ClientGame, frame: dict[str, Any]) -> Picture:
    """The picture of a `welcome` or `state` frame (a view room's when it carries `view`)."""
    if "view" in frame:
        if not game.views:
            raise ValueError("a view room of a game without a Python view picture")
        return ViewedPicture(frame["view"], frame["state"])
    return WholePicture(game, frame["state"])
