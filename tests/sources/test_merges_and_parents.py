"""What each CRM says about merges and parents, read where it says it (each CRM's own module):
the surviving record and the merged ones; a contact's company. Bodies in the CRMs' shapes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from relay.events import IncomingWebhook, ParsedEvent
from relay.mapping.config import load_mapping
from relay.sources.hubspot import HubSpotSource
from relay.sources.salesforce import SalesforceSource
from tests.sources.senders import (
    HUBSPOT_SECRET,
    SALESFORCE_ORG_ID,
    fixture_json,
    hubspot_event,
    hubspot_kind,
    outbound_message,
)
from tests.sources.test_pipedrive import parse as pipedrive_event


def webhook(body: bytes) -> IncomingWebhook:
    return IncomingWebhook("POST", "https://relay.example/webhooks/x", {}, body)


def hubspot(*events: dict[str, Any]) -> list[ParsedEvent]:
    source = HubSpotSource(load_mapping("hubspot"), SecretStr(HUBSPOT_SECRET))
    return source.parse(webhook(orjson.dumps(list(events))))


# --- HubSpot -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "surviving", "merged"),
    [
        pytest.param(
            {"primaryObjectId": 1, "mergedObjectIds": [2, 3]}, "1", ["2", "3"], id="into-the-primary"
        ),
        pytest.param(
            {"primaryObjectId": 1, "mergedObjectIds": [2], "newObjectId": 9},
            "9",
            ["2", "1"],
            id="into-a-new-record",
        ),
    ],
)
def test_a_hubspot_merge_names_the_surviving_record_and_the_merged_ones(
    fields: dict[str, Any], surviving: str, merged: list[str]
) -> None:
    [event] = hubspot(hubspot_kind(4001, "contact.merge", objectId=1, numberOfPropertiesMoved=4, **fields))

    assert event.ignored_reason is None  # queued: a worker moves the links in order
    assert event.change.customer.crm_record == f"hubspot:contact:{surviving}"
    assert event.change.merged_records == [f"hubspot:contact:{m}" for m in merged]


def test_a_merge_of_other_objects_is_recorded_only() -> None:
    [event] = hubspot(hubspot_kind(4001, "deal.merge", objectId=1, primaryObjectId=1, mergedObjectIds=[2]))

    assert event.ignored_reason is not None and "deal.merge" in event.ignored_reason


def association(kind: str, association_type: str, from_id: int, to_id: int, **flags: bool) -> dict[str, Any]:
    # An association event carries fromObjectId/toObjectId, no objectId.
    return hubspot_kind(
        4001, kind, associationType=association_type, fromObjectId=from_id, toObjectId=to_id, **flags
    )


@pytest.mark.parametrize(
    ("event", "parents", "reason"),
    [
        pytest.param(
            association("company.associationChange", "COMPANY_TO_CONTACT", 9, 51, isPrimaryAssociation=True),
            {"hubspot:contact:51": "hubspot:company:9"},
            "primary COMPANY_TO_CONTACT association",
            id="company-to-contact-primary",
        ),
        pytest.param(
            association("contact.associationChange", "CONTACT_TO_COMPANY", 51, 9, isPrimaryAssociation=True),
            {"hubspot:contact:51": "hubspot:company:9"},
            "primary CONTACT_TO_COMPANY association",
            id="contact-to-company-primary",
        ),
        pytest.param(
            association("company.associationChange", "COMPANY_TO_CONTACT", 9, 51, isPrimaryAssociation=False),
            None,
            "only primary company-contact associations",
            id="not-primary",
        ),
        pytest.param(
            association(
                "company.associationChange",
                "COMPANY_TO_CONTACT",
                9,
                51,
                isPrimaryAssociation=True,
                associationRemoved=True,
            ),
            None,
            "keeps its company until another one is made primary",
            id="primary-removed",
        ),
        pytest.param(
            association("contact.associationChange", "CONTACT_TO_DEAL", 51, 7, isPrimaryAssociation=True),
            None,
            "CONTACT_TO_DEAL",
            id="other-objects",
        ),
    ],
)
def test_association_events_are_recorded_and_a_primary_company_contact_one_sets_the_parent(
    event: dict[str, Any], parents: dict[str, str] | None, reason: str
) -> None:
    [parsed] = hubspot(event)

    assert parsed.invalid is None and parsed.ignored_reason is not None
    assert reason in parsed.ignored_reason
    assert parsed.parents == parents


@pytest.mark.parametrize(("value", "parent"), [("1246965", "hubspot:company:1246965"), ("", "")])
def test_a_contact_s_associatedcompanyid_names_its_company(value: str, parent: str) -> None:
    [event] = hubspot(
        hubspot_event(4101, 51, "associatedcompanyid", value, subscriptionType="contact.propertyChange")
    )

    assert event.parents == {"hubspot:contact:51": parent}


# --- Pipedrive -----------------------------------------------------------------------------


def test_a_pipedrive_delete_merged_into_another_is_a_merge() -> None:
    doc = fixture_json("pipedrive_organization_delete.json")
    doc["meta"]["merged_to_id"] = "7"

    event = pipedrive_event(doc)

    assert event.ignored_reason is None
    assert (event.change.customer.crm_record, event.change.merged_records) == (
        "pipedrive:organization:7",
        ["pipedrive:organization:42"],
    )


def test_a_pipedrive_change_merged_from_another_changes_and_merges() -> None:
    doc = fixture_json("pipedrive_organization_change.json")
    doc["meta"]["merged_from_id"] = "57"

    event = pipedrive_event(doc)

    assert event.change.fields["city"] == "Boston"
    assert event.change.merged_records == ["pipedrive:organization:57"]


def test_a_pipedrive_person_names_its_organization_and_losing_it_clears_it() -> None:
    created = fixture_json("pipedrive_person_create.json")
    left = fixture_json("pipedrive_person_create.json")
    left["meta"]["action"], left["data"]["org_id"], left["previous"] = "change", None, {"org_id": 42}

    assert pipedrive_event(created).parents == {"pipedrive:person:1001": "pipedrive:organization:42"}
    assert pipedrive_event(left).parents == {"pipedrive:person:1001": ""}


# --- Salesforce ----------------------------------------------------------------------------


def contact_notification(account: str) -> str:
    return (
        "<Notification><Id>04l5e000001AbH1AAK</Id>"
        '<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>0035e00000AbCdEAAV</sf:Id>{account}<sf:FirstName>Anna</sf:FirstName></sObject></Notification>"
    )


@pytest.mark.parametrize(
    ("account", "parent"),
    [
        ("<sf:AccountId>0015e00000AbCdEAAV</sf:AccountId>", "salesforce:account:0015e00000AbCdEAAV"),
        ('<sf:AccountId xsi:nil="true"/>', ""),
    ],
)
def test_a_salesforce_contact_s_account_id_is_its_parent(account: str, parent: str) -> None:
    source = SalesforceSource(load_mapping("salesforce"), SecretStr(SALESFORCE_ORG_ID))

    [event] = source.parse(webhook(outbound_message(contact_notification(account))))

    assert event.parents == {"salesforce:contact:0035e00000AbCdEAAV": parent}
    assert event.change.fields == {"primary_contact": {"first_name": "Anna"}}
    assert not event.change.notes  # AccountId is not "not mapped": it is the parent
