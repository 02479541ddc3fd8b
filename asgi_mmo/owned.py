"""`OwnsTasks`: an async context manager that owns background tasks through an exit stack.

A backend or the leaderboard opens, in `__aenter__`, an `AsyncExitStack` holding its
task group (and whatever must be undone after it), keeps it with `_own(stack)`, and
this `__aexit__` unwinds it in reverse. The body's exception is not handed to the
stack: a task group given one would wrap it in an ExceptionGroup, and the caller's
error would come back in a shape it does not expect.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType


class OwnsTasks:
    _exit_stack: AsyncExitStack | None = None

    def _own(self, stack: AsyncExitStack) -> None:
        """Keep the entered stack (call with `stack.pop_all()` at the end of `__aenter__`)."""
        self._exit_stack = stack

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._exit_stack = self._exit_stack, None
        if stack is None:
            raise RuntimeError(f"{type(self).__name__} is not open")
        await stack.aclose()
