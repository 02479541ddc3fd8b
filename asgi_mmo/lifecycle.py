"""A lifecycle modelled as an enum: the moves it may make, and a RuntimeError naming any other.

As starlette's WebSocket does with its states: a bad transition is a bug in
the caller, and the error says which one it was.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

State = TypeVar("State", bound=enum.Enum)


class Lifecycle(Generic[State]):
    """The allowed moves between the states of one enum; `move` checks one."""

    __slots__ = ("_name", "_moves")

    def __init__(self, name: str, moves: Mapping[State, Iterable[State]]) -> None:
        self._name = name
        self._moves = {state: frozenset(targets) for state, targets in moves.items()}

    def move(self, current: State, to: State) -> State:
        """`to`, if `current` may move there; else a RuntimeError that names the move."""
        if to not in self._moves[current]:
            raise RuntimeError(f'{self._name} cannot move from "{current.value}" to "{to.value}"')
        return to
