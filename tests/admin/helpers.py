"""Helpers for the operator surface's tests: an admin HTTP client, seeded events, the CLI."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import SecretStr

from relay.events import ParsedEvent
from relay.sources.generic import GenericSource
from relay.store import EventStatus, Outcome, Store, keys
from tests.cli import relay_cli as relay_cli  # re-exported for the admin tests
from tests.conftest import GENERIC_SECRET

ADMIN_TOKEN = "adm_test_token_4b1d9e7c55aa"
UUID_A = "cus_00000000-0000-4000-8000-00000000000a"
UUID_B = "cus_00000000-0000-4000-8000-00000000000b"


@dataclass
class Reply:
    status: int
    body: Any
    text: str
    headers: dict[str, str]


def request(
    url: str,
    method: str = "GET",
    *,
    body: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    if body is not None:
        data = orjson.dumps(body)
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, got = exc.code, exc.read(), dict(exc.headers)
    text = raw.decode(errors="replace")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    return Reply(status, parsed, text, {k.lower(): v for k, v in got.items()})


class AdminClient:
    def __init__(self, base_url: str, token: str | None = ADMIN_TOKEN) -> None:
        self.base_url = base_url
        self.token = token

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**auth, **(extra or {})}

    def get(self, path: str, **headers: str) -> Reply:
        return request(self.base_url + path, headers=self.headers(headers))

    def post(self, path: str, body: Any = None, **headers: str) -> Reply:
        return request(self.base_url + path, "POST", body=body, data=b"", headers=self.headers(headers))

    def put(self, path: str, body: Any = None) -> Reply:
        return request(self.base_url + path, "PUT", body=body, headers=self.headers())


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def generic_payload(event_id: str, customer_uuid: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "customer": {"uuid": customer_uuid},
        **changes,
    }


def parsed(payload: Mapping[str, Any], *, raw: Mapping[str, Any] | None = None) -> ParsedEvent:
    """The event the generic source makes of `payload`; `raw` stores another payload with it
    (as if the mapping had been different when the event arrived)."""
    event = GenericSource(SecretStr(GENERIC_SECRET)).remap(orjson.dumps(payload).decode())
    if raw is None:
        return event
    return ParsedEvent(change=event.change, raw=orjson.dumps(raw).decode())


async def settle_as_worker(store: Store, customer: str, outcomes: Sequence[Outcome]) -> None:
    """Record outcomes as a worker does: hold the customer's lease, then finish it."""
    token = "test-worker"
    claimed = await store.deliveries.claim(1000, lease_ms=60_000, token=token)
    if customer not in claimed:  # not ready (nothing else waits for it): lease it as claim would
        await store.redis.hset(keys.LEASE_OWNERS, customer, token)  # type: ignore[misc]
        await store.redis.zadd(keys.LEASES, {customer: now_ms() + 60_000})
        claimed.append(customer)
    for leased in claimed:
        await store.deliveries.finish(leased, token, outcomes if leased == customer else ())


async def seed_dead(
    store: Store,
    events: Sequence[ParsedEvent],
    *,
    reason: str = "rejected",
    http_status: int | None = 400,
    error: str = "The owner is not a user of this account",
) -> None:
    """Accept the events and dead-letter them, as a worker would."""
    await store.ledger.accept_many(events)
    for event in events:
        fields: dict[str, str | int] = {"reason": reason, "error": error}
        if http_status is not None:
            fields["http_status"] = http_status
        history = {"reason": reason, "error": error}
        outcome = Outcome(event.change.event_id, EventStatus.DEAD, fields=fields, history=history)
        await settle_as_worker(store, event.change.customer.key, [outcome])
