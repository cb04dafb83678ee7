"""What browsers must not do with the operator surface (/admin, /dashboard), as ASGI middleware.

- No framing: every response says `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`,
  so another site cannot frame the dashboard and trick a click onto its buttons.
- No cross-origin changes: a request that is not GET/HEAD/OPTIONS is refused (403) when the
  browser says it comes from another site. `Sec-Fetch-Site` (set by the browser, not by the
  page) decides when present; older browsers are judged by `Origin` (else `Referer`), whose
  host must be the one the request was sent to, or that of RELAY_PUBLIC_BASE_URL. Clients that
  are not browsers send none of these and pass (they cannot ride an operator's login).

Only the host is compared, not the scheme: behind a proxy that ends TLS the app sees http
while the browser's Origin says https.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FRAME_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _host(url: str) -> str:
    try:
        return (urlsplit(url).netloc or "").lower()
    except ValueError:
        return ""


def cross_origin(scope: Scope, public_base_url: str | None = None) -> str | None:
    """Why this request comes from another site; None when it is same-origin or not a browser's."""
    site = _header(scope, b"sec-fetch-site").lower()
    if site:  # "none": the operator's own navigation (a bookmark, the address bar)
        return None if site in ("same-origin", "none") else f"the browser says so (Sec-Fetch-Site: {site})"
    origin = _header(scope, b"origin")
    seen, what = (origin, "Origin") if origin else (_header(scope, b"referer"), "Referer")
    if not seen:
        return None
    own = {_header(scope, b"host").lower()} | ({_host(public_base_url)} if public_base_url else set())
    if _host(seen) and _host(seen) in own - {""}:
        return None
    return f"{what} {seen[:200]} is not this site"


class BrowserGuard:
    """ASGI middleware: frame headers on every response; cross-origin changes refused."""

    def __init__(self, app: ASGIApp, *, public_base_url: str | None = None) -> None:
        self.app = app
        self.public_base_url = public_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {bytes(k).lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in FRAME_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        if scope.get("method", "GET") not in SAFE_METHODS:
            why = cross_origin(scope, self.public_base_url)
            if why is not None:
                await refuse(send_framed, f"cross-origin request refused: {why}")
                return
        await self.app(scope, receive, send_framed)


async def refuse(send: Send, why: str) -> None:
    body = orjson.dumps({"error": why})
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
