"""The decision table: what a failed ChartMogul call means for the events it carried.

    answer                       call    action          reason               side effects
    401/403 AuthFailed           any     open circuit    —                    events stay queued
    429 RateLimited              any     retry           —                    fleet slows down
    503 Transient                any     retry           —                    fleet uses fewer connections
    5xx, timeout, reset          any     retry           —                    calls written ahead are kept:
                                                                              they may have landed (recovery)
    404 Rejected                 GET     dead letter     customer_not_found
    404 Rejected                 write   dead letter     customer_not_found   stale links re-resolved once;
                                                                              batches isolated
    400 "custom…" Rejected       PUT custom  create the missing custom attributes (POST), then set the rest
    other Rejected               GET     dead letter     rejected
    other Rejected               write   dead letter     rejected             batches isolated

"write" is any of the calls a delivery sends (workers/plan.py): the PATCH of plain fields, tag
add/remove, custom set/remove. A 200 whose answer lacks a value sent is not an error but a
dead letter `not_applied` (workers/verify.py decides it, workers/delivery.py records it).

Retries back off with full jitter until the retry deadline (workers/policy.py); then the
events are dead letters `retries_exhausted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from relay.exceptions import AuthFailed, DeliveryError, RateLimited, Rejected, Transient
from relay.store import DeadLetterReason


class Action(Enum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    OPEN_CIRCUIT = "open_circuit"
    CREATE_CUSTOM_ATTRIBUTES = "create_custom_attributes"


class Call(Enum):
    """The calls a delivery makes; the writes share their values with workers.plan.WriteKind."""

    GET = "get"
    PATCH = "patch"
    TAGS_ADD = "tags_add"
    TAGS_REMOVE = "tags_remove"
    CUSTOM_SET = "custom_set"
    CUSTOM_REMOVE = "custom_remove"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: DeadLetterReason | None = None
    slow_down: bool = False
    fewer_connections: bool = False
    # Nothing was applied: forget the PATCH written ahead. Otherwise recovery checks it later.
    clear_inflight: bool = False
    re_resolve: bool = False  # events that reached this uuid through a link may resolve anew
    isolate: bool = False  # deliver a rejected batch one change at a time to find the bad one


def decide(error: DeliveryError, call: Call) -> Decision:
    if isinstance(error, AuthFailed):
        return Decision(Action.OPEN_CIRCUIT, clear_inflight=True)
    if isinstance(error, RateLimited):
        return Decision(Action.RETRY, slow_down=True, clear_inflight=True)
    if isinstance(error, Transient):
        return Decision(Action.RETRY, fewer_connections=error.status == 503)
    if not isinstance(error, Rejected):
        raise TypeError(f"no decision for {type(error).__name__}")
    write = call is not Call.GET
    if error.status == 404:
        reason = DeadLetterReason.CUSTOMER_NOT_FOUND
        return Decision(Action.DEAD_LETTER, reason, clear_inflight=True, re_resolve=write, isolate=write)
    if call is Call.CUSTOM_SET and error.status == 400 and "custom" in error.message.lower():
        return Decision(Action.CREATE_CUSTOM_ATTRIBUTES)
    return Decision(Action.DEAD_LETTER, DeadLetterReason.REJECTED, clear_inflight=True, isolate=write)
