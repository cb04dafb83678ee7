"""The admin token: `Authorization: Bearer <RELAY_ADMIN_TOKEN>` on /admin, /dashboard (and /metrics
when RELAY_METRICS_REQUIRE_AUTH is on).

With no token configured the admin surface is off: its routes answer 404 (they are not
mounted), never open. A wrong or missing token answers 401 with a JSON error.

Browsers cannot send a bearer header to /dashboard, so there HTTP Basic with the token as the
password (any user name) works too. Browsers replay Basic credentials on cross-site requests,
so a Basic-authenticated POST must also carry `X-Requested-With` (the dashboard's own jQuery
calls send it; a cross-site form cannot), which keeps other sites from requeueing or
deleting jobs through an operator's browser; relay/admin/browser.py also refuses changes
whose Origin is another site's, and framing.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import orjson
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def token_matches(presented: str, token: SecretStr) -> bool:
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())


def basic_password(credentials: str) -> str | None:
    """The password of HTTP Basic credentials (base64 of `user:password`); None if malformed."""
    try:
        return base64.b64decode(credentials, validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return None


def presented_token(scope: Scope) -> str | None:
    """The token a request presents: a bearer token, or the password of Basic credentials."""
    scheme, _, credentials = _header(scope, b"authorization").strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials
    return basic_password(credentials) if scheme.lower() == "basic" else None


def check(scope: Scope, token: SecretStr, *, allow_basic: bool = False) -> str | None:
    """None when the request carries the token; else why not (for the 401's body)."""
    authorization = _header(scope, b"authorization")
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return None if token_matches(credentials, token) else "the admin token is not valid"
    if allow_basic and scheme.lower() == "basic" and credentials:
        password = basic_password(credentials)
        if password is None:
            return "malformed Basic credentials"
        if not token_matches(password, token):
            return "the admin token is not valid"
        if scope.get("method", "GET") not in SAFE_METHODS and not _header(scope, b"x-requested-with"):
            return "a Basic-authenticated change needs X-Requested-With (use the dashboard's buttons)"
        return None
    return "missing admin token: send Authorization: Bearer <RELAY_ADMIN_TOKEN>"


async def unauthorized(send: Send, why: str, *, basic: bool) -> None:
    challenge = b'Basic realm="relay dashboard"' if basic else b'Bearer realm="relay admin"'
    body = orjson.dumps({"error": why})
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequireAdminToken:
    """ASGI middleware: pass the request on only with the admin token."""

    def __init__(self, app: ASGIApp, *, token: SecretStr, allow_basic: bool = False) -> None:
        self.app = app
        self.token = token
        self.allow_basic = allow_basic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no websockets behind the admin token
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        why = check(scope, self.token, allow_basic=self.allow_basic)
        if why is not None:
            await unauthorized(send, why, basic=self.allow_basic)
            return
        await self.app(scope, receive, send)
