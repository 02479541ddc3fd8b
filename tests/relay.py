"""In-process relay tests: what the owner's node does with what a `RoomMirror` sends it."""

from __future__ import annotations

from typing import Any

from asgi_mmo.cluster.messages import Input, Sync, ViewSize
from asgi_mmo.cluster.owner import OwnedRoom
from asgi_mmo.room import Room


def route_to_owner(room: Room, owned: OwnedRoom, player_id: str, sent: list[Any]) -> None:
    """Hand the owner the messages a mirror sent for one player (parsed from the wire format), and
    empty the list."""
    for message in sent:
        seat = room.seats[player_id]  # (looked up per message: none sent, none needed)
        if isinstance(message, Sync):
            owned.want_state(message.players)
        elif isinstance(message, ViewSize):
            room.ask_view(seat, message.width, message.height)
        elif isinstance(message, Input):
            room.handle_input(seat, message.seq, message.data)
    sent.clear()
