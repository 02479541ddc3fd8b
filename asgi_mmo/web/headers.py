"""The response headers the web edge adds: security headers for HTML pages, no-store for private answers.

The pages load nothing from other hosts, and a Content-Security-Policy keeps it
so: scripts, styles and images come from this origin only, and a page may open
connections only to its own origin (which, for CSP level 3 browsers, includes
`ws:`/`wss:` to the same host; the explicit entries cover older ones).
"""

from __future__ import annotations

import re
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

#: for answers that hold private data (admin) or must not be reused (errors)
NO_STORE = {"Cache-Control": "no-store"}

#: A Host header fit to be repeated in the policy (name or address, optional port).
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

ReferrerPolicy = Literal["same-origin", "no-referrer"]


def content_security_policy(request: Request) -> str:
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self'{sockets}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def secure_page(request: Request, response: Response, *, referrer_policy: ReferrerPolicy) -> Response:
    """`response`, an HTML page, with the security headers every page carries.

    Pages are revalidated on every load (`no-cache`), so a new release reaches
    browsers at once; the lobby and game pages send the referrer to their own
    origin only, the admin dashboard never.
    """
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(request)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = referrer_policy
    headers["Cache-Control"] = "no-cache"
    return response
