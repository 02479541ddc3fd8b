"""The `asgi-mmo` command: `asgi-mmo serve` (the default) runs the server with uvicorn."""

from __future__ import annotations

import argparse
import sys

#: WebSocket frames above this are cut by uvicorn itself; the app refuses smaller
#: oversized frames with `too_big` (ASGI_MMO_MAX_MESSAGE_BYTES).
WS_MAX_SIZE = 1 << 20


def uvicorn_options() -> dict[str, object]:
    """uvicorn's fastest settings for many small WebSocket messages (see README, "Performance")."""
    options: dict[str, object] = {"ws": "websockets-sansio", "http": "httptools", "ws_max_size": WS_MAX_SIZE}
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        options["loop"] = "asyncio"
    else:
        options["loop"] = "uvloop"
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asgi-mmo", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the game server (default)")
    for command in (parser, serve):
        command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        command.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        command.add_argument("--log-level", default=None, help="debug, info, warning or error")
    args = parser.parse_args(argv)

    import uvicorn

    from asgi_mmo.settings import Settings

    log_level = args.log_level or Settings.from_env().log_level
    uvicorn.run("asgi_mmo.app:app", host=args.host, port=args.port, log_level=log_level, **uvicorn_options())
    return 0


if __name__ == "__main__":
    sys.exit(main())
