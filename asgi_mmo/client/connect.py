"""`connect(url, name=...)`: join a room and hold a `Player` for the block's length."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from asgi_mmo.client.pictures import DeltaApplier
from asgi_mmo.client.player import Player, Resume
from asgi_mmo.client.session import JoinRequest, join


@contextlib.asynccontextmanager
async def connect(
    url: str,
    *,
    name: str,
    room: str | None = None,
    game: str | None = None,
    token: str | None = None,
    view: tuple[int, int] | None = None,
    auth: str | None = None,
    spectate: bool = False,
    resume: bool = True,
    resume_attempts: int = 8,
    backoff: tuple[float, float] = (0.25, 4.0),
    seq: int = 0,
    apply_delta: DeltaApplier | None = None,
    timeout: float = 10.0,
    max_updates: int = 1024,
) -> AsyncIterator[Player]:
    """Join (`room`; without it a quick join of `game`; with `token` resume that seat) and
    yield the `Player`, which reads, applies and resumes in a task of its own until the
    block ends; the block's end closes the socket without leaving (`await player.leave()`
    frees the seat). A refused join raises its `ServerError` (`RoomNotFound`, `BadName`, ...).
    """
    request = JoinRequest(name, room, game, token, view, auth, spectate)
    websocket, welcome = await join(request.url(url), timeout=timeout)
    player = Player(
        url, request, websocket, welcome, resume=Resume(resume, resume_attempts, *backoff), timeout=timeout,
        max_updates=max_updates, seq=seq, apply_delta=apply_delta,
    )
    # The player's one task, owned by this block: always ended and awaited before it is left.
    # (Not a TaskGroup: that would wrap an exception of the caller's block in an ExceptionGroup.)
    reader = asyncio.get_running_loop().create_task(player.run(), name=f"asgi-mmo client {player.room}")
    try:
        yield player
    finally:
        try:
            await player.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(reader)
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
