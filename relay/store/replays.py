"""Automatic replays: dead letters indexed by the cause that keeps them dead, and the triggers
that say a cause went away.

A dead letter that something other than an operator may fix waits for a *cause*:

    cause               its dead letters                       the triggers that end it
    link:<field>        customer_not_found: the record, its    link_imported  Links.add
                        parent, or the key naming the customer link_sent      accept_many.lua
                                                               merge          merge.lua
                                                               lead_created   workers (a lead)
                                                               lookup         workers (a look-up)
                                                               link_found     finish.lua
    owner:<email>       not_applied: that owner was not kept   owner_applied  workers
    retries_exhausted   retries_exhausted                      recovered      workers (health)

finish.lua indexes each such dead letter under its causes (a sorted set per cause, scored by
when it died, in µs of Redis's clock). Whatever ends a cause pushes a trigger — only when a
dead letter waits for it, so a link or an owner nobody waits for costs one EXISTS — dated by
the same clock. Workers pop the triggers (workers/replays.py) and replay the dead letters that
died *before* the trigger: one that dies again afterwards, for the same reason, waits for a new
trigger, so no trigger replays an event twice and nothing loops; and no event is replayed
automatically more than MAX_AUTO_REPLAYS times. A replay queues the stored change (an edit
stays), and its history says why ("replayed", trigger, why).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

import orjson
import redis.asyncio as aioredis

from relay.store import keys
from relay.store.ledger import Ledger
from relay.store.records import DeadLetterReason, ReplayTrigger, history_entry
from relay.store.scripts import Scripts

# An event is replayed automatically at most this often in its life; then an operator decides.
MAX_AUTO_REPLAYS = 3
# The trigger list keeps at most this many (the oldest go first) if no worker takes them.
MAX_TRIGGERS = 100_000
RETRIES_EXHAUSTED = "retries_exhausted"
PUSH_BATCH = 500  # causes per trigger.lua call

# The reasons a dead letter waiting for a cause of each kind may have died for.
_REASONS = {
    "link": (DeadLetterReason.CUSTOMER_NOT_FOUND,),
    "owner": (DeadLetterReason.NOT_APPLIED,),
    RETRIES_EXHAUSTED: (DeadLetterReason.RETRIES_EXHAUSTED,),
}


def link_cause(field: str) -> str:
    """The cause of a dead letter that a link of `field` (a CRM record or a customer key) ends."""
    return f"link:{field}"


def owner_cause(email: str) -> str:
    """The cause of a `not_applied` dead letter whose owner ChartMogul did not keep."""
    return f"owner:{email.strip().lower()}"


@dataclass(frozen=True, slots=True)
class Trigger:
    trigger: ReplayTrigger
    cause: str
    at_us: int  # when the cause went away (Redis's clock)
    detail: str  # what happened, for the event's history

    @classmethod
    def from_json(cls, raw: str | bytes) -> Trigger | None:
        """None for an entry this relay cannot read (an older or newer layout)."""
        try:
            doc = orjson.loads(raw)
            return cls(
                ReplayTrigger(doc["trigger"]), str(doc["cause"]), int(doc["at_us"]), str(doc["detail"])
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class AutoReplayed(Enum):
    """What an automatic replay of one dead letter did."""

    REPLAYED = 1
    NOT_DEAD = 0  # replayed, purged or expired meanwhile
    EXPIRED = -1
    WAITS = 2  # it died after the trigger: it waits for a new one
    NEVER = 3  # dead for another reason now, or its automatic replays are used up


@dataclass(frozen=True, slots=True)
class Health:
    """The fleet's deliveries: the last failure, and the first success since (ms; 0: none)."""

    failed_at_ms: int
    healthy_since_ms: int


