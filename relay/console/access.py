"""Who may use the console, and proof that a change comes from one of its own forms.

Credentials are the admin surface's (relay/admin/auth.py): HTTP Basic with the admin token as
the password (any user name), or a bearer token. RELAY_CONSOLE_VIEWER_TOKEN, when set, opens
every page read-only. Without valid credentials every console URL answers 401 with a Basic
challenge, so a browser asks for them.

A browser replays Basic credentials on every request to the site, including a form another
site's page submits. So every POST carries a CSRF token in a hidden field: an HMAC, keyed by
the admin token, of the role and the time it was issued; without a valid one the answer is 403
and nothing changes. (relay/admin/browser.py refuses cross-origin changes as well.)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from enum import StrEnum

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from relay.admin.auth import presented_token, token_matches

ROLE_SCOPE_KEY = "relay.console.role"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD"})


class Role(StrEnum):
    ADMIN = "admin"  # every page and every action
    VIEWER = "viewer"  # every page, no action


def role_of(scope: Scope) -> Role:
    """The role the guard let this request in with."""
    role = scope.get(ROLE_SCOPE_KEY)
    return role if isinstance(role, Role) else Role.VIEWER


class ConsoleGuard:
    """ASGI middleware: 401 with a Basic challenge without valid credentials; 403 for a change
    asked with the viewer token. Lets the request on with its role in the scope."""

    def __init__(self, app: ASGIApp, *, admin_token: SecretStr, viewer_token: SecretStr | None) -> None:
        self.app = app
        self.admin_token = admin_token
        self.viewer_token = viewer_token

    def role(self, scope: Scope) -> Role | None:
        token = presented_token(scope)
        if not token:
            return None
        if token_matches(token, self.admin_token):
            return Role.ADMIN
        if self.viewer_token is not None and token_matches(token, self.viewer_token):
            return Role.VIEWER
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        role = self.role(scope)
        if role is None:
            await plain(send, 401, "The console wants the admin token as the password (any user name).")
            return
        if role is Role.VIEWER and scope.get("method", "GET") not in SAFE_METHODS:
            await plain(send, 403, "The viewer token is read-only: nothing was changed.")
            return
        scope[ROLE_SCOPE_KEY] = role
        await self.app(scope, receive, send)


async def plain(send: Send, status: int, text: str) -> None:
    """A small HTML answer sent before any page renders (the 401 carries the Basic challenge)."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>relay console</title></head>'
        f"<body><h1>{status}</h1><p>{text}</p></body></html>"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="relay console", charset="UTF-8"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Csrf:
    """Tokens for the console's forms: `issue(role)` for a page, `valid(role, token)` on a POST."""

    def __init__(self, admin_token: SecretStr) -> None:
        self._key = hmac.new(
            admin_token.get_secret_value().encode(), b"relay console csrf", hashlib.sha256
        ).digest()

    def _signature(self, role: Role, issued_s: int) -> str:
        return hmac.new(self._key, f"{role}.{issued_s}".encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, role: Role, *, now_s: float | None = None) -> str:
        issued = int(time.time() if now_s is None else now_s)
        return f"{issued}.{self._signature(role, issued)}"

    def valid(self, role: Role, token: str | None, *, now_s: float | None = None) -> bool:
        issued_text, _, signature = (token or "").partition(".")
        if not issued_text.isdigit() or not signature:
            return False
        issued = int(issued_text)
        now = time.time() if now_s is None else now_s
        if not 0 <= now - issued <= CSRF_MAX_AGE_S:
            return False
        return hmac.compare_digest(signature, self._signature(role, issued))
