"""Reading a request's body within bounds: at most `limit` bytes, all of it within `timeout_s`.

The deadline is for the whole body, not per chunk: a client trickling a byte a second
would otherwise hold its connection (and a task) for as long as it likes. Both refusals
leave the rest of the body unread, so their answers close the connection
(`WebhookError.close_connection`). A client that goes away mid-upload raises starlette's
ClientDisconnect, which the app logs as `client_disconnected`: not an error of ours.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from relay.exceptions import BodyTimeout, PayloadTooLarge


async def read_body(request: Request, *, limit: int, timeout_s: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)
