"""Sending webhooks the way CRMs do: real HTTP, real signatures."""

from __future__ import annotations

import contextlib
import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from relay.demo import signed_headers


@dataclass
class Answer:
    status: int
    body: Any
    text: str

    @classmethod
    def read(cls, status: int, raw: bytes) -> Answer:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        return cls(status, parsed, raw.decode(errors="replace"))


def post(url: str, body: bytes, headers: Mapping[str, str] | None = None) -> Answer:
    """POST like a CRM would; if the server answers early (413) and closes, still read its answer."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname, f"no host in {url}"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("POST", parts.path + (f"?{parts.query}" if parts.query else ""))
        for name, value in {"content-length": str(len(body)), **dict(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for start in range(0, len(body), 65536):
                connection.send(body[start : start + 65536])
        response = connection.getresponse()
        status, raw = response.status, response.read()
    finally:
        connection.close()
    return Answer.read(status, raw)


def get(url: str, headers: Mapping[str, str] | None = None) -> Answer:
    request = urllib.request.Request(url, method="GET", headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return Answer.read(status, raw)


def send_generic(
    base_url: str, secret: str, event: Mapping[str, Any], *, msg_id: str | None = None
) -> Answer:
    body = orjson.dumps(event)
    headers = signed_headers(secret, body, msg_id=msg_id or f"msg_{event.get('id', 'x')}")
    return post(f"{base_url}/webhooks/generic", body, headers)


def iso(at: datetime | None = None) -> str:
    """A time as CRMs write it: ISO 8601 in UTC with a Z."""
    return (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
