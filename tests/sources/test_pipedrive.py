"""Pipedrive: HTTP Basic credentials, webhooks v2 bodies, only what changed is mapped."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from pydantic import SecretStr

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent
from relay.mapping.config import DEFAULTS_DIR, load_mapping
from relay.sources.pipedrive import PipedriveSource
from relay.store import keys
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    fixture_json,
    pipedrive_headers,
    send_pipedrive,
)


def source(mapping_dir: Path | None = None) -> PipedriveSource:
    mapping = load_mapping("pipedrive", mapping_dir)
    return PipedriveSource(mapping, SecretStr(f"{PIPEDRIVE_USER}:{PIPEDRIVE_PASSWORD}"))


def parse(doc: dict[str, Any], mapping_dir: Path | None = None) -> ParsedEvent:
    """The one event a Pipedrive body (v2 or v1) makes, through the shipped mapping or a dir's."""
    [event] = source(mapping_dir).parse(
        IncomingWebhook("POST", "https://relay.example/webhooks/pipedrive", {}, orjson.dumps(doc))
    )
    return event


# --- over HTTP ------------------------------------------------------------------------------


def test_organization_change_is_accepted(web: str, redis_client: redis.Redis) -> None:
    answer = send_pipedrive(web, fixture_json("pipedrive_organization_change.json"))

    assert answer.status == 202, answer.text
    assert answer.body == {"status": "accepted", "event_id": "pipedrive:0fd6f4b9-8a31-4c2e-93b1-5a3c0a8e7d11"}
    record = redis_client.hgetall("relay:event:pipedrive:0fd6f4b9-8a31-4c2e-93b1-5a3c0a8e7d11")
    assert record["customer"] == "crm:pipedrive:organization:42"
    assert record["status"] == "queued"


def test_same_meta_id_twice_is_a_duplicate(web: str) -> None:
    doc = fixture_json("pipedrive_person_create.json")

    first, second = send_pipedrive(web, doc), send_pipedrive(web, doc)

    assert (first.status, second.status) == (202, 200)
    assert second.body["status"] == "duplicate"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param(pipedrive_headers(PIPEDRIVE_USER, "wrong"), id="wrong-password"),
        pytest.param(pipedrive_headers("admin", PIPEDRIVE_PASSWORD), id="wrong-user"),
        pytest.param({"Authorization": "Basic !!!not-base64"}, id="garbage"),
        pytest.param({"Authorization": "Bearer abc"}, id="other-scheme"),
    ],
)
def test_wrong_credentials_are_refused(web: str, redis_client: redis.Redis, headers: dict[str, str]) -> None:
    answer = send_pipedrive(web, fixture_json("pipedrive_organization_change.json"), headers=headers)

    assert answer.status == 401
    assert PIPEDRIVE_PASSWORD not in answer.text
    assert stored_event_ids(redis_client) == []


def test_refusal_asks_for_basic_credentials(web: str) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{web}/webhooks/pipedrive", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Basic ")
    refused.value.close()


def test_a_body_that_is_not_json_is_refused(web: str, redis_client: redis.Redis) -> None:
    answer = send_pipedrive(web, b"{")

    assert answer.status == 400
    assert "not valid JSON" in answer.body["error"]
    assert stored_event_ids(redis_client) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[]", "JSON object", id="array"),
        pytest.param(b'{"current": {}, "previous": {}, "meta": null}', "meta: missing", id="v1-without-meta"),
        pytest.param(
            b'{"meta": {"id": "a", "action": "change", "entity": "organization"}}',
            "meta.entity_id",
            id="no-entity-id",
        ),
        pytest.param(b'{"data": {"id": 1}}', "meta: missing", id="no-meta"),
    ],
)
def test_credentialed_bodies_the_relay_cannot_read_are_dead_letters(
    web: str, redis_client: redis.Redis, body: bytes, message: str
) -> None:
    # Pipedrive bans a webhook after 10 failed first attempts: a 4xx would cost later events.
    answer = send_pipedrive(web, body)

    assert answer.status == 202, answer.text
    assert answer.body["status"] == "dead_lettered"
    record = redis_client.hgetall(keys.event(answer.body["event_id"]))
    assert (record["status"], record["reason"]) == ("dead", "invalid_event")
    assert message in record["error"]


