"""Connection: frames go straight to the socket while nothing is queued; a send that suspends
is finished by the writer, and everything after it follows in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from asgi_mmo.connection import Connection, ConnectionState, OutboxState
from asgi_mmo.protocol import refuse

pytestmark = pytest.mark.anyio


class Socket:
    """A send that finishes at once, or suspends while `blocked`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.unblocked: anyio.Event | None = None
        self.fail = False

    async def send(self, frame: str) -> None:
        if self.fail:
            raise OSError("gone")
        if self.unblocked is not None:
            await self.unblocked.wait()
        self.sent.append(frame)


async def test_frames_go_straight_to_the_socket_once_the_writer_runs() -> None:
    socket = Socket()
    connection = Connection(socket.send, 4)
    assert connection.deliver_nowait("before the writer")  # queued: the welcome goes first
    assert socket.sent == []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(connection.run_writer)
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == ["before the writer"]
        assert connection.deliver_nowait("a", now=5.0)
        assert socket.sent[-1] == "a", "sent inside deliver_nowait, no task switch"
        assert connection.caught_up() and connection.last_progress == 5.0
        tasks.cancel_scope.cancel()
    connection.close_outbox()


async def test_a_send_that_suspends_is_finished_by_the_writer_in_order() -> None:
    socket = Socket()
    connection = Connection(socket.send, 3)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(connection.run_writer)
        await anyio.wait_all_tasks_blocked()
        socket.unblocked = anyio.Event()
        assert connection.deliver_nowait("1")  # started, suspended: handed to the writer
        assert connection.deliver_nowait("2")
        assert connection.deliver_nowait("3")
        assert connection.deliver_nowait("4")  # the outbox holds 3 besides the send in flight
        assert not connection.deliver_nowait("5"), "the outbox is bounded"
        assert connection.queue_depth() == 4 and not connection.caught_up()
        assert connection.stalled_for(connection.last_progress + 2) == 2
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == []
        socket.unblocked.set()
        await anyio.wait_all_tasks_blocked()
        assert socket.sent == ["1", "2", "3", "4"]
        assert connection.caught_up()
        socket.unblocked = None
        assert connection.deliver_nowait("6")
        assert socket.sent[-1] == "6"
        tasks.cancel_scope.cancel()
    connection.close_outbox()


@asynccontextmanager
async def served(connection: Connection) -> AsyncIterator[anyio.CancelScope]:
    """`connection` as its socket runs it: bound to a scope (the one yielded, which ends the
    connection), its writer running and waiting; the outbox closed once the scope ended."""
    with anyio.CancelScope() as scope:
        connection.bind_scope(scope)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(connection.run_writer)
            await anyio.wait_all_tasks_blocked()
            yield scope
    connection.close_outbox()


async def test_a_suspended_send_is_closed_when_the_connection_ends() -> None:
    socket = Socket()
    connection = Connection(socket.send, 3)
    async with served(connection) as scope:
        socket.unblocked = anyio.Event()
        assert connection.deliver_nowait("1")
        scope.cancel()
    assert not connection.deliver_nowait("2")
    assert socket.sent == []


async def test_a_failed_direct_send_ends_the_connection() -> None:
    socket = Socket()
    connection = Connection(socket.send, 3)
    async with served(connection) as scope:
        socket.fail = True
        assert not connection.deliver_nowait("1")
        await anyio.sleep_forever()
    assert scope.cancel_called
    assert connection.closed_by_client and connection.close_reason is not None
    assert connection.close_reason.code == "disconnected"


# ---- the lifecycles ---------------------------------------------------------------------


def outbox_state_of(connection: Connection) -> OutboxState:
    """Read afresh: after one `is` check mypy takes the property for fixed, though the connection moves it."""
    return connection.outbox_state


def state_of(connection: Connection) -> ConnectionState:
    """Read afresh, as `outbox_state_of`."""
    return connection.state


async def test_the_outbox_waits_goes_direct_drains_and_closes() -> None:
    socket = Socket()
    connection = Connection(socket.send, 3)
    assert outbox_state_of(connection) is OutboxState.WAITING
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(connection.run_writer)
        await anyio.wait_all_tasks_blocked()
        assert outbox_state_of(connection) is OutboxState.DIRECT
        socket.unblocked = anyio.Event()
        connection.deliver_nowait("1")
        assert outbox_state_of(connection) is OutboxState.DRAINING
        socket.unblocked.set()
        await anyio.wait_all_tasks_blocked()
        assert outbox_state_of(connection) is OutboxState.DIRECT and socket.sent == ["1"]
        tasks.cancel_scope.cancel()
    connection.close_outbox()
    assert outbox_state_of(connection) is OutboxState.CLOSED
    connection.close_outbox()  # twice is fine: the endpoint's `finally` may follow a failed send
    assert outbox_state_of(connection) is OutboxState.CLOSED


async def test_attaching_twice_or_after_close_names_the_bad_transition() -> None:
    connection = Connection(Socket().send, 3)
    async with anyio.create_task_group() as tasks:
        connection.attach(tasks)
        with pytest.raises(RuntimeError, match='outbox is "direct"'):
            connection.attach(tasks)
    connection.close_outbox()
    async with anyio.create_task_group() as tasks:
        with pytest.raises(RuntimeError, match='outbox is "closed"'):
            connection.attach(tasks)


async def test_the_first_reason_wins_and_a_client_gone_stays_gone() -> None:
    connection = Connection(Socket().send, 3)
    assert state_of(connection) is ConnectionState.OPEN and not connection.closed_by_client
    first = refuse("too_slow", "slow")
    connection.close_nowait(first)
    connection.close_nowait(refuse("server_shutdown", "later"))
    assert state_of(connection) is ConnectionState.CLOSING and connection.close_reason is first
    connection.client_gone()
    assert state_of(connection) is ConnectionState.GONE and connection.closed_by_client
    connection.close_nowait(refuse("room_closed", "after the client left"))
    assert state_of(connection) is ConnectionState.GONE and connection.close_reason is first


async def test_a_failed_send_closes_the_outbox_and_marks_the_client_gone() -> None:
    socket = Socket()
    connection = Connection(socket.send, 3)
    async with anyio.create_task_group() as tasks:
        connection.attach(tasks)
        socket.fail = True
        assert not connection.deliver_nowait("1")
    assert outbox_state_of(connection) is OutboxState.CLOSED
    assert state_of(connection) is ConnectionState.GONE
    assert not connection.deliver_nowait("2")
