"""`relay events`, `relay dlq` and `relay status`, run as an operator would (in-process, CliRunner)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from relay.store import Store
from tests.admin.helpers import UUID_A, UUID_B, generic_payload, parsed, relay_cli, seed_dead

Run = Callable[[Callable[[Store], Any]], Any]


@pytest.fixture
def seeded(with_store: Run) -> None:
    async def work(store: Store) -> None:
        for i in range(3):
            good = generic_payload(f"evt_fix{i}", UUID_A, set={"owner": "sales@acme.test"})
            await seed_dead(store, [parsed({**good, "set": {"owner": "nobody@acme.test"}}, raw=good)])
        await seed_dead(
            store,
            [parsed(generic_payload("evt_gone", UUID_B, set={"city": "B"}, tags={"add": ["vip"]}))],
            reason="customer_not_found",
            http_status=404,
            error="Customer not found",
        )
        await store.ledger.accept_many([parsed(generic_payload("evt_ok", UUID_B, set={"city": "C"}))])
        # A change waiting for each customer: both are ready.
        await store.ledger.accept_many([parsed(generic_payload("evt_wait", UUID_A, set={"city": "W"}))])

    with_store(work)


def lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_events_list_and_show(admin_env: dict[str, str], seeded: None) -> None:
    listed = relay_cli(
        {**admin_env, "COLUMNS": "200"}, "events", "list", "--customer", UUID_B, "--since", "1h"
    )
    as_json = relay_cli(admin_env, "events", "list", "--status", "dead", "--limit", "2", "--json")
    shown = relay_cli(admin_env, "events", "show", "evt_gone")
    shown_json = relay_cli(admin_env, "events", "show", "evt_gone", "--json")
    missing = relay_cli(admin_env, "events", "show", "evt_nope")
    bad = relay_cli(admin_env, "events", "list", "--since", "soon")

    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["OCCURRED", "RECEIVED", "EVENT", "CUSTOMER", "STATUS", "FIELDS"]
    assert [line.split()[2] for line in rows] == ["evt_ok", "evt_gone"]
    assert rows[1].split()[4:] == ["dead:", "customer_not_found", "city,", "tag:vip"]
    assert [e["event_id"] for e in lines(as_json.stdout)] == ["evt_gone", "evt_fix2"]
    assert "More: add --cursor" in as_json.stderr
    assert "Event evt_gone  (dead: customer_not_found)" in shown.stdout and "History" in shown.stdout
    assert orjson.loads(shown_json.stdout)["event"]["change"]["tags_add"] == ["vip"]
    assert missing.returncode == 1 and "no event 'evt_nope'" in missing.stderr
    assert bad.returncode == 2 and "'soon' is not a time: give a duration ago" in bad.stderr


def test_dlq_list_filters(admin_env: dict[str, str], seeded: None) -> None:
    everything = relay_cli(admin_env, "dlq", "list", "--json")
    not_found = relay_cli(admin_env, "dlq", "list", "--reason", "customer_not_found", "--json")
    by_status = relay_cli(admin_env, "dlq", "list", "--status", "400", "--since", "10m", "--json")
    table = relay_cli(admin_env, "dlq", "list", "--customer", UUID_B)
    none = relay_cli(admin_env, "dlq", "list", "--until", "2020-01-01T00:00:00Z")

    assert len(lines(everything.stdout)) == 4
    assert [d["event_id"] for d in lines(not_found.stdout)] == ["evt_gone"]
    assert lines(not_found.stdout)[0]["http_status"] == 404
    assert [d["event_id"] for d in lines(by_status.stdout)] == ["evt_fix2", "evt_fix1", "evt_fix0"]
    assert "evt_gone" in table.stdout and "Customer not found" in table.stdout
    assert none.stdout.strip() == "No dead letter matches."


def test_dry_run_prints_what_would_be_sent_and_changes_nothing(
    admin_env: dict[str, str], seeded: None
) -> None:
    dry = relay_cli(admin_env, "dlq", "replay", "evt_fix0", "evt_gone", "--dry-run")
    after = relay_cli(admin_env, "dlq", "list", "--json")

    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert "evt_fix0: would replay (re-mapped through the current mapping)" in out
    assert 'change: {"event_id":"evt_fix0"' in out and '"owner":"sales@acme.test"' in out
    assert 'PATCH body: {"owner":"sales@acme.test"}' in out
    assert "evt_fix0: would replay (re-mapped through the current mapping)" in out
    assert "  differs from the stored change: fields.owner" in out
    assert "evt_gone: would replay (re-mapped through the current mapping)" in out
    assert "  same as the stored change" in out
    assert 'tag and custom attribute calls at delivery: {"tags_add":["vip"]}' in out
    assert "Dry run: 2 would be replayed; nothing was changed." in out
    assert len(lines(after.stdout)) == 4


def test_bulk_replay_asks_first_then_shows_progress(admin_env: dict[str, str], seeded: None) -> None:
    declined = relay_cli(admin_env, "dlq", "replay", "--reason", "rejected", input="n\n")
    accepted = relay_cli(admin_env, "dlq", "replay", "--reason", "rejected", "--since", "1h", input="y\n")
    left = relay_cli(admin_env, "dlq", "list", "--json")

    assert declined.returncode == 1 and "Replay 3 dead letter(s) (reason=rejected)?" in declined.stdout
    assert "Aborted" in declined.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert "Replaying" in accepted.stderr  # the progress bar's label
    assert "3 replayed, 0 not replayed." in accepted.stdout
    assert [d["event_id"] for d in lines(left.stdout)] == ["evt_gone"]


def test_replay_needs_ids_or_a_filter_and_reports_failures(admin_env: dict[str, str], seeded: None) -> None:
    nothing = relay_cli(admin_env, "dlq", "replay")
    both = relay_cli(admin_env, "dlq", "replay", "evt_gone", "--reason", "rejected")
    not_dead = relay_cli(admin_env, "dlq", "replay", "evt_ok")
    everything = relay_cli(admin_env, "dlq", "replay", "--all", "--yes", "--as-stored")

    assert nothing.returncode == 2 and "--all" in nothing.stderr
    assert both.returncode == 2 and "not both" in both.stderr
    assert not_dead.returncode == 1 and "not in the dead-letter queue" in not_dead.stderr
    assert everything.returncode == 0 and "4 replayed" in everything.stdout


def test_edit_with_set_then_replay_sends_it_as_edited(admin_env: dict[str, str], seeded: None) -> None:
    edited = relay_cli(
        admin_env,
        "dlq",
        "edit",
        "evt_gone",
        "--set",
        "customer.uuid=" + UUID_A,
        "--set",
        'tags_add=["vip","fixed"]',
    )
    invalid = relay_cli(admin_env, "dlq", "edit", "evt_gone", "--set", "fields.status=Active")
    shown = relay_cli(admin_env, "dlq", "show", "evt_gone", "--json")
    replayed = relay_cli(admin_env, "dlq", "replay", "evt_gone")  # an edit is replayed as edited

    assert edited.returncode == 0, edited.stderr
    assert "stored (customer.uuid, tags_add). Every replay sends it as edited" in edited.stdout
    assert invalid.returncode == 1 and "fields.status must be one of" in invalid.stderr
    change = orjson.loads(shown.stdout)["event"]["change"]
    assert change["customer"]["uuid"] == UUID_A and change["tags_add"] == ["vip", "fixed"]
    assert (
        replayed.returncode == 0
        and f"evt_gone: replayed (as edited; --remap re-maps the CRM payload instead) → {UUID_A}"
        in replayed.stdout
    )


def test_edit_in_the_editor(admin_env: dict[str, str], seeded: None) -> None:
    env = {**admin_env, "EDITOR": "sed -i s/nobody@acme.test/ann@acme.test/"}

    edited = relay_cli(env, "dlq", "edit", "evt_fix1")
    unchanged = relay_cli({**admin_env, "EDITOR": "true"}, "dlq", "edit", "evt_fix1")
    shown = relay_cli(admin_env, "dlq", "show", "evt_fix1", "--json")

    assert edited.returncode == 0, edited.stderr
    assert "stored (fields.owner)" in edited.stdout
    assert unchanged.stdout.strip() in ("No change.", "Not saved; nothing changed.")
    assert orjson.loads(shown.stdout)["event"]["change"]["fields"] == {"owner": "ann@acme.test"}


def test_purge_asks_unless_yes(admin_env: dict[str, str], seeded: None) -> None:
    dry = relay_cli(admin_env, "dlq", "purge", "--reason", "customer_not_found", "--dry-run")
    declined = relay_cli(admin_env, "dlq", "purge", "evt_gone", input="n\n")
    purged = relay_cli(admin_env, "dlq", "purge", "--reason", "customer_not_found", "--yes")
    status = relay_cli(admin_env, "events", "show", "evt_gone", "--json")

    assert "evt_gone: would purge" in dry.stdout and "nothing was changed" in dry.stdout
    assert declined.returncode == 1 and "cannot be undone" in declined.stdout
    assert purged.returncode == 0 and "1 purged." in purged.stdout
    detail = orjson.loads(status.stdout)
    assert detail["event"]["status"] == "purged"
    assert [h["what"] for h in detail["history"]] == ["accepted", "dead", "purged"]


def test_status_on_one_screen_and_as_json(admin_env: dict[str, str], seeded: None) -> None:
    text = relay_cli(admin_env, "status")
    as_json = relay_cli(admin_env, "status", "--json")

    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "Delivery     ready 2 · delivering 0 · retrying 0 customers" in out
    assert "Oldest wait  " in out and "evt_" in out
    assert "Circuit      closed" in out
    assert "Workers      0 alive — nothing delivers!" in out
    assert "Dead letters 4: customer_not_found 1 · rejected 3" in out
    state = orjson.loads(as_json.stdout)
    assert state["dlq_by_reason"] == {"rejected": 3, "customer_not_found": 1}
    assert state["ready"] == 2 and state["circuit"] == {"state": "closed"}


def test_status_shows_an_open_circuit(admin_env: dict[str, str], redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.hset("relay:circuit", mapping={"state": "open", "since_ms": 1, "reason": "401 Unauthorized"})
    client.close()

    out = relay_cli(admin_env, "status").stdout

    assert "Circuit      OPEN since 1970-01-01T00:00:00.001Z" in out and "401 Unauthorized" in out


def test_closed_sets_are_choices_that_list_the_valid_values(admin_env: dict[str, str]) -> None:
    reason = relay_cli(admin_env, "dlq", "list", "--reason", "rejectd")
    source = relay_cli(admin_env, "events", "list", "--source", "hubspt")

    assert reason.returncode == 2
    assert (
        "Invalid value for '--reason': 'rejectd' is not one of 'rejected', 'invalid_change'" in reason.stderr
    )
    assert source.returncode == 2 and "'hubspt' is not one of generic, hubspot, pipedrive" in source.stderr
