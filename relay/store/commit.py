"""Group commit: accepts that arrive within one event-loop tick share one script call.

Under load the web app runs many requests' handlers in one loop iteration; each reaches its
accept and waits here. The first one starts a send task, whose first step runs in the next
iteration and sends every waiting accept as one segment of ONE call of the accept script (the
script keeps each segment all or nothing and answers one entry per segment), and answers each
request with its own entry when the reply is back; once `eager_calls` wait, the last of them
sends them all at once instead. A request is still answered 2xx only after Redis has
replied to the call that holds its events. A flush of many events is cut into several calls
(`max_items` events each, whole segments) sent in one pipeline, so no call holds Redis long.

With replica acks (RELAY_REDIS_REPLICA_ACKS) the pipeline ends with INCR + one WAIT: WAIT
counts the replicas that hold this connection's writes so far, so one WAIT confirms every
call before it, and the INCR makes that cover a retried duplicate's original write too.
If the replicas do not confirm in time, every request of the pipeline gets NotReplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from relay.exceptions import NotReplicated, StoreRejected, StoreUnavailable
from relay.store import keys

ScriptArgs = Sequence[str | int | bytes]


@dataclass(slots=True)
class _Call:
    segment: ScriptArgs
    items: int
    answer: asyncio.Future[Any]


@dataclass
class CommitStats:
    requests: int = 0  # segments answered
    round_trips: int = 0  # round trips to Redis (NOSCRIPT retries included)
    largest: int = 0  # most segments sent together


@dataclass
class GroupCommit:
    """Batches callers' segments into calls of `script` with `script_keys` and, ahead of the
    segments, the arguments `header()` gives at send time."""

    redis: aioredis.Redis
    script: AsyncScript
    script_keys: Sequence[str]
    header: Callable[[], ScriptArgs]
    max_items: int = 500
    # A round trip that takes longer fails its requests (503: the CRM retries). The client's
    # own socket timeout is off (relay/store/store.py says why): this is the one that holds.
    round_trip_timeout_s: float = 5.0
    # This many waiting calls go out at once, from the last one's own task step: Redis works
    # on them while the loop handles the rest of its iteration (measured with wrk: the web
    # process idled ~20 % of the time waiting for whole-iteration round trips).
    eager_calls: int = 16
    replica_acks: int = 0
    replica_ack_timeout_ms: int = 1000
    stats: CommitStats = field(default_factory=CommitStats)
    _waiting: list[_Call] = field(default_factory=list)
    _flushes: set[asyncio.Task[None]] = field(default_factory=set)

    async def call(self, segment: ScriptArgs, items: int) -> Any:
        """The script's answer for this segment (of `items` events), sent with this tick's others."""
        loop = asyncio.get_running_loop()
        call = _Call(segment, items, loop.create_future())
        self._waiting.append(call)
        if len(self._waiting) >= self.eager_calls:
            await self._send()
        elif len(self._waiting) == 1:
            # The task's first step runs in the loop's next iteration, after every request
            # handled in this one: it takes all their calls then.
            task = loop.create_task(self._send())
            self._flushes.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._flushes.discard)
        return await call.answer

    async def _send(self) -> None:
        calls, self._waiting = self._waiting, []
        if not calls:
            return
        groups = self._groups(calls)
        try:
            replies = await self._pipeline(groups)
        except BaseException as exc:  # every waiting request learns why (Redis down, cancelled)
            for call in calls:
                if not call.answer.done():
                    failed = StoreUnavailable("the accept was cancelled", cause=type(exc).__name__)
                    call.answer.set_exception(exc if isinstance(exc, Exception) else failed)
            if not isinstance(exc, Exception):
                raise
            return
        for group, reply in zip(groups, replies, strict=True):
            answers = reply if isinstance(reply, list) else [reply] * len(group)
            for call, answer in zip(group, answers, strict=True):
                if call.answer.done():  # its request went away (client disconnected): nobody waits
                    continue
                if isinstance(answer, Exception):
                    call.answer.set_exception(answer)
                else:
                    call.answer.set_result(answer)
        self.stats.requests += len(calls)
        self.stats.largest = max(self.stats.largest, len(calls))

    def _groups(self, calls: list[_Call]) -> list[list[_Call]]:
        """Whole segments, at most `max_items` events a call (one segment may hold more)."""
        groups: list[list[_Call]] = [[]]
        items = 0
        for call in calls:
            if groups[-1] and items + call.items > self.max_items:
                groups.append([])
                items = 0
            groups[-1].append(call)
            items += call.items
        return groups

    async def _pipeline(self, groups: list[list[_Call]]) -> list[Any]:
        """One reply per group, in one round trip (two when Redis lost its scripts, e.g. after
        a failover); an exception where the call failed as a whole."""
        header = self.header()
        numkeys = len(self.script_keys)
        calls = []
        for group in groups:
            args = [*self.script_keys, *header]
            for call in group:
                args += call.segment
            calls.append(args)
        for attempt in range(2):
            try:
                async with asyncio.timeout(self.round_trip_timeout_s):
                    replies = await self._send_calls(numkeys, calls)
            except TimeoutError:
                raise StoreUnavailable(
                    f"Redis did not answer within {self.round_trip_timeout_s:g} s", cause="TimeoutError"
                ) from None
            self.stats.round_trips += 1
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
                await self.redis.script_load(self.script.script)
                continue
            break
        return self._confirmed(replies)

    async def _send_calls(self, numkeys: int, calls: list[list[str | int | bytes]]) -> list[Any]:
        if len(calls) == 1 and not self.replica_acks:  # the usual case: one command, no pipeline
            try:
                return [await self.redis.evalsha(self.script.sha, numkeys, *calls[0])]
            except (StoreRejected, NoScriptError) as exc:  # as the pipeline would answer it
                return [exc]
        async with self.redis.pipeline(transaction=False) as pipe:
            for args in calls:
                pipe.evalsha(self.script.sha, numkeys, *args)
            if self.replica_acks:
                pipe.incr(keys.REPLICA_ACK)
                pipe.wait(self.replica_acks, self.replica_ack_timeout_ms)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    def _confirmed(self, replies: list[Any]) -> list[Any]:
        """The calls' replies; with replica acks, NotReplicated for each unless WAIT counted
        enough replicas."""
        if not self.replica_acks:
            return replies
        incremented, acked = replies[-2:]
        replies = replies[:-2]
        for failure in (incremented, acked):
            if isinstance(failure, Exception):
                raise failure
        if int(acked) < self.replica_acks:
            why = NotReplicated(acked=int(acked), wanted=self.replica_acks)
            return [r if isinstance(r, Exception) else why for r in replies]
        return replies
