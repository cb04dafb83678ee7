"""How a declared source's sender proves itself, both ways: `verify` checks a request and
`sender_headers` makes the headers a sender sends (what `relay send` and the tests sign with).

    bearer        Authorization: Bearer <secret>
    header        <secret_header>: <secret>                      (X-Relay-Token: …)
    basic         Authorization: Basic base64(<user>:<password>)  (the secret is "user:password")
    hmac-sha256   <signature_header>: [sha256=]hex|base64(HMAC-SHA256(secret, raw body))

Secrets and signatures are compared in constant time. An HMAC signs the body only: a captured
request sent again is the same event (its event id), recorded once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from relay.exceptions import InvalidSignature
from relay.sources.declared.spec import Auth

_PREFIX = "sha256="
_EXPECTED = {"bearer": " (Bearer <token>)", "basic": " (Basic credentials)"}


def sender_headers(auth: Auth, body: bytes, secret: str) -> dict[str, str]:
    """The headers a sender configured with `secret` sends with `body` (and its content type)."""
    headers = {"Content-Type": "application/json"}
    if auth.kind == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    elif auth.kind == "header":
        headers[auth.label] = secret
    elif auth.kind == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
    else:
        digest = hmac.digest(secret.encode(), body, "sha256")
        encoded = digest.hex() if auth.encoding == "hex" else base64.b64encode(digest).decode()
        headers[auth.label] = encoded
    return headers


def verify(auth: Auth, headers: Mapping[str, str], body: bytes, secret: bytes) -> None:
    """Raise InvalidSignature (401) unless the request carries `secret` (or its signature)."""
    value = headers.get(auth.header, "").strip()
    if not value:
        raise InvalidSignature(f"missing {auth.label} header{_EXPECTED.get(auth.kind, '')}")
    if auth.kind == "hmac-sha256":
        given = _signature(value, auth.encoding)
        if not hmac.compare_digest(hmac.digest(secret, body, "sha256"), given):
            raise InvalidSignature(f"invalid signature in {auth.label}")
        return
    if auth.kind == "header":
        if not hmac.compare_digest(value.encode("latin-1"), secret):
            raise InvalidSignature(f"wrong secret in {auth.label}")
        return
    scheme, _, credentials = value.partition(" ")
    wanted = "bearer" if auth.kind == "bearer" else "basic"
    if scheme.lower() != wanted or not credentials.strip():
        raise InvalidSignature(f"Authorization must be {wanted.capitalize()} credentials")
    if auth.kind == "bearer":
        given = credentials.strip().encode("latin-1")
    else:
        try:
            given = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSignature("the HTTP Basic credentials are not valid base64") from None
    if not hmac.compare_digest(given, secret):
        raise InvalidSignature(f"wrong {wanted.capitalize()} credentials")


def _signature(value: str, encoding: str) -> bytes:
    """The signature's bytes, without an optional `sha256=` before them."""
    if value[: len(_PREFIX)].lower() == _PREFIX:
        value = value[len(_PREFIX) :]
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        url_safe = "-" in value or "_" in value
        return base64.b64decode(value, altchars=b"-_" if url_safe else None, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature(f"the signature is not {encoding}") from None
