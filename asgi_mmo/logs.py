"""Log lines: one per event, `key=value` pairs carrying room and player ids.

A seat's resume token is as good as the seat, and a player's authorization
token (`auth=`, docs/auth.md) as good as the player: neither reaches a log line.
uvicorn logs every request's path and query (its access log, and the
WebSocket handshake lines of its error log), so a filter on those loggers
replaces the value of every `token=` and `auth=` parameter before any handler
sees it, under every serving command (the app installs it when it is made).
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: the loggers uvicorn writes request paths to
REQUEST_LOGGERS = ("uvicorn.access", "uvicorn.error")
#: the query parameters whose values are secrets
SECRET_PARAMETERS = ("token=", "auth=")
_TOKEN = re.compile(r"((?:token|auth)=)[^&\s\"']+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    """`text` with the value of every `token=` and `auth=` query parameter replaced."""
    return _TOKEN.sub(REDACTED, text)


def _has_secret(text: str) -> bool:
    return any(parameter in text for parameter in SECRET_PARAMETERS)


class RedactTokens(logging.Filter):
    """Rewrites a record's message and arguments so no resume or authorization token is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and _has_secret(record.msg):
            record.msg = redact(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any(isinstance(arg, str) and _has_secret(arg) for arg in args):
                record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in args)
        return True


def configure_logging(level: str) -> None:
    """Send asgi_mmo's loggers to stderr at `level`, unless the host application configured
    logging; keep tokens out of uvicorn's request lines whoever configured it."""
    logger = logging.getLogger("asgi_mmo")
    logger.setLevel(level.upper())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    for name in REQUEST_LOGGERS:
        request_logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in request_logger.filters):
            request_logger.addFilter(RedactTokens())
