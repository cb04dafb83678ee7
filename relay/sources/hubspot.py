"""HubSpot: batches of webhook events (Webhooks API), signed with the app's client secret.

    POST /webhooks/hubspot
    X-HubSpot-Signature-v3: <base64 HMAC-SHA256(secret, method + uri + body + timestamp)>
    X-HubSpot-Request-Timestamp: <epoch milliseconds>
    [{"eventId": 1001, "subscriptionId": 2, "portalId": 62515, "appId": 3, "occurredAt": 1732100000000,
      "subscriptionType": "company.propertyChange", "attemptNumber": 0, "objectId": 1246965,
      "changeSource": "CRM_UI", "propertyName": "city", "propertyValue": "Boston"}, …]

Older apps sign with v1 (`X-HubSpot-Signature` = hex SHA-256 of secret + body) or v2 (hex
SHA-256 of secret + method + uri + body), named by `X-HubSpot-Signature-Version`; both are
accepted, v3 is preferred when present. v3's timestamp must be within the tolerance (5 minutes).

A batch holds up to 100 events and is accepted all or nothing: one invalid event refuses the
whole batch (422, naming its index), so HubSpot's retry carries every event again.

Each event carries ONE property of ONE record:

    company.propertyChange                 company fields  customer crm_record hubspot:company:<objectId>
    contact.propertyChange                 primary_contact customer crm_record hubspot:contact:<objectId>
    object.propertyChange  objectTypeId    0-2 as company, 0-1 as contact
    *.creation, *.deletion, *.merge, *.restore, *.associationChange, other objects: recorded, ignored

A contact event names the contact's own record; the link table (relay:links) maps it to the
ChartMogul customer of the contact's company, like a company record. A property that is the
mapping's `link_property` holding a `cus_…` uuid links the record to that customer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import (
    Annotated,
    Any,
    Required,  # pydantic needs this TypedDict before 3.12
)
from urllib.parse import unquote

import orjson
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature
from relay.mapping.apply import mapped_event
from relay.mapping.plan import PropertyPlans
from relay.sources.base import CrmSource, parse_json
from relay.sources.generic import describe_validation_error

MAX_BATCH_EVENTS = 100

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,100}$")]
# HubSpot's generic object type ids for the two objects the relay maps.
OBJECT_TYPE_IDS = {"0-1": "contact", "0-2": "company"}


@with_config(ConfigDict(coerce_numbers_to_str=True))
class HubSpotEvent(TypedDict, total=False):
    """One event of a HubSpot webhook batch; fields HubSpot adds later are ignored. A TypedDict
    (validated into a plain dict), as a model per event cost twice as much."""

    eventId: Required[Id]
    subscriptionType: Annotated[str, StringConstraints(max_length=200)] | None
    eventType: Annotated[str, StringConstraints(max_length=200)] | None  # older subscriptions
    portalId: Id | None
    occurredAt: Required[Annotated[int, Field(gt=0)]]
    objectId: Required[Id]
    objectTypeId: str | None
    propertyName: Annotated[str, StringConstraints(max_length=500)] | None
    propertyValue: Any
    attemptNumber: int | None
    changeSource: str | None


HUBSPOT_EVENT: TypeAdapter[HubSpotEvent] = TypeAdapter(HubSpotEvent)


class HubSpotSource(CrmSource):
    name = "hubspot"
    header_names = frozenset(
        {
            "x-hubspot-signature-v3",
            "x-hubspot-request-timestamp",
            "x-hubspot-signature",
            "x-hubspot-signature-version",
        }
    )
    signs_url = True  # v2 and v3 sign the URL

    # --- verify -----------------------------------------------------------------------------

    def verify(self, webhook: IncomingWebhook) -> None:
        secret = self.secret_value().encode()
        headers = webhook.headers
        if "x-hubspot-signature-v3" in headers:
            self._verify_v3(webhook, secret)
            return
        signature = headers.get("x-hubspot-signature")
        version = headers.get("x-hubspot-signature-version", "v1").strip().lower()
        if signature is None:
            raise InvalidSignature("missing X-HubSpot-Signature-v3 (or X-HubSpot-Signature) header")
        if version == "v1":
            source = secret + webhook.body
        elif version == "v2":
            source = secret + webhook.method.upper().encode() + webhook.url.encode() + webhook.body
        else:
            raise InvalidSignature(f"unsupported X-HubSpot-Signature-Version {version[:10]!r}")
        expected = hashlib.sha256(source).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise InvalidSignature(f"invalid HubSpot signature ({version})")

    def _verify_v3(self, webhook: IncomingWebhook, secret: bytes) -> None:
        raw_timestamp = webhook.headers.get("x-hubspot-request-timestamp", "").strip()
        if not (raw_timestamp.isascii() and raw_timestamp.isdigit() and len(raw_timestamp) < 20):
            raise InvalidSignature("missing or invalid X-HubSpot-Request-Timestamp header")
        self.check_timestamp(int(raw_timestamp) / 1000, "X-HubSpot-Request-Timestamp", time.time())
        # HubSpot hashes the URI with its URL-encoded characters decoded.
        message = (
            webhook.method.upper().encode()
            + unquote(webhook.url).encode()
            + webhook.body
            + raw_timestamp.encode()
        )
        expected = base64.b64encode(hmac.digest(secret, message, "sha256"))
        given = webhook.headers["x-hubspot-signature-v3"].strip().encode()
        if not hmac.compare_digest(expected, given):
            raise InvalidSignature("invalid HubSpot signature (v3)")

    # --- parse ------------------------------------------------------------------------------

    def _plans(self) -> PropertyPlans:
        """The per-property plans of the current mapping (compiled again if it was replaced)."""
        plans: PropertyPlans | None = getattr(self, "_property_plans", None)
        if plans is None or plans.mapping is not self.mapping:
            plans = self._property_plans = PropertyPlans(self.mapping)
        return plans

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        batch = parse_json(webhook.body)
        if not isinstance(batch, list):
            raise InvalidEvent("body must be a JSON array of HubSpot events")
        if not batch:
            raise InvalidEvent("the batch holds no events")
        if len(batch) > MAX_BATCH_EVENTS:
            raise InvalidEvent(f"a batch holds at most {MAX_BATCH_EVENTS} events, this one {len(batch)}")
        events = []
        for index, doc in enumerate(batch):
            try:
                events.append(self._event(doc))
            except InvalidEvent as exc:
                raise InvalidEvent(f"event [{index}]: {exc.message}; the batch was not accepted") from None
        return events

    def remap(self, raw: str) -> ParsedEvent:
        return self._event(parse_json(raw, what="stored event"))

    def _event(self, doc: object) -> ParsedEvent:
        if not isinstance(doc, dict):
            raise InvalidEvent("an event must be a JSON object")
        try:
            event = HUBSPOT_EVENT.validate_python(doc)
        except ValidationError as exc:
            raise InvalidEvent(describe_validation_error(exc)) from None
        kind = event.get("subscriptionType") or event.get("eventType") or ""
        object_name, dot, action = kind.partition(".")
        if not dot or not action:
            raise InvalidEvent(f"subscriptionType {kind[:60]!r} is missing or not '<object>.<action>'")
        if object_name == "object":
            type_id = event.get("objectTypeId")
            object_name = OBJECT_TYPE_IDS.get(type_id or "", f"object-{type_id}")
        occurred_at_ms = event["occurredAt"]
        self.event_time(occurred_at_ms, "occurredAt", occurred_at_ms)
        raw = orjson.dumps(doc).decode()
        event_id = f"hubspot:{event['eventId']}"
        crm_record = f"hubspot:{object_name}:{event['objectId']}"
        prop = event.get("propertyName")
        if action == "propertyChange" and prop is None:
            raise InvalidEvent("a propertyChange event needs propertyName")
        if object_name not in ("company", "contact"):
            reason = f"{kind} events are not mapped (only companies and contacts are)"
        elif action != "propertyChange":
            reason = f"{kind} is recorded but not mapped (only property changes are)"
        else:
            # One property per event: its compiled plan, not every rule of the object type.
            return mapped_event(
                self.mapping,
                self._plans().map_property(object_name, prop or "", event.get("propertyValue")),
                event_id=event_id,
                occurred_at_ms=occurred_at_ms,
                crm_record=crm_record,
                raw=raw,
            )
        return self.ignored(
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            reason=reason,
        )
