"""The `asgi-mmo` command: `asgi-mmo serve` (the default) runs the server with uvicorn;
`asgi-mmo loadtest` drives simulated players against one."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import math
import os
import signal
import socket
import sys
import textwrap
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from asgi_mmo.serving.sockets import bound_send_buffers
from asgi_mmo.settings import ENVIRONMENT, Settings

if TYPE_CHECKING:  # uvicorn is imported when serving, not for `loadtest` or `--help`
    import uvicorn

def uvicorn_options(settings: Settings | None = None) -> dict[str, Any]:
    """uvicorn's options under the hardened commands (asgi_mmo/serving/options.py). Without `settings`,
    the protocols are import strings, as uvicorn's command line takes them (bench/common.py), whose
    limits come from the environment. Imported lazily: `loadtest` and `--help` need no uvicorn."""
    from asgi_mmo.serving.options import HTTP_PROTOCOL, WS_PROTOCOL
    from asgi_mmo.serving.options import uvicorn_options as hardened

    if settings is None:
        return {**hardened(Settings.from_env()), "http": HTTP_PROTOCOL, "ws": WS_PROTOCOL}
    return hardened(settings)


def environment_help() -> str:
    """The `--help` epilog: every `ASGI_MMO_*` variable with its default and meaning (settings.py)."""
    defaults = {field.name: field.default for field in dataclasses.fields(Settings)}
    lines = ["environment variables (unset or empty: the default):"]
    for variable, (name, meaning) in ENVIRONMENT.items():
        lines.append(f"  {variable} (default: {_shown(defaults.get(name))})")
        lines.extend(textwrap.wrap(meaning, 96, initial_indent="      ", subsequent_indent="      "))
    lines.append("Every setting is described in README.md and docs/operators.md.")
    return "\n".join(lines)


def _shown(default: object) -> str:
    if default is None or default == ():
        return "unset"
    if isinstance(default, tuple):
        return ",".join(default)
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


#: uvicorn's exit status when the app does not start
STARTUP_FAILURE = 3


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to HOST:PORT, handed to uvicorn: a taken port fails here, before anything starts
    (and no other process can take the port between a check and uvicorn's bind). OSError if it cannot.

    Made as uvicorn makes its own (`Config.bind_socket`): IPv6 when the host holds a colon, SO_REUSEADDR;
    and with a bounded send buffer, which the sockets it accepts inherit (asgi_mmo/serving/sockets.py).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound_send_buffers([sock])
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def cannot_listen(address: str, error: OSError) -> str:
    """One line naming the address and why it cannot be listened on."""
    if error.errno == errno.EADDRINUSE:
        reason = "the address is already in use (another server there? pick another port)"
    else:
        reason = error.strerror or str(error)
    return f"asgi-mmo: cannot listen on {address}: {reason}"


def host_port(host: str, port: int) -> str:
    """HOST:PORT, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_url(host: str, port: int, path: str = "") -> str:
    return f"http://{host_port(host, port)}{path}"


def announce_urls(host: str, port: int) -> None:
    """Where the lobby and the dashboard are; printed once the server listens."""
    print(
        f"asgi-mmo: lobby {http_url(host, port, '/')}  dashboard {http_url(host, port, '/admin')}",
        file=sys.stderr, flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asgi-mmo", description=__doc__, epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser(
        "serve", help="run the game server (default)", description="Run the game server with uvicorn.",
        epilog=environment_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    from asgi_mmo.web.admin import TOKEN_VARIABLE, announce_token, new_token

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        parser.exit(2, f"asgi-mmo: {error}\n")
    try:
        sock = listen_socket(args.host, args.port)
    except OSError as error:  # before a token is made: nothing of this run is printed
        parser.exit(1, cannot_listen(host_port(args.host, args.port), error) + "\n")
    host, port = args.host, sock.getsockname()[1]
    # Made before uvicorn loads the app, so the app takes it from the environment; printed once listening.
    made: str | None = None
    if not os.environ.get(TOKEN_VARIABLE, "").strip():
        made = os.environ[TOKEN_VARIABLE] = new_token()

    def listening() -> None:
        announce_urls(host, port)
        if made is not None:
            announce_token(made)

    signal.signal(signal.SIGTERM, _exit_after_sigterm)
    config = uvicorn.Config(
        "asgi_mmo.app:app", host=host, port=port, log_level=args.log_level or settings.log_level,
        # uvicorn's outer bound, in whole seconds; the app finishes its own drain within the grace
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds), **uvicorn_options(settings),
    )
    with sock:
        started = serve_on(config, sock, listening)
    return 0 if started else STARTUP_FAILURE


def serve_on(config: uvicorn.Config, sock: socket.socket, listening: Callable[[], None]) -> bool:
    """uvicorn serving on `sock` until it stops; `listening()` once it accepts. True if it ever started."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # the app's lifespan ran and the socket accepts
                listening()

    server = AnnouncingServer(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn hands SIGINT back once it has shut down, as `uvicorn.run` does
        pass
    return server.started


def _exit_after_sigterm(sig: int, frame: FrameType | None) -> None:
    """uvicorn hands SIGTERM back to this handler once it has shut down: exit 0, the stop was clean."""
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
