"""Reading a request's body within bounds: at most `limit` bytes, all of it within `timeout_s`.

The deadline is for the whole body, not per chunk: a client trickling a byte a second
would otherwise hold its connection (and a task) for as long as it likes. Both refusals
leave the rest of the body unread, so their answers close the connection
(`WebhookError.close_connection`). A client that goes away mid-upload raises starlette's
ClientDisconnect, which the app logs as `client_disconnected`: not an error of ours.

It reads the ASGI messages itself (the webhook path has no Request object; see
relay/webhooks.py): `content_length` is the request's Content-Length header, if any.

Deadlines are kept by one timer for every body being read (`Deadlines`), not one per request:
`asyncio.timeout` arms and cancels a loop timer per request, ~5 µs of a ~110 µs webhook. The
price is precision: a body is cut off up to SWEEP_S after its deadline.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from relay.exceptions import BodyTimeout, PayloadTooLarge

SWEEP_S = 0.25


class Deadlines:
    """The tasks reading a body and their deadlines (loop time); one sweep every SWEEP_S,
    while any is reading, cancels those past theirs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reading: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._sweep_timer: asyncio.TimerHandle | None = None

    def start(self, task: asyncio.Task[Any], timeout_s: float) -> None:
        self.reading[task] = self.loop.time() + timeout_s
        if self._sweep_timer is None:
            self._sweep_timer = self.loop.call_later(SWEEP_S, self._sweep)

    def stop(self, task: asyncio.Task[Any]) -> None:
        """Done reading (read_body asked `expired` first, when it was cancelled)."""
        del self.reading[task]
        self.expired.discard(task)

    def _sweep(self) -> None:
        now = self.loop.time()
        for task, deadline in list(self.reading.items()):
            if deadline <= now and task not in self.expired:
                self.expired.add(task)
                task.cancel()
        self._sweep_timer = self.loop.call_later(SWEEP_S, self._sweep) if self.reading else None


_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()


def deadlines() -> Deadlines:
    loop = asyncio.get_running_loop()
    found = _DEADLINES.get(loop)
    if found is None:
        found = _DEADLINES[loop] = Deadlines(loop)
    return found


async def read_body(receive: Receive, content_length: str | None, *, limit: int, timeout_s: float) -> bytes:
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks = []
    size = 0
    task = asyncio.current_task()
    assert task is not None  # called from a request's task
    watch = deadlines()
    watch.start(task, timeout_s)
    timed_out = False
    try:
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
    except asyncio.CancelledError:
        if task not in watch.expired:
            raise  # cancelled by someone else (shutdown): not ours to answer
        task.uncancel()
        timed_out = True
    finally:
        watch.stop(task)
    if timed_out:
        raise BodyTimeout(f"the body did not arrive within {timeout_s:g} s")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
