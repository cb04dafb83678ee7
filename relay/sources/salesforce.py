"""Salesforce: Outbound Messages (SOAP), up to 100 notifications per request.

    POST /webhooks/salesforce            Content-Type: text/xml
    <soapenv:Envelope …><soapenv:Body>
      <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
        <OrganizationId>00D5e000000AbCdEAK</OrganizationId>
        <ActionId>04k5e000000AbCdAAK</ActionId>
        <Notification>
          <Id>04l5e000001AbCdAAK</Id>
          <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
            <sf:Id>0015e00000AbCdEAAV</sf:Id> <sf:Name>Acme</sf:Name> <sf:BillingCity>Boston</sf:BillingCity>
          </sObject>
        </Notification>
      </notifications>
    </soapenv:Body></soapenv:Envelope>

Salesforce signs nothing: `OrganizationId` must be the configured org (RELAY_SALESFORCE_ORG_ID,
15 or 18 characters), compared in constant time; use TLS and, if you can, an IP allow-list.
With RELAY_SALESFORCE_PATH_TOKEN set, the endpoint is `/webhooks/salesforce/<token>` instead
(any other path answers 404), a secret an org id (printed on every Salesforce invoice and URL)
is not.

The XML is read with defusedxml, DTDs forbidden, so entity bombs and external entities are
refused (400) before anything expands, and within the limits of relay/sources/limits.py while
it is parsed (relay/sources/xmlread.py). The org id is read first: Salesforce writes it before
the notifications, so a stranger's body costs only its first few elements before its 401.

The answer is SOAP both ways: a `notificationsResponse` with `<Ack>true</Ack>` once every
notification is recorded (without it Salesforce retries for 24 hours, then drops the message),
a SOAP Fault otherwise. Only a wrong org, a body that is not XML, one that breaks a limit or
holds no (or too many) notifications is refused: each notification is recorded on its own.

Every notification becomes one event (`salesforce:<Notification Id>`, the Id Salesforce keeps
across retries) whose `raw` is that Notification's XML:

    Account   customer fields   customer salesforce:account:<sObject Id>
    Contact   primary_contact   customer salesforce:contact:<sObject Id>; AccountId is its parent
    Lead      both              customer salesforce:lead:<sObject Id>
    other sObjects: recorded, ignored
    no data (the record was deleted before the notification left): recorded, ignored
    unreadable (no Id, a bad time): a dead letter `invalid_event` holding the Notification

An Outbound Message carries the fields chosen for it, changed or not, so every field present is
mapped. The event time is the sObject's LastModifiedDate (or SystemModstamp) when the message
includes it, the time of receipt otherwise: add LastModifiedDate to the message's fields.
"""

from __future__ import annotations

import hmac
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Self
from xml.sax.saxutils import escape

from pydantic import SecretStr
from starlette.responses import Response

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature, WebhookError
from relay.mapping.config import SourceMapping
from relay.mapping.values import epoch_ms
from relay.settings import Settings
from relay.sources.base import CrmSource
from relay.sources.limits import check_entries
from relay.sources.records import BadRecord, CrmRecords
from relay.sources.xmlread import parse_xml, read_events

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
# Envelope, Body, notifications, OrganizationId: start and end events of a real message's first
# elements, with room for a SOAP header.
ORG_ID_WITHIN_EVENTS = 32
SOBJECTS = ("Account", "Contact", "Lead")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_TIME_FIELDS = ("LastModifiedDate", "SystemModstamp")
# A Contact's parent: the Account it belongs to (add AccountId to the Outbound Message).
PARENT_FIELD = "AccountId"
_BOOKKEEPING = frozenset(
    {"Id", "LastModifiedDate", "SystemModstamp", "CreatedById", "LastModifiedById", PARENT_FIELD}
)


class SalesforceRecords(CrmRecords):
    def key(self, object_name: str, record_id: str) -> str:
        """Object names as Salesforce writes them (Account), keyed lower-case (account)."""
        return super().key(object_name.lower(), record_id)

    def from_api(self, doc: Any) -> tuple[str, dict[str, Any]]:
        """A record as Salesforce's REST API and Data Loader's JSON write it:
        {"attributes": {"type": "Account"}, "Id": "001…", "Name": …}."""
        record_id, properties = super().from_api(doc)
        attributes = properties.pop("attributes", None)
        kind = attributes.get("type") if isinstance(attributes, Mapping) else None
        if kind not in (None, self.object_type):
            raise BadRecord(f"is a {kind}, not an {self.object_type}")
        return record_id, properties


RECORDS = SalesforceRecords("salesforce", "account", "Account", "Id")

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)


def soap_fault(message: str, *, server: bool = False) -> str:
    code = "soapenv:Server" if server else "soapenv:Client"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body>"
        "</soapenv:Envelope>"
    )


def _q(name: str) -> str:
    return f"{{{OUTBOUND_NS}}}{name}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _notifications(root: ET.Element) -> ET.Element:
    if root.tag == _q("notifications"):
        return root
    found = root.find(f"{{{SOAP_NS}}}Body/{_q('notifications')}")
    if found is None:
        raise InvalidEvent(
            f"no notifications element in the {OUTBOUND_NS} namespace (not an Outbound Message)"
        )
    return found


def organization_id(body: bytes) -> str:
    """The OrganizationId, read from the start of the body only: Salesforce writes it among the
    first few elements, before any Notification; "" when it is not there."""
    root: ET.Element | None = None
    for index, (event, element) in enumerate(read_events(body)):
        root = element if root is None else root
        if event == "end" and element.tag == _q("OrganizationId"):
            return _text(element) or ""
        if element.tag == _q("Notification") or index > ORG_ID_WITHIN_EVENTS:
            return ""
    if root is not None:  # a short document read whole: say what it is not
        _notifications(root)
    return ""


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return (element.text or "").strip()


