"""Salesforce: Outbound Messages (SOAP), the organization check, XML attacks, the SOAP ack."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any, cast

import pytest
import redis
from pydantic import SecretStr

from relay.events import IncomingWebhook
from relay.exceptions import MalformedPayload
from relay.mapping.config import load_mapping
from relay.sources.salesforce import SalesforceSource
from relay.store import keys
from relay.store.records import EventRecord
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    SALESFORCE_ORG_ID,
    account_notification,
    fixture_bytes,
    outbound_message,
    send_salesforce,
)

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>&lol9;</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE notifications [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D5e000000AbCdEAK</OrganizationId>
<Notification><Id>04l5e000001AbXxAAK</Id>
<sObject xsi:type="sf:Account" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>0015e00000AbCdEAAV</sf:Id><sf:Name>&xxe;</sf:Name>
</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [ <!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote; ]>
<r/>"""


def source() -> SalesforceSource:
    return SalesforceSource(load_mapping("salesforce"), SecretStr(SALESFORCE_ORG_ID))


def incoming(body: bytes) -> IncomingWebhook:
    return IncomingWebhook("POST", "https://relay.example/webhooks/salesforce", {}, body)


def soap_body(text: str) -> ET.Element:
    envelope = ET.fromstring(text)
    body = envelope.find(f"{SOAP}Body")
    assert body is not None and len(body) == 1
    return body[0]


def fault_string(text: str) -> str:
    fault = soap_body(text)
    assert fault.tag == f"{SOAP}Fault"
    return fault.findtext("faultstring") or ""


# --- over HTTP ------------------------------------------------------------------------------


def test_message_is_acknowledged_with_soap(web: str, redis_client: redis.Redis) -> None:
    answer = send_salesforce(web, fixture_bytes("salesforce_account_contact.xml"))

    assert answer.status == 200, answer.text
    response = soap_body(answer.text)
    assert response.tag == f"{OUTBOUND}notificationsResponse"
    assert response.findtext(f"{OUTBOUND}Ack") == "true"
    assert stored_event_ids(redis_client) == [
        "salesforce:04l5e000001AbCdAAK",
        "salesforce:04l5e000001AbCeAAK",
    ]
    account = redis_client.hgetall("relay:event:salesforce:04l5e000001AbCdAAK")
    assert account["customer"] == "crm:salesforce:account:0015e00000AbCdEAAV"
    raw = EventRecord.from_hash(cast(dict[str, str], account), "salesforce:04l5e000001AbCdAAK").raw
    assert raw.startswith("<") and "04l5e000001AbCeAAK" not in raw  # only its own Notification


def test_redelivered_message_is_acknowledged_and_deduplicated(web: str, redis_client: redis.Redis) -> None:
    body = fixture_bytes("salesforce_account_contact.xml")

    first, again = send_salesforce(web, body), send_salesforce(web, body)

    assert (first.status, again.status) == (200, 200)
    assert soap_body(again.text).findtext(f"{OUTBOUND}Ack") == "true"
    assert len(stored_event_ids(redis_client)) == 2
    # Accepted once: the record stands for the first history entry; no later entry made a list.
    assert redis_client.hget(keys.event("salesforce:04l5e000001AbCdAAK"), "status") == "queued"
    assert not redis_client.exists(keys.event_history("salesforce:04l5e000001AbCdAAK"))


def test_wrong_organization_gets_a_soap_fault(web: str, redis_client: redis.Redis) -> None:
    body = outbound_message(
        account_notification("04l5e000001AbZzAAK", "0015e00000AbCdEAAV", Name="X"),
        org_id="00D000000000001AAA",
    )

    answer = send_salesforce(web, body)

    assert answer.status == 401
    assert answer.text.startswith("<?xml")
    assert "OrganizationId" in fault_string(answer.text)
    assert stored_event_ids(redis_client) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(PARAMETER_ENTITY, id="parameter-entity"),
    ],
)
def test_xml_attacks_are_refused_quickly_without_expanding(
    web: str, redis_client: redis.Redis, body: bytes
) -> None:
    started = time.monotonic()
    answer = send_salesforce(web, body)
    elapsed_s = time.monotonic() - started

    assert answer.status == 400
    assert elapsed_s < 1.0
    assert "DTDForbidden" in fault_string(answer.text)
    assert "root:" not in answer.text and "lollol" not in answer.text
    assert stored_event_ids(redis_client) == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param(b"<notifications", 400, "not well-formed", id="malformed"),
        pytest.param(b'{"json": true}', 400, "not well-formed", id="json"),
        pytest.param(b"<a/>", 422, "not an Outbound Message", id="not-outbound-message"),
        pytest.param(outbound_message(""), 422, "no Notification", id="no-notifications"),
    ],
)
def test_bad_messages_get_soap_faults(web: str, body: bytes, status: int, message: str) -> None:
    answer = send_salesforce(web, body)

    assert answer.status == status
    assert message in fault_string(answer.text)
    assert "Traceback" not in answer.text


