"""An experiment the ingest benchmark measures, not part of the relay: group commit.

The accepts of many concurrent webhook requests share one round trip to Redis. It packs the
Redis protocol itself (a well-kept client does that for the product), which is why it stays
here until redis-py can batch concurrent callers the same way; `tests/bench/ingest.py` shows
what it would buy (the "+ group commit" rows).

`Ledger.accept_many` makes one request's events durable with one call of accept_many.lua, one
round trip per request. Under load that round trip (a write and a read syscall, a wake-up of
Redis, redis-py packing ~20 arguments per event) costs the web process more than the webhook.
The `GroupCommitter` packs each request's call itself and writes every call that queued while
the previous write was in flight in one go:

    request A ─┐                                    ┌─ A answered (its reply read)
    request B ─┼─ pending ── one write ── Redis ────┼─ B answered
    request C ─┘  (queued while the last write      └─ C answered
                   was in flight)

What stays as it was:
- a request is answered only once Redis has acknowledged ITS events (its future resolves when
  its own reply is read), so a 202 still means durable;
- a request's events are all or nothing: they are one call of the ledger's own script, which
  runs atomically; several requests share a write, never a script call;
- requests fail alone: an error reply fails only its request, with the redis error that
  `Ledger.accept_many` would have raised (the web app answers 503 to it).

The script is the ledger's, to the byte; the per-event keys and arguments are those of
`Ledger.accept_many` (tests compare the records both write). It is sent by sha (EVALSHA) and
loaded again on NOSCRIPT.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError

from relay import keys
from relay.events import ParsedEvent
from relay.ledger import Accepted, Ledger, history_entry, now_ms


def _script(name: str) -> str:
    return resources.files("relay.lua").joinpath(f"{name}.lua").read_text()


# The ledger's own script, to the byte (so Redis caches one): accept_many.lua, with accept.lua
# pasted in as the function it calls once per event.
ACCEPT_MANY_SCRIPT = (
    "local function accept(KEYS, ARGV)\n" + _script("accept") + "\nend\n" + _script("accept_many")
)
ACCEPT_MANY_SHA = hashlib.sha1(ACCEPT_MANY_SCRIPT.encode()).hexdigest()


def _bulk(value: str | bytes | int) -> bytes:
    """One argument in the Redis protocol (RESP)."""
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = b"%d" % value
    return b"$%d\r\n%s\r\n" % (len(value), value)


def pack_command(*args: str | bytes | int) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(map(_bulk, args))


_EVALSHA = _bulk("EVALSHA") + _bulk(ACCEPT_MANY_SHA)
_LINKS_KEY = _bulk(keys.LINKS)
# accept.lua's keys 4 to 7 are the same for every event.
_SHARED_KEYS = b"".join(map(_bulk, (keys.READY, keys.LEASES, keys.RETRY, keys.EVENTS)))


def accept_many_call(events: Sequence[ParsedEvent], *, received_ms: int, ttl_s: int) -> bytes:
    """The packed EVALSHA that accepts `events` all or nothing: per event, the keys and arguments
    `Ledger.accept_many` gives accept.lua (packed here directly: this runs once per event)."""
    links = {record: uuid for event in events for record, uuid in event.links.items()}
    key_parts = [_LINKS_KEY]
    arg_parts = [_bulk(len(links))]
    for record, uuid in links.items():
        arg_parts += (_bulk(record), _bulk(uuid))
    received_and_ttl = _bulk(received_ms) + _bulk(ttl_s)
    history: dict[str, bytes] = {}  # one "accepted" entry per source: the request's time
    for event in events:
        change = event.change
        event_id, customer, source = change.event_id, change.customer.key, change.source
        if source not in history:
            history[source] = _bulk(history_entry("accepted", source=source))
        key_parts += (
            _bulk(keys.event(event_id)),
            _bulk(keys.event_history(event_id)),
            _bulk(keys.pending(customer)),
            _SHARED_KEYS,
            _bulk(keys.customer_events(customer)),
        )
        arg_parts += (
            _bulk(event_id),
            _bulk(customer),
            _bulk(change.occurred_at_ms),
            received_and_ttl,
            _bulk(source),
            _bulk(change.to_json()),
            _bulk(event.raw),
            history[source],
            _bulk(event.ignored_reason or ""),
        )
    key_count = 1 + 8 * len(events)
    arg_count = 1 + 2 * len(links) + 10 * len(events)
    return b"".join(
        (b"*%d\r\n" % (3 + key_count + arg_count), _EVALSHA, _bulk(key_count), *key_parts, *arg_parts)
    )


@dataclass(slots=True, eq=False)
class _Write:
    """One request's script call, and the future its caller waits on."""

    command: bytes
    events: int
    future: asyncio.Future[list[Accepted]]
    reply: Any = None

    def settle(self) -> None:
        if self.future.done():  # the caller went away
            return
        if isinstance(self.reply, BaseException):
            self.future.set_exception(self.reply)
        elif not isinstance(self.reply, list) or len(self.reply) != self.events:
            self.future.set_exception(ResponseError(f"unexpected reply to accept: {self.reply!r:.200}"))
        else:
            self.future.set_result([Accepted(int(r)) for r in self.reply])