# --- parse and map --------------------------------------------------------------------------


def test_change_maps_only_what_previous_holds() -> None:
    event = parse(fixture_json("pipedrive_organization_change.json"))

    change = event.change
    assert change.event_id == "pipedrive:0fd6f4b9-8a31-4c2e-93b1-5a3c0a8e7d11"
    assert change.customer.crm_record == "pipedrive:organization:42"
    assert change.occurred_at_ms == 1740823200123
    # name, owner_id, add_time and trial_start_date are in data but did not change
    assert change.fields == {"city": "Boston", "zip": "02110", "state": "US-MA", "country": "US"}
    assert change.tags_add == ["segment:Enterprise"]
    assert change.tags_remove == ["segment:SMB"]


def test_create_maps_every_field_and_numeric_ids_and_epoch_times() -> None:
    event = parse(fixture_json("pipedrive_person_create.json"))

    change = event.change
    assert change.customer.crm_record == "pipedrive:person:1001"
    assert change.occurred_at_ms == 1740904200000
    assert change.fields == {
        "primary_contact": {
            "first_name": "Anna",
            "last_name": "Smith",
            "email": "anna.smith@acme.example",
            "phone": "+1 617 555 0100",
            "title": "CFO",
        }
    }


def test_custom_field_values_are_unwrapped() -> None:
    doc = fixture_json("pipedrive_organization_change.json")
    doc["previous"] = {"custom_fields": {"trial_start_date": {"type": "date", "value": None}}}

    event = parse(doc)

    assert event.change.fields == {"free_trial_started_at": "2025-02-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("pipedrive_deal_change.json", "deal events are not mapped"),
        ("pipedrive_organization_delete.json", "organization.delete"),
    ],
)
def test_other_entities_and_deletes_are_recorded_not_delivered(fixture: str, reason: str) -> None:
    event = parse(fixture_json(fixture))

    assert reason in (event.ignored_reason or "")


def test_unchanged_record_is_ignored() -> None:
    doc = fixture_json("pipedrive_organization_change.json")
    doc["previous"] = {"update_time": "2025-02-01T00:00:00Z"}

    event = parse(doc)

    assert event.ignored_reason == "nothing to change"


def test_owner_id_needs_the_owner_table(tmp_path: Path) -> None:
    text = (DEFAULTS_DIR / "pipedrive.toml").read_text()
    (tmp_path / "pipedrive.toml").write_text(
        text.replace("[owners]\n", '[owners]\n"13540546" = "Anna@Acme.example"\n')
    )
    doc = copy.deepcopy(fixture_json("pipedrive_organization_change.json"))
    doc["previous"] = {"owner_id": 1}
    mapped = parse(doc, tmp_path)
    unmapped = parse(doc)

    assert mapped.change.fields == {"owner": "anna@acme.example"}
    assert "owner id 13540546 has no ChartMogul user" in (unmapped.ignored_reason or "")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"id": None}, "meta.id"),
        ({"id": "a b"}, "meta.id"),
        ({"entity_id": {"x": 1}}, "meta.entity_id"),
        ({"timestamp": "soon"}, "meta.timestamp"),
        ({"entity": 5}, "meta.action and meta.entity"),
    ],
)
def test_bad_meta_makes_a_dead_letter_holding_the_body(meta: dict[str, Any], message: str) -> None:
    doc = fixture_json("pipedrive_organization_change.json")
    doc["meta"].update(meta)

    event = parse(doc)

    assert event.invalid is not None and message in event.invalid
    assert event.change.event_id.startswith("pipedrive:invalid-") and orjson.loads(event.raw) == doc
    with pytest.raises(InvalidEvent, match=message):
        source().remap(event.raw)


def test_remap_of_raw_gives_the_same_change() -> None:
    pipedrive = source()
    event = parse(fixture_json("pipedrive_organization_change.json"))

    assert pipedrive.remap(event.raw).change == event.change
