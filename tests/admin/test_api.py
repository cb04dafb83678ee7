"""The /admin HTTP API over real HTTP: auth, listings, details, replay, edit, purge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relay.app import create_app
from relay.settings import Settings
from relay.store import Store
from tests.admin.helpers import ADMIN_TOKEN, UUID_A, UUID_B, AdminClient, generic_payload, parsed, seed_dead
from tests.conftest import GENERIC_SECRET
from tests.servers import running_web_app

Run = Callable[[Callable[[Store], Any]], Any]


def seed_three(with_store: Run) -> None:
    async def work(store: Store) -> None:
        good = generic_payload("evt_fix", UUID_A, set={"owner": "sales@acme.test"})
        await seed_dead(store, [parsed({**good, "set": {"owner": "nobody@acme.test"}}, raw=good)])
        await seed_dead(
            store,
            [parsed(generic_payload("evt_gone", UUID_B, set={"city": "B"}))],
            reason="customer_not_found",
            http_status=404,
            error="Customer not found",
        )
        await store.ledger.accept_many([parsed(generic_payload("evt_ok", UUID_B, set={"city": "C"}))])

    with_store(work)


# --- security ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/status", "/admin/dlq", "/admin/events/x", "/dashboard/"])
def test_without_a_token_configured_the_admin_surface_is_off(web: str, path: str) -> None:
    reply = AdminClient(web, token=ADMIN_TOKEN).get(path)

    assert reply.status == 404


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing admin token"),
        ({"Authorization": "Bearer wrong-token"}, "not valid"),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, "not valid"),
        ({"Authorization": f"Basic {ADMIN_TOKEN}"}, "missing admin token"),
        ({"Authorization": ADMIN_TOKEN}, "missing admin token"),
    ],
)
def test_a_missing_or_wrong_token_is_401_with_a_json_error(
    admin: AdminClient, headers: dict[str, str], why: str
) -> None:
    reply = AdminClient(admin.base_url, token=None).get("/admin/dlq", **headers)

    assert reply.status == 401
    assert why in reply.body["error"]
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert ADMIN_TOKEN not in reply.text


def test_the_token_opens_the_admin_surface(admin: AdminClient) -> None:
    reply = admin.get("/admin/status")

    assert reply.status == 200
    assert reply.body["queue_name"] == "relay"
    assert reply.headers["cache-control"] == "no-store"


def test_secrets_in_stored_payloads_are_masked_in_admin_answers(admin: AdminClient, with_store: Run) -> None:
    # A CRM that echoes a secret into its payload (e.g. a signing key pasted into a field).
    payload = generic_payload("evt_leak", UUID_A, set={"company": f"Acme {GENERIC_SECRET} {ADMIN_TOKEN}"})

    async def work(store: Store) -> None:
        await seed_dead(store, [parsed(payload)], error=f"echoed {GENERIC_SECRET}")

    with_store(work)

    for path in ("/admin/events/evt_leak", "/admin/dlq/evt_leak", "/admin/dlq", "/admin/events"):
        reply = admin.get(path)
        assert reply.status == 200
        assert GENERIC_SECRET not in reply.text and ADMIN_TOKEN not in reply.text
        assert "[redacted]" in reply.text


# --- reading ----------------------------------------------------------------------------


def test_event_detail_has_the_record_change_payload_and_history(admin: AdminClient, with_store: Run) -> None:
    seed_three(with_store)

    reply = admin.get("/admin/events/evt_fix")

    assert reply.status == 200
    event = reply.body["event"]
    assert (event["status"], event["reason"], event["http_status"]) == ("dead", "rejected", 400)
    assert event["change"]["fields"] == {"owner": "nobody@acme.test"}
    assert event["raw"]["set"] == {"owner": "sales@acme.test"}
    assert [h["what"] for h in reply.body["history"]] == ["accepted", "dead"]
    assert admin.get("/admin/events/evt_nope").status == 404


def test_event_listing_filters_and_pages(admin: AdminClient, with_store: Run) -> None:
    seed_three(with_store)

    everything = admin.get("/admin/events?since=1h")
    first = admin.get("/admin/events?limit=2")
    rest = admin.get(f"/admin/events?limit=2&cursor={first.body['next_cursor']}")
    for_b = admin.get(f"/admin/events?customer={UUID_B}&status=queued")

    assert [e["event_id"] for e in everything.body["events"]] == ["evt_ok", "evt_gone", "evt_fix"]
    assert [e["event_id"] for e in first.body["events"] + rest.body["events"]] == [
        "evt_ok",
        "evt_gone",
        "evt_fix",
    ]
    assert rest.body["next_cursor"] is None
    assert [e["event_id"] for e in for_b.body["events"]] == ["evt_ok"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=soon", "is not a time: give a duration ago"),
        ("status=lost", "status must be one of"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
        ("custmer=cus_1", "unknown parameter"),
        ("source=hubspt", "source 'hubspt' is not one of: generic, hubspot"),
    ],
)
def test_bad_event_queries_are_400_with_the_reason(admin: AdminClient, query: str, message: str) -> None:
    reply = admin.get(f"/admin/events?{query}")

    assert reply.status == 400
    assert message in reply.body["error"]


def test_dead_letter_listing_filters_on_chartmogul_status_and_reason(
    admin: AdminClient, with_store: Run
) -> None:
    seed_three(with_store)

    listed = admin.get("/admin/dlq")
    by_status = admin.get("/admin/dlq?status=404")
    by_reason = admin.get("/admin/dlq?reason=rejected&source=generic&since=5m")

    assert listed.body["total"] == 2
    assert [d["event_id"] for d in listed.body["dead_letters"]] == ["evt_gone", "evt_fix"]
    assert [d["event_id"] for d in by_status.body["dead_letters"]] == ["evt_gone"]
    assert [d["event_id"] for d in by_reason.body["dead_letters"]] == ["evt_fix"]
    assert admin.get("/admin/dlq/evt_fix").body["event"]["event_id"] == "evt_fix"
    assert admin.get("/admin/dlq/evt_ok").status == 404  # not dead


# --- changing ---------------------------------------------------------------------------


def test_replay_dry_run_by_filter_then_for_real(admin: AdminClient, with_store: Run) -> None:
    seed_three(with_store)

    dry = admin.post("/admin/dlq/replay", {"filter": {"reason": "rejected"}, "dry_run": True})
    still = admin.get("/admin/dlq?reason=rejected")
    real = admin.post("/admin/dlq/replay", {"ids": ["evt_fix", "evt_ok"]})

    assert dry.status == 200
    assert (dry.body["matched"], dry.body["would_replay"], dry.body["replayed"]) == (1, 1, 0)
    [plan] = dry.body["results"]
    assert plan["change"]["fields"] == {"owner": "sales@acme.test"} and plan["differs_from_stored"]
    assert plan["patch"] == {"owner": "sales@acme.test"}
    assert [d["event_id"] for d in still.body["dead_letters"]] == ["evt_fix"]
    assert real.body["replayed"] == 1 and real.body["failed"] == 1
    assert [r["outcome"] for r in real.body["results"]] == ["replayed", "not_dead"]
    assert admin.get("/admin/events/evt_fix").body["event"]["status"] == "queued"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, 'either "ids" or "filter"'),
        ({"ids": ["a"], "filter": {}}, 400, 'either "ids" or "filter"'),
        ({"ids": []}, 422, "ids"),
        ({"ids": ["a"], "dry_run": "yes"}, 422, "dry_run"),
        ({"ids": ["a"], "colour": 1}, 422, "colour"),
        ({"filter": {"reasn": "x"}}, 400, "unknown filter field"),
        ({"filter": {"since": "later"}}, 400, "is not a time: give a duration ago"),
        ({"filter": {"reason": "rejectd"}}, 400, "reason 'rejectd' is not one of: rejected, invalid_change"),
        ({"ids": ["a"], "as_stored": True, "remap": True}, 400, '"as_stored" and "remap" contradict'),
    ],
)
def test_bad_replay_requests_say_why(
    admin: AdminClient, body: dict[str, Any], status: int, message: str
) -> None:
    reply = admin.post("/admin/dlq/replay", body)

    assert reply.status == status
    assert message in reply.body["error"]


def test_malformed_and_oversized_bodies_are_refused(admin: AdminClient) -> None:
    from tests.admin.helpers import request

    headers = admin.headers()
    not_json = request(f"{admin.base_url}/admin/dlq/replay", "POST", data=b"{", headers=headers)
    huge = request(f"{admin.base_url}/admin/dlq/purge", "POST", data=b" " * 300_000, headers=headers)

    assert not_json.status == 400 and "not valid JSON" in not_json.body["error"]
    assert huge.status == 413


def test_edit_then_replay_as_stored(admin: AdminClient, with_store: Run) -> None:
    seed_three(with_store)

    edited = admin.put(
        "/admin/dlq/evt_gone/change", {"set": {"customer.uuid": UUID_A, "fields.city": "Oslo"}}
    )
    invalid = admin.put("/admin/dlq/evt_gone/change", {"set": {"fields.colour": "red"}})
    not_dead = admin.put("/admin/dlq/evt_ok/change", {"set": {"fields.city": "X"}})
    replayed = admin.post("/admin/dlq/replay", {"ids": ["evt_gone"], "as_stored": True})
    detail = admin.get("/admin/events/evt_gone").body

    assert edited.status == 200 and edited.body["change"]["fields"] == {"city": "Oslo"}
    assert invalid.status == 400 and "colour" in invalid.body["error"]
    assert not_dead.status == 404
    assert replayed.body["results"][0]["customer"] == UUID_A
    assert detail["event"]["status"] == "queued" and detail["event"]["customer"] == UUID_A
    assert [h["what"] for h in detail["history"]] == ["accepted", "dead", "edited", "replayed"]


def test_purge_by_ids_and_by_filter(admin: AdminClient, with_store: Run) -> None:
    seed_three(with_store)

    dry = admin.post("/admin/dlq/purge", {"filter": {}, "dry_run": True})
    by_id = admin.post("/admin/dlq/purge", {"ids": ["evt_fix"]})
    by_filter = admin.post("/admin/dlq/purge", {"filter": {"status": 404}})

    assert [r["outcome"] for r in dry.body["results"]] == ["would_purge", "would_purge"]
    assert by_id.body["purged"] == 1
    assert by_filter.body["purged"] == 1 and by_filter.body["results"][0]["event_id"] == "evt_gone"
    assert admin.get("/admin/dlq").body["total"] == 0
    assert admin.get("/admin/events/evt_fix").body["event"]["status"] == "purged"


def test_redis_down_is_503_not_500(admin_settings: Settings) -> None:
    settings = admin_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})

    with running_web_app(create_app(settings)) as base_url:
        client = AdminClient(base_url)
        replies = [
            client.get("/admin/dlq"),
            client.get("/admin/events/x"),
            client.post("/admin/dlq/replay", {"ids": ["x"]}),
        ]

    assert [r.status for r in replies] == [503, 503, 503]
    assert all("Redis is unavailable" in r.body["error"] for r in replies)