class Replays:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts, ledger: Ledger) -> None:
        self.redis = redis
        self.scripts = scripts
        self.ledger = ledger

    # --- triggers ---------------------------------------------------------------------------

    async def push(self, trigger: ReplayTrigger, causes: Iterable[tuple[str, str]]) -> int:
        """`causes` ((cause, detail) pairs) went away: a trigger for each one a dead letter
        waits for. Returns how many were pushed."""
        pairs = list(dict(causes).items())
        pushed = 0
        for start in range(0, len(pairs), PUSH_BATCH):  # a big import: no long script
            batch = pairs[start : start + PUSH_BATCH]
            pushed += int(
                await self.scripts.trigger(
                    keys=[keys.REPLAY_TRIGGERS, *(keys.dlq_cause(cause) for cause, _ in batch)],
                    args=[str(trigger), MAX_TRIGGERS, *(part for pair in batch for part in pair)],
                )
            )
        return pushed

    async def pop(self, count: int) -> list[Trigger]:
        """The oldest `count` triggers, taken off the list (each goes to one worker)."""
        raw: list[str] | None = await self.redis.lpop(keys.REPLAY_TRIGGERS, count)  # type: ignore[assignment,misc]
        return [t for t in (Trigger.from_json(r) for r in raw or []) if t is not None]

    async def discard(self) -> int:
        """Drop every waiting trigger (automatic replay is off); how many there were."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.llen(keys.REPLAY_TRIGGERS)
            pipe.delete(keys.REPLAY_TRIGGERS)
            waiting, _ = await pipe.execute()
        return int(waiting)

    async def turn(self, *, ttl_ms: int) -> bool:
        """This worker's turn to act on the triggers (one worker at a time, for `ttl_ms`)."""
        return bool(await self.redis.set(keys.REPLAY_TURN, "1", nx=True, px=ttl_ms))

    # --- the dead letters waiting for a cause ----------------------------------------------

    async def waiting(self, cause: str, *, died_before_us: int, limit: int) -> list[str]:
        """The dead letters `cause` keeps that died before `died_before_us`, oldest first."""
        found: list[str] = await self.redis.zrangebyscore(
            keys.dlq_cause(cause), "-inf", f"({died_before_us}", start=0, num=limit
        )  # type: ignore[assignment]
        return found

    async def replay(self, event_id: str, trigger: Trigger) -> AutoReplayed:
        """Queue the dead letter again if it still waits for `trigger.cause`: it died for that
        cause's reason, before the trigger, and has automatic replays left."""
        record = await self.ledger.event(event_id)
        reasons = _REASONS.get(trigger.cause.partition(":")[0], ())
        change = record.change if record else None
        # A customer_not_found one is resolved afresh, under the key its change names.
        afresh = bool(change and trigger.cause.startswith("link:") and not change.customer.uuid)
        customer = change.customer.key if change and afresh else record.customer if record else ""
        _, job_id = self.ledger.mirror_keys(event_id)
        why = f"{trigger.trigger.phrase}: {trigger.detail}"
        result = await self.ledger.run_replay(
            event_id,
            customer=customer,
            occurred_ms=record.occurred_at_ms if record else 0,
            entry=history_entry("replayed", trigger=str(trigger.trigger), why=why, automatic=True),
            job_id=job_id,
            cause_index=keys.dlq_cause(trigger.cause),
            automatic=[
                orjson.dumps([str(r) for r in reasons]),
                trigger.at_us,
                MAX_AUTO_REPLAYS,
                "1" if afresh else "",
            ],
        )
        return AutoReplayed(result)

    # --- the fleet's health (for `retries_exhausted`) --------------------------------------

    async def record_health(self, *, failed_at_ms: int | None, succeeded_at_ms: int | None) -> None:
        """A worker's deliveries since it last said: its last failure, and its first success
        after that (health.lua keeps the fleet's)."""
        await self.scripts.health(
            keys=[keys.DELIVERY_HEALTH],
            args=[
                "" if failed_at_ms is None else failed_at_ms,
                "" if succeeded_at_ms is None else succeeded_at_ms,
            ],
        )

    async def health(self) -> Health:
        failed, since = await self.redis.hmget(keys.DELIVERY_HEALTH, ["failed_at_ms", "healthy_since_ms"])  # type: ignore[misc]
        return Health(int(failed or 0), int(since or 0))

    async def waiting_count(self, causes: Sequence[str]) -> dict[str, int]:
        """How many dead letters wait for each cause (for tests and `relay status`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for cause in causes:
                pipe.zcard(keys.dlq_cause(cause))
            counts: list[int] = await pipe.execute()
        return dict(zip(causes, counts, strict=True))
