"""Log lines: one per event, `key=value` pairs carrying room and player ids."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    """Send asgi_mmo's loggers to stderr at `level`, unless the host application configured logging."""
    logger = logging.getLogger("asgi_mmo")
    logger.setLevel(level.upper())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
