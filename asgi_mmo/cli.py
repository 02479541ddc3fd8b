"""The `asgi-mmo` command: `asgi-mmo serve` (the default) runs the server with uvicorn;
`asgi-mmo loadtest` drives simulated players against one."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from types import FrameType
from typing import Literal, TypedDict

#: WebSocket frames above this are cut by uvicorn itself; the app refuses smaller
#: oversized frames with `too_big` (ASGI_MMO_MAX_MESSAGE_BYTES).
WS_MAX_SIZE = 1 << 20


class UvicornOptions(TypedDict):
    ws: Literal["websockets-sansio"]
    http: Literal["httptools"]
    ws_max_size: int
    ws_per_message_deflate: bool
    loop: Literal["uvloop", "asyncio"]


def uvicorn_options() -> UvicornOptions:
    """uvicorn's fastest settings for many small WebSocket messages (see docs/performance.md).

    permessage-deflate is off: compressing every tick frame once per player costs about
    twice the CPU per message and some 50 KB of memory per connection (docs/performance.md).
    """
    loop: Literal["uvloop", "asyncio"]
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        loop = "asyncio"
    else:
        loop = "uvloop"
    return {
        "ws": "websockets-sansio", "http": "httptools", "ws_max_size": WS_MAX_SIZE,
        "ws_per_message_deflate": False, "loop": loop,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asgi-mmo", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the game server (default)")
    for command in (parser, serve):
        command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        command.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        command.add_argument("--log-level", default=None, help="debug, info, warning or error")
    loadtest = commands.add_parser(
        "loadtest", help="simulated players against a running server (see docs/performance.md)",
        description="Simulated players in R rooms of any game the server lists (GET /api/games) on one event "
                    "loop: join, play (snake: turns; arena: steer, aim, fire; any other game: the examples of "
                    "its input schema), respawn, chat; a live progress line, then a summary table and one JSON "
                    "line (tick lateness, input-to-ack latency, ticks missed, state resyncs, deaths and "
                    "respawns, connection failures and drops).",
    )
    from asgi_mmo.loadtest.runner import add_arguments

    add_arguments(loadtest)
    args = parser.parse_args(argv)
    if args.command == "loadtest":
        from asgi_mmo.loadtest.runner import main as loadtest_main

        return loadtest_main(args)

    import uvicorn

    from asgi_mmo.exceptions import ConfigError
    from asgi_mmo.settings import Settings
    from asgi_mmo.web.admin import settle_admin_token

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        parser.exit(2, f"asgi-mmo: {error}\n")
    log_level = args.log_level or settings.log_level
    settle_admin_token()  # before uvicorn starts a worker: every worker accepts this one token
    signal.signal(signal.SIGTERM, _exit_after_sigterm)
    uvicorn.run(
        "asgi_mmo.app:app", host=args.host, port=args.port, log_level=log_level,
        # uvicorn's outer bound, in whole seconds; the app finishes its own drain within the grace
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds), **uvicorn_options(),
    )
    return 0


def _exit_after_sigterm(sig: int, frame: FrameType | None) -> None:
    """uvicorn hands SIGTERM back to this handler once it has shut down: exit 0, the stop was clean."""
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
