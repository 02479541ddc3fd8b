"""The hardened serving path shared by `asgi-mmo serve` and `gunicorn -c gunicorn.conf.py` (docs/operators.md)."""
