"""Pipedrive webhooks v1 (still sent by webhooks created with `version: "1.0"`): accepted and
mapped like v2, with a warning line a minute recommending v2. Bodies in v1's shape (flat
address_* fields, custom fields as 40-hex top-level keys, `previous` the whole record)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from relay.mapping.config import DEFAULTS_DIR
from relay.store import keys
from tests.servers import ServeProcess, wait_for
from tests.sources.conftest import CRM_SECRETS
from tests.sources.senders import fixture_json, send_pipedrive
from tests.sources.test_pipedrive import parse

SEGMENT_KEY = "5f2c1d8e9a7b6c4d3e2f1a0b9c8d7e6f5a4b3c2d"


@pytest.fixture
def mapping_dir(tmp_path: Path) -> Path:
    """The shipped mapping with the segment custom field under its real (40-hex) key."""
    text = (DEFAULTS_DIR / "pipedrive.toml").read_text()
    (tmp_path / "pipedrive.toml").write_text(
        text.replace("custom_fields.segment", f"custom_fields.{SEGMENT_KEY}")
    )
    return tmp_path


def organization_updated() -> dict[str, Any]:
    return copy.deepcopy(fixture_json("pipedrive_v1_organization_updated.json"))


def test_an_update_maps_only_what_differs_from_previous_like_v2(mapping_dir: Path) -> None:
    event = parse(organization_updated(), mapping_dir)

    change = event.change
    assert event.ignored_reason is None and event.invalid is None
    assert change.customer.crm_record == "pipedrive:organization:42"
    # The address moved from Albany to Boston; the name and country did not change: not sent.
    assert change.fields == {"city": "Boston", "zip": "02110", "state": "US-MA"}
    assert (change.tags_add, change.tags_remove) == (["segment:Enterprise"], ["segment:SMB"])
    assert change.occurred_at_ms == 1740823200123  # timestamp_micro, to the millisecond
    assert change.event_id.startswith("pipedrive:v1-organization-42-")


def test_an_added_person_maps_like_its_v2_body_and_names_its_organization() -> None:
    event = parse(fixture_json("pipedrive_v1_person_added.json"))

    v2 = parse(fixture_json("pipedrive_person_create.json"))  # the same person, sent by webhooks v2
    assert event.change.fields == v2.change.fields
    assert event.change.fields["primary_contact"]["title"] == "CFO"
    assert event.parents == v2.parents == {"pipedrive:person:1001": "pipedrive:organization:42"}


def test_a_v1_org_id_object_names_the_organization_too() -> None:
    doc = fixture_json("pipedrive_v1_person_added.json")
    doc["current"]["org_id"] = {"name": "Acme Corp", "value": 43, "people_count": 2}

    assert parse(doc).parents == {"pipedrive:person:1001": "pipedrive:organization:43"}


def test_a_deletion_is_recorded_and_a_merge_moves_links() -> None:
    deleted = organization_updated()
    deleted["meta"]["action"], deleted["event"] = "deleted", "deleted.organization"
    deleted["current"] = None
    merged = organization_updated()
    merged["meta"]["action"], merged["event"] = "merged", "merged.organization"
    merged["current"]["merge_what_id"] = 57

    gone, merge = parse(deleted), parse(merged)

    assert gone.ignored_reason is not None and "deletes never delete customers" in gone.ignored_reason
    assert merge.ignored_reason is None
    assert (merge.change.customer.crm_record, merge.change.merged_records) == (
        "pipedrive:organization:42",
        ["pipedrive:organization:57"],
    )


def test_a_retry_is_a_duplicate_and_another_change_is_not(web: str, redis_client: redis.Redis) -> None:
    first = organization_updated()
    retry = {**organization_updated(), "retry": 2}
    later = organization_updated()
    later["meta"]["timestamp_micro"] += 60_000_000
    later["current"]["address_locality"] = "Cambridge"

    answers = [send_pipedrive(web, doc) for doc in (first, retry, later)]

    assert [a.body["status"] for a in answers] == ["accepted", "duplicate", "accepted"]
    assert answers[0].body["event_id"] == answers[1].body["event_id"] != answers[2].body["event_id"]
    assert redis_client.hget(keys.event(answers[2].body["event_id"]), "status") == "queued"


@pytest.fixture
def served(relay_env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess({**relay_env, **CRM_SECRETS}, tmp_path / "web.log")
    yield server
    server.stop()


def test_v1_bodies_are_accepted_with_one_warning_a_minute(served: ServeProcess) -> None:
    for n in range(3):
        doc = organization_updated()
        doc["meta"]["timestamp_micro"] += n
        assert send_pipedrive(served.base_url, doc).status == 202

    def warnings() -> list[dict[str, Any]]:
        return [line for line in served.log_lines() if line.get("event") == "pipedrive_webhooks_v1"]

    [line] = wait_for(warnings)
    assert line["level"] == "warning" and line["webhook_id"] == "881299"
    assert "version 2.0" in line["hint"]
