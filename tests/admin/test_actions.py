"""Replay (re-mapped or as stored), edit and purge, on a real ledger; and the dashboard mirror."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import orjson
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from relay.admin import actions, queries
from relay.admin.actions import ReplayOptions
from relay.admin.queries import QueryError
from relay.queue import mirror_job_id, mirrored_event_id
from relay.sources import WebhookSource
from relay.sources.generic import GenericSource
from relay.store import EventStatus, Outcome, Store, keys
from tests.admin.helpers import UUID_A, UUID_B, generic_payload, parsed, seed_dead, settle_as_worker
from tests.conftest import GENERIC_SECRET

Run = Callable[[Callable[[Store], Any]], Any]
SOURCES: dict[str, WebhookSource] = {"generic": GenericSource(SecretStr(GENERIC_SECRET))}


def replay(store: Store, ids: list[str], **options: bool) -> Any:
    async def collect() -> list[actions.ReplayResult]:
        return [r async for r in actions.replay_events(store, SOURCES, ids, ReplayOptions(**options))]

    return collect()


def stale_mapping_event(event_id: str = "evt_fix") -> Any:
    """Stored change names a bad owner; the stored CRM payload (re-mapped today) a good one."""
    good = generic_payload(event_id, UUID_A, set={"owner": "sales@acme.test"})
    bad = {**good, "set": {"owner": "nobody@acme.test"}}
    return parsed(bad, raw=good)


def test_replay_re_maps_the_stored_payload_through_the_current_mapping(with_store: Run) -> None:
    async def work(store: Store) -> tuple[Any, Any, Any, list[str]]:
        await seed_dead(store, [stale_mapping_event()])
        [result] = await replay(store, ["evt_fix"])
        record = await store.ledger.event("evt_fix")
        pending = cast(list[str], await store.redis.zrange(keys.pending(UUID_A), 0, -1))
        return result, record, await store.ledger.history("evt_fix"), pending

    result, record, history, pending = with_store(work)

    assert result.outcome == "replayed" and result.mode == "remapped" and result.differs_from_stored
    assert record.status == "queued"
    assert record.change.fields == {"owner": "sales@acme.test"}
    assert pending == ["evt_fix"]
    assert [h["what"] for h in history] == ["accepted", "dead", "replayed"]


def test_as_stored_resends_the_stored_change(with_store: Run) -> None:
    async def work(store: Store) -> tuple[Any, Any]:
        await seed_dead(store, [stale_mapping_event()])
        [result] = await replay(store, ["evt_fix"], as_stored=True)
        return result, await store.ledger.event("evt_fix")

    result, record = with_store(work)

    assert (result.outcome, result.mode) == ("replayed", "as_stored")
    assert record.change.fields == {"owner": "nobody@acme.test"}


def test_a_dry_run_shows_the_change_and_patch_and_changes_nothing(with_store: Run) -> None:
    event = parsed(
        generic_payload("evt_dry", UUID_A, set={"city": "Oslo"}, tags={"add": ["vip"], "remove": ["trial"]})
    )

    async def work(store: Store) -> tuple[dict[str, Any], Any, int, bool]:
        await seed_dead(store, [event])
        [result] = await replay(store, ["evt_dry"], dry_run=True)
        record = await store.ledger.event("evt_dry")
        dead = await store.redis.zscore(keys.DLQ, "evt_dry") is not None
        return result.public(), record, len(await store.ledger.history("evt_dry")), dead

    public, record, history_length, still_dead = with_store(work)

    assert public["outcome"] == "would_replay" and public["mode"] == "remapped"
    assert public["differs_from_stored"] is False
    assert public["patch"] == {"city": "Oslo"}  # no tag merge: that needs the customer's current tags
    assert public["merged_at_delivery"] == {
        "tags_add": ["vip"],
        "tags_remove": ["trial"],
        "custom_set": {},
        "custom_remove": [],
    }
    assert record.status == "dead" and still_dead and history_length == 2


def test_an_event_the_current_mapping_refuses_is_skipped_unless_forced(with_store: Run) -> None:
    good = generic_payload("evt_old", UUID_A, set={"city": "Oslo"})
    refused_raw = {**good, "set": {"colour": "red"}}  # today's mapping refuses this field

    async def work(store: Store) -> tuple[Any, Any, Any]:
        await seed_dead(store, [parsed(good, raw=refused_raw)])
        [skipped] = await replay(store, ["evt_old"])
        status_after_skip = (await store.ledger.event("evt_old")).status  # type: ignore[union-attr]
        [forced] = await replay(store, ["evt_old"], force=True)
        return skipped, status_after_skip, forced

    skipped, status_after_skip, forced = with_store(work)

    assert skipped.outcome == "skipped"
    assert "refuses it" in skipped.error and "set.colour" in skipped.error and "--force" in skipped.error
    assert status_after_skip == "dead"
    assert (forced.outcome, forced.mode) == ("replayed", "as_stored")
    assert "force" in forced.warning


def test_a_disabled_source_falls_back_to_the_stored_change_with_a_warning(with_store: Run) -> None:
    async def work(store: Store) -> Any:
        await seed_dead(store, [stale_mapping_event()])
        await store.redis.hset(keys.event("evt_fix"), "source", "hubspot")
        return (await replay(store, ["evt_fix"]))[0]

    result = with_store(work)

    assert (result.outcome, result.mode) == ("replayed", "as_stored")
    assert "'hubspot' is not enabled" in result.warning


def test_replay_reports_events_not_dead_or_expired(with_store: Run) -> None:
    async def work(store: Store) -> list[Any]:
        await store.ledger.accept_many([parsed(generic_payload("evt_live", UUID_A, set={"city": "A"}))])
        await store.redis.zadd(keys.DLQ, {"evt_vanished": 1})
        results = await replay(store, ["evt_live", "evt_vanished", "evt_never"])
        return [*results, await store.redis.zcard(keys.DLQ)]

    live, vanished, never, dlq_size = with_store(work)

    assert (live.outcome, live.error) == ("not_dead", "not in the dead-letter queue (queued)")
    assert vanished.outcome == never.outcome == "expired"
    assert dlq_size == 0  # the dangling entry went


def test_history_survives_repeated_failures_and_replays(with_store: Run) -> None:
    async def work(store: Store) -> list[str]:
        await seed_dead(store, [stale_mapping_event()])
        await replay(store, ["evt_fix"])
        dead = Outcome("evt_fix", EventStatus.DEAD, fields={"reason": "rejected"}, history={})
        await settle_as_worker(store, UUID_A, [dead])
        await replay(store, ["evt_fix"], as_stored=True)
        return [h["what"] for h in await store.ledger.history("evt_fix")]

    assert with_store(work) == ["accepted", "dead", "replayed", "dead", "replayed"]


def test_a_re_mapped_change_for_another_customer_moves_the_record(with_store: Run) -> None:
    payload = generic_payload("evt_move", UUID_B, set={"city": "B"})

    async def work(store: Store) -> tuple[Any, list[str], list[str]]:
        await seed_dead(store, [parsed({**payload, "customer": {"uuid": UUID_A}}, raw=payload)])
        await replay(store, ["evt_move"])
        return (
            await store.ledger.event("evt_move"),
            cast(list[str], await store.redis.zrange(keys.pending(UUID_B), 0, -1)),
            cast(list[str], await store.redis.zrange(keys.customer_events(UUID_B), 0, -1)),
        )

    record, pending, index = with_store(work)

    assert record.customer == UUID_B
    assert pending == ["evt_move"] and index == ["evt_move"]


# --- edit -------------------------------------------------------------------------------


def test_assignments_set_nested_paths_with_json_values() -> None:
    doc = {"fields": {"owner": "x"}, "tags_add": []}

    edited = actions.apply_assignments(
        doc,
        ["fields.owner=ann@acme.com", 'tags_add=["vip"]', "custom_set.CAC=25", "fields.zip=10115"],
    )

    assert edited == {
        "fields": {"owner": "ann@acme.com", "zip": "10115"},
        "tags_add": ["vip"],
        "custom_set": {"CAC": 25},
    }
    assert doc == {"fields": {"owner": "x"}, "tags_add": []}  # a copy
    assert actions.apply_assignments(edited, [], ["fields.zip"])["fields"] == {"owner": "ann@acme.com"}
    with pytest.raises(QueryError, match="path=value"):
        actions.apply_assignments(doc, ["fields.owner"])
    with pytest.raises(QueryError, match="no such key"):
        actions.apply_assignments(doc, [], ["fields.city"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {"colour": "red"}}, "not a ChartMogul customer field"),
        ({"fields": {"zip": 10115}}, "must be a string"),
        ({"fields": {"status": "Active"}}, "fields.status must be one of"),
        ({"fields": {"primary_contact": {"age": "3"}}}, "primary_contact.age"),
        ({"tags_add": "vip"}, "tags_add must be a list"),
        ({"event_id": "evt_other"}, "event_id must stay"),
        ({"customer": {}}, "customer:"),
        ({"customer": {"uuid": "42"}}, "cus_"),
        ({"fields": {}, "tags_add": []}, "changes nothing"),
        ({"extra": 1}, "unknown key"),
        ({"occurred_at_ms": 100_000_000_000_000_000}, "occurred_at_ms must lie between"),
        ({"occurred_at_ms": 253_402_300_799_000}, "occurred_at_ms must lie between"),
        ({"occurred_at_ms": -62_135_596_800_000}, "occurred_at_ms must lie between"),
    ],
)
def test_an_edited_change_is_validated(change: dict[str, Any], message: str) -> None:
    base = orjson.loads(parsed(generic_payload("evt_e", UUID_A, set={"city": "A"})).change.to_json())

    with pytest.raises(QueryError, match=message):
        actions.validate_change({**base, **change}, event_id="evt_e")


def test_edit_stores_the_change_keeps_it_dead_and_replay_as_stored_sends_it(with_store: Run) -> None:
    async def work(store: Store) -> tuple[str, Any, list[dict[str, Any]], Any, Any]:
        await seed_dead(store, [stale_mapping_event()])
        record = await store.ledger.event("evt_fix")
        assert record is not None
        doc = actions.apply_assignments(queries.change_document(record) or {}, ["fields.owner=ann@acme.test"])
        outcome = await actions.edit_change(store, record, actions.validate_change(doc, event_id="evt_fix"))
        after_edit = await store.ledger.event("evt_fix")
        history = await store.ledger.history("evt_fix")
        [result] = await replay(store, ["evt_fix"], as_stored=True)
        return outcome, after_edit, history, result, await store.ledger.event("evt_fix")

    outcome, after_edit, history, result, replayed = with_store(work)

    assert outcome == "edited"
    assert after_edit.status == "dead" and after_edit.change.fields == {"owner": "ann@acme.test"}
    assert history[-1]["what"] == "edited" and history[-1]["changed"] == ["fields.owner"]
    assert result.outcome == "replayed"
    assert replayed.status == "queued" and replayed.change.fields == {"owner": "ann@acme.test"}


# --- purge ------------------------------------------------------------------------------


def test_purge_takes_events_out_of_the_dlq_and_keeps_their_history(with_store: Run) -> None:
    async def work(store: Store) -> tuple[list[str], list[str], Any, list[str], int]:
        await seed_dead(store, [parsed(generic_payload("evt_p", UUID_A, set={"city": "P"}))])
        dry = [r.outcome async for r in actions.purge_events(store, ["evt_p"], dry_run=True)]
        done = [r.outcome async for r in actions.purge_events(store, ["evt_p", "evt_p", "evt_none"])]
        return (
            dry,
            done,
            await store.ledger.event("evt_p"),
            [h["what"] for h in await store.ledger.history("evt_p")],
            await store.redis.zcard(keys.DLQ),
        )

    dry, done, record, history, dlq_size = with_store(work)

    assert dry == ["would_purge"]
    assert done == ["purged", "not_dead", "not_dead"]
    assert record.status == "purged"
    assert history == ["accepted", "dead", "purged"]
    assert dlq_size == 0


# --- the dashboard mirror ---------------------------------------------------------------


@given(st.text(min_size=1, max_size=60))
def test_mirror_job_ids_are_valid_rq_ids_and_reversible(event_id: str) -> None:
    job_id = mirror_job_id(event_id)

    assert job_id.startswith("dlq-")
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in job_id)
    assert mirrored_event_id(job_id) == event_id


def test_mirror_job_ids_stay_readable() -> None:
    assert mirror_job_id("evt_01") == "dlq-evt__01"
    assert mirror_job_id("hubspot:42.1") == "dlq-hubspot_c42_d1"
    assert mirrored_event_id("not-a-mirror") is None


def test_a_dead_letter_is_mirrored_as_a_failed_rq_job_until_replayed(with_store: Run, redis_url: str) -> None:
    rq = redis.Redis.from_url(redis_url)

    async def seed(store: Store) -> None:
        await seed_dead(store, [stale_mapping_event()], error="The owner is unknown")

    with_store(seed)
    registry = FailedJobRegistry("relay", connection=rq, serializer=JSONSerializer)
    job = Job.fetch("dlq-evt__fix", connection=rq, serializer=JSONSerializer)

    assert registry.get_job_ids() == ["dlq-evt__fix"]
    assert (job.func_name, job.args, job.origin) == ("workers.jobs.redeliver_event", ["evt_fix"], "relay")
    assert job.get_status() == "failed"
    assert job.description == "dead letter evt_fix: rejected (400) The owner is unknown"
    # Kept as long as the dead letter (RELAY_DLQ_TTL_S, 90 days by default), not the event TTL.
    record_ttl = rq.ttl(keys.event("evt_fix"))
    assert 89 * 86400 < record_ttl <= 90 * 86400 and abs(rq.ttl(job.key) - record_ttl) <= 1

    async def replay_it(store: Store) -> None:
        await replay(store, ["evt_fix"])

    with_store(replay_it)

    assert registry.get_job_ids() == []
    assert not rq.exists(job.key)
    rq.close()


def test_a_broken_mapping_skips_the_event_instead_of_stopping_the_replay(with_store: Run) -> None:
    class Broken(GenericSource):
        def remap(self, raw: str) -> Any:
            raise KeyError("properties")

    sources: dict[str, WebhookSource] = {"generic": Broken(SecretStr(GENERIC_SECRET))}

    async def work(store: Store) -> list[actions.ReplayResult]:
        await seed_dead(store, [stale_mapping_event("evt_b1"), stale_mapping_event("evt_b2")])
        return [r async for r in actions.replay_events(store, sources, ["evt_b1", "evt_b2"], ReplayOptions())]

    results = with_store(work)

    assert [r.outcome for r in results] == ["skipped", "skipped"]
    assert "re-mapping failed (KeyError" in (results[0].error or "")
