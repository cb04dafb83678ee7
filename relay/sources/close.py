"""Close: one event per request, signed with the webhook subscription's signature key.

    POST /webhooks/close
    close-sig-timestamp: <epoch seconds>
    close-sig-hash: <hex HMAC-SHA256(bytes.fromhex(key), timestamp + body)>
    {"subscription_id": "whsub_…",
     "event": {"id": "ev_…", "date_created": "2025-03-01T10:00:00.123000", "action": "updated",
               "object_type": "lead", "object_id": "lead_…", "lead_id": "lead_…",
               "changed_fields": ["name", "addresses"], "previous_data": {…}, "data": {…}}}

The timestamp must be within the tolerance (5 minutes), so a captured request cannot be replayed.
A verified body that is JSON within the limits is never refused: one the relay cannot read is a
dead letter `invalid_event` holding it.

    lead      customer fields   customer crm_record close:lead:<lead_id>
    contact   primary_contact   customer crm_record close:lead:<lead_id> (a contact belongs to a lead)
    other objects, deletes, merges: recorded, ignored

`updated` maps only `changed_fields`; `created` maps every field present. Close keys custom
fields as `custom.cf_…`, which mapping files name as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from pydantic import SecretStr

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature
from relay.mapping.config import SourceMapping
from relay.mapping.values import epoch_ms
from relay.sources.base import CrmSource, parse_json_object
from relay.sources.records import CrmRecords

OBJECT_TYPES = ("lead", "contact")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_BOOKKEEPING = frozenset(
    {"id", "lead_id", "organization_id", "date_updated", "created_by", "updated_by", "created_by_name"}
    | {"updated_by_name", "display_name", "html_url", "status_id", "contacts", "opportunities", "tasks"}
)


# A Close contact belongs to a lead: its events name the lead's record.
RECORDS = CrmRecords("close", "lead", "lead", "id")


class CloseKeyError(ValueError):
    """RELAY_CLOSE_SIGNATURE_KEY is not the hex key Close shows for the subscription."""


def _object_name(object_type: str) -> str:
    return object_type if 0 < len(object_type) <= 40 and set(object_type) <= _ID_CHARS else "unknown"


def _id(value: object, what: str) -> str:
    if not isinstance(value, str) or not (0 < len(value) <= 100) or not set(value) <= _ID_CHARS:
        raise InvalidEvent(f"{what} {str(value)[:40]!r} is missing or not a Close id")
    return value


class CloseSource(CrmSource):
    name = "close"
    records = RECORDS
    header_names = frozenset({"close-sig-timestamp", "close-sig-hash"})

    def __init__(
        self,
        mapping: SourceMapping,
        signature_key: SecretStr | None = None,
        *,
        tolerance_s: int = 300,
        max_clock_skew_s: int = 300,
    ) -> None:
        super().__init__(mapping, signature_key, tolerance_s=tolerance_s, max_clock_skew_s=max_clock_skew_s)
        self._key: bytes | None = None
        if signature_key is not None:
            try:
                self._key = bytes.fromhex(signature_key.get_secret_value().strip())
            except ValueError:
                raise CloseKeyError(
                    "RELAY_CLOSE_SIGNATURE_KEY must be the hex signature key Close returned "
                    "for the webhook subscription"
                ) from None

    def verify(self, webhook: IncomingWebhook) -> None:
        if not self._key:
            raise InvalidSignature("the Close signature key is not configured")
        timestamp = webhook.headers.get("close-sig-timestamp", "").strip()
        signature = webhook.headers.get("close-sig-hash", "").strip().lower()
        if not signature or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 15):
            raise InvalidSignature("missing or invalid close-sig-hash / close-sig-timestamp headers")
        self.check_timestamp(int(timestamp), "close-sig-timestamp", time.time())
        expected = hmac.new(self._key, timestamp.encode() + webhook.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise InvalidSignature("invalid Close signature")

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        return self.parse_json_event(webhook, self._event)

    def remap(self, raw: str) -> ParsedEvent:
        return self._event(parse_json_object(raw), raw)

    def _event(self, doc: object, raw: str) -> ParsedEvent:
        if not isinstance(doc, dict):
            raise InvalidEvent("body must be a JSON object")
        if not isinstance(doc.get("event"), dict):
            raise InvalidEvent("body must be an object with an `event` object")
        event: dict[str, Any] = doc["event"]
        event_id = f"close:{_id(event.get('id'), 'event.id')}"
        created = event.get("date_created")
        occurred_at_ms = self.event_time(epoch_ms(created), "event.date_created", created)
        if event.get("date_updated") is not None:  # not read for the order, but a CRM time all the same
            updated = event["date_updated"]
            self.event_time(epoch_ms(updated), "event.date_updated", updated)
        object_type, action = event.get("object_type"), event.get("action")
        if not isinstance(object_type, str) or not isinstance(action, str):
            raise InvalidEvent("event.object_type and event.action must be strings")
        data, changed = event.get("data"), event.get("changed_fields")
        lead_id = event.get("lead_id") or (event.get("object_id") if object_type == "lead" else None)
        reason: str | None = None
        if object_type not in OBJECT_TYPES:
            reason = f"{object_type[:40]} events are not mapped (only leads and contacts are)"
        elif action not in ("created", "updated"):
            reason = f"{object_type}.{action[:20]} is recorded but not mapped"
        if lead_id is None and reason is not None:
            object_id = _id(event.get("object_id"), "event.object_id")
            crm_record = RECORDS.key(_object_name(object_type), object_id)
        else:
            crm_record = RECORDS.key("lead", _id(lead_id, "event.lead_id"))
        if reason is not None:
            return self.ignored(
                event_id=event_id,
                occurred_at_ms=occurred_at_ms,
                crm_record=crm_record,
                raw=raw,
                reason=reason,
            )
        if not isinstance(data, dict):
            raise InvalidEvent(f"event.data must be an object for a {object_type}.{action} event")
        previous = event.get("previous_data")
        if action == "updated" and not (
            isinstance(changed, list) and all(isinstance(name, str) for name in changed)
        ):
            raise InvalidEvent("event.changed_fields must be a list of field names")
        return self.mapped(
            object_type,
            data,
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            changed=changed if action == "updated" else None,
            previous=previous if isinstance(previous, dict) else None,
            not_properties=_BOOKKEEPING,
        )
