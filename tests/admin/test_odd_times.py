"""Every reader survives any time already stored (issue 11 §2): events whose occurred_at is
year 1, 9999 or 100000000000000000 ms (the relay refuses those at ingest now, but a week of
events accepted before that, or a hand-edited record, must not turn a listing into a 500 or a
CLI traceback). They are written through the store's own accept path, as the web app would."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from relay.events import ParsedEvent
from relay.store import Store
from tests.admin.helpers import AdminClient, generic_payload, parsed, relay_cli, seed_dead

Run = Callable[[Callable[[Store], Any]], Any]
UUID = "cus_00000000-0000-4000-8000-0000000000dd"
ODD_TIMES_MS = {
    "evt_far_future": 100_000_000_000_000_000,
    "evt_year_9999": 253_402_300_799_000,
    "evt_year_1": -62_135_596_800_000,
    "evt_far_past": -100_000_000_000_000_000,
}


def dated(event_id: str, occurred_at_ms: int) -> ParsedEvent:
    event = parsed(generic_payload(event_id, UUID, set={"city": "Anywhen"}))
    return dataclasses.replace(event, change=dataclasses.replace(event.change, occurred_at_ms=occurred_at_ms))


@pytest.fixture
def odd_events(with_store: Run) -> None:
    async def work(store: Store) -> None:
        waiting = [dated(event_id, ms) for event_id, ms in ODD_TIMES_MS.items()]
        await store.ledger.accept_many(waiting[:2])
        await seed_dead(store, waiting[2:])

    with_store(work)


def test_the_admin_api_dashboard_and_metrics_survive_stored_odd_times(
    admin: AdminClient, odd_events: None
) -> None:
    paths = [
        *(f"/admin/events/{event_id}" for event_id in ODD_TIMES_MS),
        "/admin/events?since=1h",
        f"/admin/events?customer={UUID}",
        "/admin/events?since=2000-01-01T00:00:00Z",
        "/admin/dlq?since=1h",
        f"/admin/dlq?customer={UUID}",
        "/admin/dlq/evt_year_1",
        "/admin/status",
        "/metrics",
        "/dashboard/",
        "/dashboard/0/data/jobs/relay/failed/20/asc/1.json",
    ]

    answers = {path: admin.get(path) for path in paths}

    assert {path: a.status for path, a in answers.items()} == dict.fromkeys(paths, 200)
    listed = answers["/admin/events?since=1h"].body
    assert {e["event_id"] for e in listed["events"]} >= set(ODD_TIMES_MS)
    far = answers["/admin/events/evt_far_future"].body["event"]
    assert far["change"]["occurred_at_ms"] == ODD_TIMES_MS["evt_far_future"]
    year_1 = answers["/admin/events/evt_year_1"].body["event"]
    assert year_1["change"]["occurred_at_ms"] == ODD_TIMES_MS["evt_year_1"]


def test_the_cli_survives_stored_odd_times(admin_env: dict[str, str], odd_events: None) -> None:
    runs = {
        "events list": relay_cli(admin_env, "events", "list", "--since", "1h"),
        "events list --json": relay_cli(admin_env, "events", "list", "--customer", UUID, "--json"),
        "events show": relay_cli(admin_env, "events", "show", "evt_far_future"),
        "dlq list": relay_cli(admin_env, "dlq", "list", "--since", "1h"),
        "status": relay_cli(admin_env, "status"),
    }

    assert {name: (r.returncode, r.stderr) for name, r in runs.items()} == dict.fromkeys(runs, (0, ""))
    assert "evt_far_future" in runs["events list"].stdout
    assert "evt_year_1" in runs["dlq list"].stdout
    ids = {orjson.loads(line)["event_id"] for line in runs["events list --json"].stdout.splitlines()}
    assert ids == set(ODD_TIMES_MS)
