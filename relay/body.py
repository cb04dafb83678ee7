"""Reading a request's body within bounds: at most `limit` bytes, all of it within `timeout_s`.

The deadline is for the whole body, not per chunk: a client trickling a byte a second
would otherwise hold its connection (and a task) for as long as it likes. Both refusals
leave the rest of the body unread, so their answers close the connection
(`WebhookError.close_connection`). A client that goes away mid-upload raises starlette's
ClientDisconnect, which the app logs as `client_disconnected`: not an error of ours.

It reads the ASGI messages itself (the webhook path has no Request object; see
relay/webhooks.py): `content_length` is the request's Content-Length header, if any.
"""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from relay.exceptions import BodyTimeout, PayloadTooLarge


async def read_body(receive: Receive, content_length: str | None, *, limit: int, timeout_s: float) -> bytes:
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body is larger than {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