def test_one_bad_notification_is_a_dead_letter_and_the_message_is_acknowledged(
    web: str, redis_client: redis.Redis
) -> None:
    good = account_notification("04l5e000001AbC1AAK", "0015e00000AbCdEAAV", Name="Acme")
    bad = account_notification("04l5e000001AbC2AAK", "not an id!", Name="Acme")

    answer = send_salesforce(web, outbound_message(good + bad))

    assert answer.status == 200, answer.text
    assert soap_body(answer.text).findtext(f"{OUTBOUND}Ack") == "true"
    [dead] = [str(e) for e in redis_client.zrange(keys.DLQ, 0, -1)]
    record = EventRecord.from_hash(cast(dict[str, str], redis_client.hgetall(keys.event(dead))), dead)
    assert record.details["reason"] == "invalid_event"
    assert "Notification [1]" in record.details["error"] and "sObject Id" in record.details["error"]
    assert "04l5e000001AbC2AAK" in record.raw and "04l5e000001AbC1AAK" not in record.raw
    assert set(stored_event_ids(redis_client)) == {"salesforce:04l5e000001AbC1AAK", dead}


@pytest.mark.parametrize(
    "notification",
    [
        pytest.param("<Notification><Id>04l5e000001AbD1AAK</Id></Notification>", id="no-sobject"),
        pytest.param(
            '<Notification><Id>04l5e000001AbD1AAK</Id><sObject xsi:type="sf:Account" '
            'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"/></Notification>',
            id="empty-sobject",
        ),
    ],
)
def test_a_notification_without_data_is_recorded_and_acknowledged(
    web: str, redis_client: redis.Redis, notification: str
) -> None:
    # "If the record is deleted before the notification is delivered, the notification contains
    # no data" (Salesforce): its message is acknowledged, or Salesforce retries it for 24 hours.
    answer = send_salesforce(web, outbound_message(notification))

    assert answer.status == 200, answer.text
    assert soap_body(answer.text).findtext(f"{OUTBOUND}Ack") == "true"
    record = redis_client.hgetall(keys.event("salesforce:04l5e000001AbD1AAK"))
    assert record["status"] == "ignored" and "no record" in record["reason"]


def test_more_than_100_notifications_are_refused(web: str) -> None:
    many = "".join(
        account_notification(f"04l5e0000{n:06d}AAK", "0015e00000AbCdEAAV", Name="A") for n in range(101)
    )

    answer = send_salesforce(web, outbound_message(many))

    assert answer.status == 422
    assert "at most 100" in fault_string(answer.text)


def test_a_15_character_org_id_matches_the_18_character_one(start_web: Any) -> None:
    web = start_web(RELAY_SALESFORCE_ORG_ID=SALESFORCE_ORG_ID[:15])

    answer = send_salesforce(web, fixture_bytes("salesforce_account_contact.xml"))

    assert answer.status == 200


# --- parse and map --------------------------------------------------------------------------


def test_account_and_contact_map() -> None:
    account, contact = source().parse(incoming(fixture_bytes("salesforce_account_contact.xml")))

    assert account.change.event_id == "salesforce:04l5e000001AbCdAAK"
    assert account.change.customer.crm_record == "salesforce:account:0015e00000AbCdEAAV"
    assert account.change.occurred_at_ms == 1741342500000  # LastModifiedDate
    assert account.change.fields == {
        "company": "Acme Corp",
        "website_url": "https://www.acme.example",
        "city": "Boston",
        "zip": "02110",
        "state": "US-MA",
        "country": "US",
    }
    assert account.change.tags_add == ["industry:Technology"]
    assert account.change.custom_set == {"employees": 250, "annual_revenue": 1250000.0}
    assert any("owner id 0055e000003AbCdAAK" in note for note in account.change.notes)
    assert contact.change.customer.crm_record == "salesforce:contact:0035e00000XyZaBAAV"
    assert contact.change.fields == {
        "primary_contact": {
            "first_name": "Anna",
            "last_name": "Smith",
            "email": "anna@acme.example",
            "title": "CFO",
            "phone": "(617) 555-0100",
        }
    }


def test_lead_maps_and_other_sobjects_are_ignored() -> None:
    lead, opportunity = source().parse(incoming(fixture_bytes("salesforce_lead.xml")))

    assert lead.change.customer.crm_record == "salesforce:lead:00Q5e00000LmNoPEAV"
    assert lead.change.fields["status"] == "Working Lead"
    assert lead.change.fields["lead_created_at"] == "2025-02-20T08:00:00Z"
    assert lead.change.fields["primary_contact"]["last_name"] == "Scorpio"
    assert opportunity.ignored_reason is not None and "sf:Opportunity" in opportunity.ignored_reason


def test_raw_is_one_notification_and_remaps_to_the_same_change() -> None:
    salesforce = source()
    _, contact = salesforce.parse(incoming(fixture_bytes("salesforce_account_contact.xml")))

    again = salesforce.remap(contact.raw)

    assert ET.fromstring(contact.raw).tag == f"{OUTBOUND}Notification"
    assert again.change == contact.change


def test_remap_refuses_a_dtd_too() -> None:
    with pytest.raises(MalformedPayload):
        source().remap(BILLION_LAUGHS.decode())


def test_link_field_with_a_uuid_links_the_account() -> None:
    uuid = "cus_0d1e2f3a-4b5c-4d6e-8f90-123456789abc"
    body = outbound_message(
        account_notification(
            "04l5e000001AbL1AAK", "0015e00000AbCdEAAV", ChartMogul_Customer_UUID__c=uuid, Name="Acme"
        )
    )

    [event] = source().parse(incoming(body))

    assert event.links == {"salesforce:account:0015e00000AbCdEAAV": uuid}
    assert event.ignored_reason is None  # the name still changes
    assert event.change.fields == {"company": "Acme"}
