"""Group commit: accepts that arrive within one event-loop tick share one pipelined round trip.

Under load the web app runs many requests' handlers in one loop iteration; each reaches its
accept and waits here. The first one schedules a flush for the next iteration (`call_soon`),
which sends every waiting accept's script call down one connection as one redis-py pipeline
(not a MULTI: each call stays its own atomic script, as before) and answers each request with
its own result when the pipeline's replies are back. A request is still answered 2xx only
after Redis has replied to its own script call.

With replica acks (RELAY_REDIS_REPLICA_ACKS) the pipeline ends with INCR + one WAIT: WAIT
counts the replicas that hold this connection's writes so far, so one WAIT confirms every
script before it, and the INCR makes that cover a retried duplicate's original write too.
If the replicas do not confirm in time, every request of the pipeline gets NotReplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from relay.exceptions import NotReplicated
from relay.store import keys

ScriptArgs = Sequence[str | int | bytes]


@dataclass(slots=True)
class _Call:
    keys: Sequence[str]
    args: ScriptArgs
    answer: asyncio.Future[Any]


@dataclass
class CommitStats:
    requests: int = 0  # script calls answered
    round_trips: int = 0  # pipelines sent (NOSCRIPT retries included)
    largest: int = 0  # most calls in one pipeline


@dataclass
class GroupCommit:
    redis: aioredis.Redis
    script: AsyncScript
    replica_acks: int = 0
    replica_ack_timeout_ms: int = 1000
    stats: CommitStats = field(default_factory=CommitStats)
    _waiting: list[_Call] = field(default_factory=list)
    _flushes: set[asyncio.Task[None]] = field(default_factory=set)

    async def call(self, script_keys: Sequence[str], args: ScriptArgs) -> Any:
        """The script's reply for these keys and args, sent with this tick's other calls."""
        loop = asyncio.get_running_loop()
        call = _Call(script_keys, args, loop.create_future())
        self._waiting.append(call)
        if len(self._waiting) == 1:
            loop.call_soon(self._flush)
        return await call.answer

    def _flush(self) -> None:
        calls, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._send(calls))
        self._flushes.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._flushes.discard)

    async def _send(self, calls: list[_Call]) -> None:
        try:
            replies = await self._pipeline(calls)
        except BaseException as exc:  # every waiting request learns why (Redis down, cancelled)
            for call in calls:
                if not call.answer.done():
                    call.answer.set_exception(exc if isinstance(exc, Exception) else ConnectionError())
            if not isinstance(exc, Exception):
                raise
            return
        for call, reply in zip(calls, replies, strict=True):
            if call.answer.done():  # its request went away (client disconnected): nobody waits
                continue
            if isinstance(reply, Exception):
                call.answer.set_exception(reply)
            else:
                call.answer.set_result(reply)
        self.stats.requests += len(calls)
        self.stats.largest = max(self.stats.largest, len(calls))

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        """One round trip for all calls (two when Redis lost its scripts, e.g. after a failover)."""
        for attempt in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for call in calls:
                    pipe.evalsha(self.script.sha, len(call.keys), *call.keys, *call.args)
                if self.replica_acks:
                    pipe.incr(keys.REPLICA_ACK)
                    pipe.wait(self.replica_acks, self.replica_ack_timeout_ms)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            self.stats.round_trips += 1
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
                await self.redis.script_load(self.script.script)
                continue
            break
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