class GroupCommitter:
    """`accept_many` with the semantics of `Ledger.accept_many`, its writes grouped.

    At most one write is in flight; what arrives meanwhile goes out in the next one, up to
    `max_events` events (a larger backlog goes out in several). Call `aclose` at shutdown: it
    waits for what is queued to be written.
    """

    def __init__(self, ledger: Ledger, *, max_events: int = 2000) -> None:
        self._redis: aioredis.Redis = ledger.redis
        self._ttl_s = ledger.event_ttl_s
        self._max_events = max_events
        self._pending: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self.writes = 0  # round trips to Redis so far
        self.accepts = 0  # accept_many calls so far

    async def accept(self, event: ParsedEvent) -> Accepted:
        [result] = await self.accept_many([event])
        return result

    async def accept_many(self, events: Sequence[ParsedEvent]) -> list[Accepted]:
        """Accept a batch all-or-nothing; returns once Redis has acknowledged it."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        if not events:
            return []
        self.accepts += 1
        write = _Write(
            command=accept_many_call(events, received_ms=now_ms(), ttl_s=self._ttl_s),
            events=len(events),
            future=asyncio.get_running_loop().create_future(),
        )
        self._pending.append(write)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        return await write.future

    async def aclose(self) -> None:
        """Refuse new accepts; return once the queued ones are written (or failed)."""
        self._closed = True
        if self._writer is not None:
            await asyncio.shield(self._writer)

    # --- the writer ---------------------------------------------------------------------------

    async def _write_pending(self) -> None:
        batch: list[_Write] = []
        try:
            # One loop turn first: the requests already being handled reach accept_many and
            # share this write instead of waiting for the next.
            await asyncio.sleep(0)
            while self._pending:
                batch = self._take_batch()
                try:
                    await self._commit(batch)
                except (redis.RedisError, OSError) as exc:
                    _fail(batch, exc)
                for write in batch:
                    write.settle()
        except BaseException as exc:
            _fail(batch + self._pending, exc)
            self._pending = []
            raise
        finally:
            self._writer = None

    def _take_batch(self) -> list[_Write]:
        taken, events = 0, 0
        for write in self._pending:
            if taken and events + write.events > self._max_events:
                break
            taken += 1
            events += write.events
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        return batch

    async def _commit(self, batch: list[_Write]) -> None:
        self.writes += 1
        pool = self._redis.connection_pool
        connection: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:

            async def exchange() -> None:
                await _exchange(connection, batch)

            async def reconnect(error: Exception) -> None:
                await connection.disconnect()

            # Like redis-py's own pipelines: a broken connection is reopened and the batch sent
            # again. An event that was written before the break then answers DUPLICATE.
            await connection.retry.call_with_retry(exchange, reconnect)
            missing = [w for w in batch if isinstance(w.reply, NoScriptError)]
            if missing:
                await connection.send_packed_command(pack_command("SCRIPT", "LOAD", ACCEPT_MANY_SCRIPT))
                await connection.read_response()
                await _exchange(connection, missing)
        finally:
            await pool.release(connection)


async def _exchange(connection: AbstractConnection, batch: list[_Write]) -> None:
    """Send every write's call in one packet, then read the replies in order."""
    await connection.send_packed_command(b"".join(write.command for write in batch))
    for write in batch:
        try:
            write.reply = await connection.read_response()
        except ResponseError as exc:  # an error reply: the connection is fine
            write.reply = exc


def _fail(writes: list[_Write], error: BaseException) -> None:
    for write in writes:
        if write.future.done():
            continue
        if isinstance(error, asyncio.CancelledError):
            write.future.cancel()
        else:
            write.future.set_exception(error)
