"""Pipedrive: webhooks v2, one event per request, authenticated with HTTP Basic credentials.

    POST /webhooks/pipedrive
    Authorization: Basic <base64 of RELAY_PIPEDRIVE_BASIC_AUTH, "user:password">
    {"meta": {"id": "0fd6…", "action": "change", "entity": "organization", "entity_id": "42",
              "timestamp": "2025-03-01T10:00:00.000Z", "version": "2.0", …},
     "data": {"id": 42, "name": "Acme", "address": {"locality": "Boston", …},
              "custom_fields": {"<key>": {"type": "varchar", "value": "Gold"}}, …},
     "previous": {"name": "Acme Inc"}}

Pipedrive signs nothing: the credentials configured on the webhook are the proof (over TLS),
compared in constant time.

    organization  customer fields   customer crm_record pipedrive:organization:<id>
    person        primary_contact   customer crm_record pipedrive:person:<id>
    other entities, and deletes: recorded, ignored

`change` maps only what `previous` holds (what changed); `create` (previous null) maps every
field present. Custom field values arrive as `{type, value}`; mapping files name them
`custom_fields.<key>` and get the value. Ids arrive as strings or numbers, timestamps as ISO
8601 or epoch numbers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from itertools import islice
from typing import Any

from starlette.responses import JSONResponse, Response

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature, WebhookError
from relay.mapping.values import epoch_ms, leaf_paths
from relay.sources.base import CrmSource, decode_utf8, parse_json_object
from relay.sources.limits import MAX_ENTRIES, check_entries

ENTITIES = ("organization", "person")
ACTIONS = ("create", "change", "delete")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# Record keys that are Pipedrive's bookkeeping, or address parts ChartMogul has no field for:
# never reported as unmapped.
_BOOKKEEPING = frozenset(
    {"id", "add_time", "update_time", "is_deleted", "visible_to", "company_id", "picture_id"}
    | {"label_ids", "org_id", "creator_user_id"}
    | {f"address.{part}" for part in ("value", "street_number", "route", "sublocality", "subpremise")}
    | {f"address.{part}" for part in ("admin_area_level_2", "formatted_address")}
)


def _text_id(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidEvent(f"{what} must be a string or a number")
    text = str(value).strip()
    if not text or len(text) > 100 or not set(text) <= _ID_CHARS:
        raise InvalidEvent(f"{what} {text[:40]!r} is not an id")
    return text


def _custom_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with each custom field's `{type, value}` replaced by its value."""
    custom = record.get("custom_fields")
    if not isinstance(custom, Mapping):
        return dict(record)
    unwrapped = {
        key: value["value"] if isinstance(value, Mapping) and "value" in value else value
        for key, value in custom.items()
    }
    return {**record, "custom_fields": unwrapped}


class PipedriveSource(CrmSource):
    name = "pipedrive"
    header_names = frozenset({"authorization"})

    def verify(self, webhook: IncomingWebhook) -> None:
        expected = self.secret_value().encode()
        scheme, _, encoded = webhook.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise InvalidSignature("missing HTTP Basic credentials (set them on the Pipedrive webhook)")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSignature("the HTTP Basic credentials are not valid base64") from None
        if not hmac.compare_digest(expected, given):
            raise InvalidSignature("wrong HTTP Basic credentials")

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        return [self.remap(decode_utf8(webhook.body))]

    def remap(self, raw: str) -> ParsedEvent:
        doc = parse_json_object(raw)
        meta = doc.get("meta")
        if not isinstance(meta, dict):
            if "current" in doc:
                raise InvalidEvent("this is a webhooks v1 body; create the Pipedrive webhook as version 2.0")
            raise InvalidEvent("meta: missing (a Pipedrive webhooks v2 body has meta, data, previous)")
        version = str(meta.get("version", "2.0"))
        if not version.startswith("2"):
            raise InvalidEvent(f"meta.version {version[:10]!r}: only Pipedrive webhooks v2 are supported")
        event_id = f"pipedrive:{_text_id(meta.get('id'), 'meta.id')}"
        action, entity = meta.get("action"), meta.get("entity")
        if not isinstance(action, str) or not isinstance(entity, str):
            raise InvalidEvent("meta.action and meta.entity must be strings")
        if not (0 < len(entity) <= 40 and set(entity) <= _ID_CHARS):
            raise InvalidEvent(f"meta.entity {entity[:40]!r} is not an entity name")
        data, previous = doc.get("data"), doc.get("previous")
        if data is not None and not isinstance(data, dict):
            raise InvalidEvent("data must be an object or null")
        if previous is not None and not isinstance(previous, dict):
            raise InvalidEvent("previous must be an object or null")
        raw_id = meta.get("entity_id", (data or {}).get("id"))
        entity_id = _text_id(raw_id, "meta.entity_id")
        field = "meta.timestamp" if "timestamp" in meta else "data.update_time"
        occurred = meta.get("timestamp", (data or {}).get("update_time"))
        occurred_at_ms = self.event_time(epoch_ms(occurred), field, occurred)
        crm_record = f"pipedrive:{entity}:{entity_id}"

        reason: str | None = None
        if entity not in ENTITIES:
            reason = f"{entity} events are not mapped (only organizations and persons are)"
        elif action not in ACTIONS:
            reason = f"action {action[:20]!r} is not mapped"
        elif action == "delete" or data is None:
            reason = f"{entity}.{action} is recorded but not mapped (deletes never delete customers)"
        if reason is not None or data is None:
            return self.ignored(
                event_id=event_id,
                occurred_at_ms=occurred_at_ms,
                crm_record=crm_record,
                raw=raw,
                reason=reason or "no data",
            )
        record = _custom_values(data)
        before = _custom_values(previous) if previous is not None else None
        changed = None
        if before is not None:  # each changed field is matched against each mapped one: bound them
            changed = list(islice(leaf_paths(before), MAX_ENTRIES + 1))
            check_entries(len(changed), "previous", "changed fields")
        return self.mapped(
            entity,
            record,
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            changed=changed,
            previous=before,
            not_properties=_BOOKKEEPING,
        )

    def error_response(self, error: WebhookError) -> Response | None:
        if isinstance(error, InvalidSignature):
            return JSONResponse(
                {"error": error.message},
                status_code=error.status_code,
                headers={"WWW-Authenticate": 'Basic realm="chartmogul-relay", charset="UTF-8"'},
            )
        return None
