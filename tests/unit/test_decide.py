"""The decision table (workers/decide.py): one row here per row of its docstring's table."""

from __future__ import annotations

import pytest

from relay.exceptions import AuthFailed, DeliveryError, RateLimited, Rejected, Transient
from relay.store import DeadLetterReason
from workers.decide import Action, Call, Decision, decide

RETRY = Action.RETRY
DEAD = Action.DEAD_LETTER
NOT_FOUND = DeadLetterReason.CUSTOMER_NOT_FOUND
REJECTED = DeadLetterReason.REJECTED


@pytest.mark.parametrize(
    ("error", "call", "decision"),
    [
        # 401/403 AuthFailed: open the circuit; nothing was applied, the events stay queued
        pytest.param(
            AuthFailed("bad key", status=401), Call.PATCH,
            Decision(Action.OPEN_CIRCUIT, clear_inflight=True), id="401 PATCH",
        ),
        pytest.param(
            AuthFailed("forbidden", status=403), Call.GET,
            Decision(Action.OPEN_CIRCUIT, clear_inflight=True), id="403 GET",
        ),
        # 429: retry, the fleet slows down
        pytest.param(
            RateLimited("slow down", status=429), Call.PATCH,
            Decision(RETRY, slow_down=True, clear_inflight=True), id="429 PATCH",
        ),
        pytest.param(
            RateLimited("slow down", status=429), Call.GET,
            Decision(RETRY, slow_down=True, clear_inflight=True), id="429 GET",
        ),
        # 503: retry with fewer connections; the PATCH may have landed, so it is kept
        pytest.param(
            Transient("busy", status=503), Call.PATCH,
            Decision(RETRY, fewer_connections=True), id="503 PATCH",
        ),
        pytest.param(
            Transient("busy", status=503), Call.GET,
            Decision(RETRY, fewer_connections=True), id="503 GET",
        ),
        # other 5xx, timeouts, resets: retry, in-flight PATCH kept for recovery
        pytest.param(Transient("oops", status=500), Call.PATCH, Decision(RETRY), id="500 PATCH"),
        pytest.param(Transient("gateway", status=504), Call.GET, Decision(RETRY), id="504 GET"),
        pytest.param(Transient("timed out"), Call.PATCH, Decision(RETRY), id="timeout PATCH"),
        pytest.param(Transient("connection reset"), Call.GET, Decision(RETRY), id="reset GET"),
        # 404 on GET: dead letter customer_not_found
        pytest.param(
            Rejected("no such customer", status=404), Call.GET,
            Decision(DEAD, NOT_FOUND, clear_inflight=True), id="404 GET",
        ),
        # 404 on PATCH: dead letter, stale links re-resolved once, batches isolated
        pytest.param(
            Rejected("no such customer", status=404), Call.PATCH,
            Decision(DEAD, NOT_FOUND, clear_inflight=True, re_resolve=True, isolate=True), id="404 PATCH",
        ),
        # 400 naming a custom attribute the PUT sets: create the missing ones (POST), set the rest
        pytest.param(
            Rejected("Custom attribute CAC does not exist", status=400), Call.CUSTOM_SET,
            Decision(Action.CREATE_CUSTOM_ATTRIBUTES), id="400 custom PUT",
        ),
        # ... but only on the PUT of custom attributes, with a 400 (a PATCH carries none)
        pytest.param(
            Rejected("Custom attribute CAC does not exist", status=400), Call.PATCH,
            Decision(DEAD, REJECTED, clear_inflight=True, isolate=True), id="400 custom PATCH",
        ),
        pytest.param(
            Rejected("custom attribute has the wrong type", status=422), Call.CUSTOM_SET,
            Decision(DEAD, REJECTED, clear_inflight=True, isolate=True), id="422 custom PUT",
        ),
        # the attribute calls are writes like the PATCH: 404 re-resolves, rejections isolate
        pytest.param(
            Rejected("no such customer", status=404), Call.TAGS_ADD,
            Decision(DEAD, NOT_FOUND, clear_inflight=True, re_resolve=True, isolate=True), id="404 tag add",
        ),
        pytest.param(
            Rejected("tags must be strings", status=400), Call.TAGS_REMOVE,
            Decision(DEAD, REJECTED, clear_inflight=True, isolate=True), id="400 tag remove",
        ),
        pytest.param(
            Rejected("Custom attribute CAC does not exist", status=400), Call.GET,
            Decision(DEAD, REJECTED, clear_inflight=True), id="400 custom GET",
        ),
        # other Rejected on GET: dead letter rejected
        pytest.param(
            Rejected("bad request", status=400), Call.GET,
            Decision(DEAD, REJECTED, clear_inflight=True), id="400 GET",
        ),
        # other Rejected on PATCH: dead letter rejected, batches isolated
        pytest.param(
            Rejected("name is too long", status=422), Call.PATCH,
            Decision(DEAD, REJECTED, clear_inflight=True, isolate=True), id="422 PATCH",
        ),
        pytest.param(
            Rejected("payment required", status=402), Call.PATCH,
            Decision(DEAD, REJECTED, clear_inflight=True, isolate=True), id="402 PATCH",
        ),
    ],
)  # fmt: skip
def test_decide(error: DeliveryError, call: Call, decision: Decision) -> None:
    assert decide(error, call) == decision


def test_an_error_outside_the_table_is_refused() -> None:
    with pytest.raises(TypeError, match="no decision for DeliveryError"):
        decide(DeliveryError("what is this", status=418), Call.PATCH)
