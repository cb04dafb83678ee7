"""The decision table: what a failed ChartMogul call means for the events it carried.

    answer                       call    action          reason               side effects
    401/403 AuthFailed           any     open circuit    —                    events stay queued
    429 RateLimited              any     retry           —                    fleet slows down
    503 Transient                any     retry           —                    fleet uses fewer connections
    5xx, timeout, reset          any     retry           —                    in-flight PATCH kept: it may
                                                                              have landed (recovery checks)
    404 Rejected                 GET     dead letter     customer_not_found
    404 Rejected                 PATCH   dead letter     customer_not_found   stale links re-resolved once;
                                                                              batches isolated
    400 "custom…" Rejected       PATCH   create the missing custom attributes, send once more
    other Rejected               GET     dead letter     rejected
    other Rejected               PATCH   dead letter     rejected             batches isolated

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
    GET = "get"
    PATCH = "patch"


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


def decide(error: DeliveryError, call: Call, *, new_custom_attributes: bool = False) -> Decision:
    if isinstance(error, AuthFailed):
        return Decision(Action.OPEN_CIRCUIT, clear_inflight=True)
    if isinstance(error, RateLimited):
        return Decision(Action.RETRY, slow_down=True, clear_inflight=True)
    if isinstance(error, Transient):
        return Decision(Action.RETRY, fewer_connections=error.status == 503)
    if not isinstance(error, Rejected):
        raise TypeError(f"no decision for {type(error).__name__}")
    patch = call is Call.PATCH
    if error.status == 404:
        reason = DeadLetterReason.CUSTOMER_NOT_FOUND
        return Decision(Action.DEAD_LETTER, reason, clear_inflight=True, re_resolve=patch, isolate=patch)
    if patch and new_custom_attributes and error.status == 400 and "custom" in error.message.lower():
        return Decision(Action.CREATE_CUSTOM_ATTRIBUTES)
    return Decision(Action.DEAD_LETTER, DeadLetterReason.REJECTED, clear_inflight=True, isolate=patch)