def _object_type(name: str) -> str:
    """An sObject type fit for a record key ("" when it is not a Salesforce API name)."""
    return name if 0 < len(name) <= 80 and set(name) <= _ID_CHARS | {"_"} else ""


def _sf_id(value: str | None, what: str) -> str:
    if not value or len(value) > 40 or not set(value) <= _ID_CHARS:
        raise InvalidEvent(f"{what} {str(value)[:40]!r} is missing or not a Salesforce id")
    return value


class SalesforceSource(CrmSource):
    name = "salesforce"
    records = RECORDS
    header_names = frozenset()

    def __init__(
        self,
        mapping: SourceMapping,
        secret: SecretStr | None = None,
        *,
        tolerance_s: int = 300,
        max_clock_skew_s: int = 300,
        path_token: SecretStr | None = None,
    ) -> None:
        super().__init__(mapping, secret, tolerance_s=tolerance_s, max_clock_skew_s=max_clock_skew_s)
        self.path_token = path_token

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        source = super().from_settings(settings)
        source.path_token = settings.salesforce_path_token
        return source

    def accepts_path(self, token: str | None) -> bool:
        expected = self.path_token.get_secret_value() if self.path_token is not None else None
        if expected is None or token is None:
            return expected is None and token is None
        return hmac.compare_digest(expected.encode(), token.encode())

    def verify(self, webhook: IncomingWebhook) -> None:
        expected = self.secret_value(strip=True)
        given = organization_id(webhook.body)
        # An 18-character id is the 15-character one plus a checksum; accept either configured.
        if len(expected) == 15 and len(given) == 18:
            given = given[:15]
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise InvalidSignature("OrganizationId is not the configured Salesforce organization")

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        notifications = _notifications(parse_xml(webhook.body)).findall(_q("Notification"))
        # (the reader stopped at MAX_VALUES elements, so this is at most that many)
        if not notifications:
            raise InvalidEvent("the message holds no Notification")
        if len(notifications) > MAX_NOTIFICATIONS:
            raise InvalidEvent(
                f"a message holds at most {MAX_NOTIFICATIONS} notifications, this one {len(notifications)}",
                limit=True,
            )
        received_ms = int(time.time() * 1000)
        events = []
        for index, notification in enumerate(notifications):
            raw = ET.tostring(notification, encoding="unicode")
            read = partial(self._event, notification, raw, received_ms)
            where = f"Notification [{index}] of its message: "
            events.append(self.read_or_dead_letter(read, raw, where=where))
        return events

    def remap(self, raw: str) -> ParsedEvent:
        notification = parse_xml(raw)
        if notification.tag != _q("Notification"):
            raise InvalidEvent("a stored Salesforce event must be one Notification element")
        return self._event(notification, raw, int(time.time() * 1000))

    def _event(self, notification: ET.Element, raw: str, received_ms: int) -> ParsedEvent:
        notification_id = _sf_id(_text(notification.find(_q("Id"))), "Notification Id")
        event_id = f"salesforce:{notification_id}"
        sobject = notification.find(_q("sObject"))
        declared = sobject.get(f"{{{XSI_NS}}}type") or "" if sobject is not None else ""
        object_type = _object_type(declared.rpartition(":")[2])
        record: dict[str, Any] = {}
        if sobject is not None:
            check_entries(len(sobject), "sObject", "fields")  # as a JSON object's keys are bounded
            for child in sobject:
                record[_local(child.tag)] = _text(child)
        if not record.get("Id"):
            # Salesforce: "if the record is deleted before the notification is delivered, the
            # notification contains no data". Recorded, so that Salesforce's Ack can follow.
            return self.ignored(
                event_id=event_id,
                occurred_at_ms=received_ms,
                crm_record=RECORDS.key("notification", notification_id),
                raw=raw,
                reason="the notification carries no record (Salesforce sends none when the record "
                "was deleted before the notification left)",
            )
        record_id = _sf_id(record.get("Id"), "sObject Id")
        occurred_at_ms = received_ms
        for name in _TIME_FIELDS:
            stamp = epoch_ms(record.get(name)) if record.get(name) else None
            if stamp is not None:
                occurred_at_ms = self.event_time(stamp, f"sObject {name}", record.get(name))
                break
        crm_record = RECORDS.key(object_type or "unknown", record_id)
        if object_type not in SOBJECTS:
            return self.ignored(
                event_id=event_id,
                occurred_at_ms=occurred_at_ms,
                crm_record=crm_record,
                raw=raw,
                reason=f"{declared[:60] or 'an untyped sObject'} is not mapped ({', '.join(SOBJECTS)} are)",
            )
        parent: dict[str, str] = {}
        if object_type == "Contact" and PARENT_FIELD in record:
            account = record[PARENT_FIELD]
            parent = {crm_record: RECORDS.key("Account", _sf_id(account, PARENT_FIELD)) if account else ""}
        return self.mapped(
            object_type,
            record,
            not_properties=_BOOKKEEPING,
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            parents=parent,
        )

    def accepted_response(self, events: Sequence[ParsedEvent], duplicates: int) -> Response | None:
        return Response(ACK, status_code=200, media_type="text/xml; charset=utf-8")

    def error_response(self, error: WebhookError) -> Response | None:
        return Response(
            soap_fault(error.message, server=error.status_code >= 500),
            status_code=error.status_code,
            media_type="text/xml; charset=utf-8",
        )
