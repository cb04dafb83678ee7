"""Issue 11 §1 and §5: ids from outside never name another event's keys, a webhook is stored whole
or not at all even when the accept script fails, and a duplicate with another change is recorded."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest
import redis
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relay.changes import CustomerRef
from relay.store import Store, keys
from tests.conftest import GENERIC_SECRET
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import fixture_json, hubspot_event, send_close, send_hubspot
from tests.webhooks import get, iso, send_generic


def generic(event_id: str, city: str = "Berlin") -> dict[str, object]:
    return {
        "id": event_id,
        "occurred_at": iso(datetime.now(UTC)),
        "customer": {"uuid": "cus_ns-1"},
        "set": {"city": city},
    }


def history(redis_url: str, event_id: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        store = Store.from_url(redis_url)
        try:
            return await store.ledger.history(event_id)
        finally:
            await store.aclose()

    return asyncio.run(read())


def test_a_generic_id_that_reads_as_a_close_id_is_refused(web: str, redis_client: redis.Redis) -> None:
    doc = fixture_json("close_lead_updated.json")
    close_id = f"close:{doc['event']['id']}"

    refused = send_generic(web, GENERIC_SECRET, generic(close_id))
    real = send_close(web, doc)

    assert refused.status == 422, refused.text
    assert "close" in refused.body["error"] and close_id in refused.body["error"]
    assert real.status == 202 and real.body["status"] == "accepted"  # not taken for a duplicate
    assert stored_event_ids(redis_client) == [close_id]


@pytest.mark.parametrize("prefix", ["hubspot", "pipedrive", "salesforce", "close"])
def test_every_crm_prefix_is_refused_for_generic_ids(web: str, prefix: str) -> None:
    answer = send_generic(web, GENERIC_SECRET, generic(f"{prefix}:1"))
    assert answer.status == 422, answer.text


def test_ids_with_colons_that_name_no_source_are_kept_as_they_are(
    web: str, redis_client: redis.Redis
) -> None:
    for event_id in ("Y:history", "Y", "crm:x", "a:b:c"):
        answer = send_generic(web, GENERIC_SECRET, generic(event_id))
        assert (answer.status, answer.body["event_id"]) == (202, event_id), answer.text
    assert stored_event_ids(redis_client) == sorted(["Y:history", "Y", "crm:x", "a:b:c"])


refs = st.builds(
    CustomerRef,
    uuid=st.none() | st.text(alphabet="cus_:*ab", max_size=8),
    external_id=st.none() | st.text(alphabet=":*ab", max_size=6),
    data_source_uuid=st.none() | st.text(alphabet=":*abds_", min_size=1, max_size=6),
    email=st.none() | st.text(alphabet=":*ab@", max_size=6),
    crm_record=st.none() | st.text(alphabet=":*ab", max_size=6),
)


def meaning(ref: CustomerRef) -> tuple[str, ...]:
    """What a reference names: the first of uuid, crm record, external id (+ source), email."""
    if ref.uuid:
        return ("uuid", ref.uuid)
    if ref.crm_record:
        return ("crm", ref.crm_record)
    if ref.external_id:
        return ("ext", ref.data_source_uuid or "", ref.external_id)
    return ("email", (ref.email or "").lower())


@settings(max_examples=300, deadline=None)
@given(st.lists(refs, min_size=2, max_size=40))
@example(
    [
        CustomerRef(external_id="b", data_source_uuid="ds:a"),
        CustomerRef(external_id="a:b", data_source_uuid="ds"),
    ]
)
@example([CustomerRef(uuid="crm:a"), CustomerRef(crm_record="a")])
@example([CustomerRef(external_id="a", data_source_uuid="*"), CustomerRef(external_id="a")])
def test_customer_keys_are_injective(many: list[CustomerRef]) -> None:
    named = [r for r in many if r.uuid or r.crm_record or r.external_id or r.email]
    by_key: dict[str, tuple[str, ...]] = {}
    for ref in named:
        assert by_key.setdefault(ref.key, meaning(ref)) == meaning(ref), (ref, by_key)


@pytest.mark.parametrize("bad_key", [keys.pending("crm:hubspot:company:7777"), keys.EVENTS])
def test_a_script_error_stores_none_of_the_batch_and_says_what_it_is(
    web: str, redis_client: redis.Redis, capfd: pytest.CaptureFixture[str], bad_key: str
) -> None:
    batch = [hubspot_event(9101, 1246965, "city", "A"), hubspot_event(9102, 1246965, "city", "N")]
    batch.append(hubspot_event(9103, 7777, "city", "C"))
    # A key of the wrong type where the third event's pending set (or every event's index) goes:
    # the script must fail before it writes the first two.
    redis_client.set(bad_key, "not a sorted set")

    failed = send_hubspot(web, batch)

    assert failed.status == 500, failed.text
    assert "accept script failed" in failed.body["error"] and "nothing was stored" in failed.body["error"]
    assert not redis_client.exists(
        keys.event("hubspot:9101"), keys.event("hubspot:9102"), keys.LINKS, keys.READY
    )
    logged = capfd.readouterr().out
    assert "accept_script_failed" in logged and "redis_unavailable" not in logged

    redis_client.delete(bad_key)
    again = send_hubspot(web, batch)
    assert again.status == 202 and again.body["accepted"] == 3, again.text


def conflicting_total(web: str) -> float:
    text = get(f"{web}/metrics").text
    found = re.search(r'^relay_events_conflicting_duplicates_total\{source="generic"\} (\S+)$', text, re.M)
    assert found, "the counter is exported for every known source"
    return float(found.group(1))


def test_a_duplicate_with_another_change_is_recorded_and_counted(web: str, redis_url: str) -> None:
    before = conflicting_total(web)
    event = generic("evt_conflict", city="Berlin")
    first = send_generic(web, GENERIC_SECRET, event)
    same = send_generic(web, GENERIC_SECRET, event, msg_id="msg_retry_1")
    other = send_generic(web, GENERIC_SECRET, {**event, "set": {"city": "Paris"}}, msg_id="msg_retry_2")

    assert (first.status, same.status, other.status) == (202, 200, 200)
    assert same.body["status"] == other.body["status"] == "duplicate"
    entries = history(redis_url, "evt_conflict")
    assert [e["what"] for e in entries] == ["accepted", "conflicting_duplicate"]
    assert re.fullmatch(r"[0-9a-f]{16}", str(entries[1]["digest"]))
    assert conflicting_total(web) == before + 1
