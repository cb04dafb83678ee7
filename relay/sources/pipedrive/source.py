"""Pipedrive's source: HTTP Basic credentials, then one event per request (webhooks v2, or v1
translated to v2 by relay/sources/pipedrive/v1.py).

    POST /webhooks/pipedrive
    Authorization: Basic <base64 of RELAY_PIPEDRIVE_BASIC_AUTH, "user:password">
    {"meta": {"id": "0fd6…", "action": "change", "entity": "organization", "entity_id": "42",
              "timestamp": "2025-03-01T10:00:00.000Z", "version": "2.0", …},
     "data": {"id": 42, "name": "Acme", "address": {"locality": "Boston", …},
              "custom_fields": {"<key>": {"type": "varchar", "value": "Gold"}}, …},
     "previous": {"name": "Acme Inc"}}

Pipedrive signs nothing: the credentials configured on the webhook are the proof (over TLS),
compared in constant time.

    organization  customer fields   customer pipedrive:organization:<id>
    person        primary_contact   customer pipedrive:person:<id>; its org_id is its parent
    delete with meta.merged_to_id, change with meta.merged_from_id: a merge (links follow)
    other entities, and other deletes: recorded, ignored

`change` maps only what `previous` holds (what changed); `create` (previous null) maps every
field present. Custom field values arrive as `{type, value}`; mapping files name them
`custom_fields.<key>` and get the value. Ids arrive as strings or numbers, timestamps as ISO
8601 or epoch numbers. A verified body that is JSON within the limits is never refused: one the
relay cannot read is a dead letter `invalid_event` holding it (Pipedrive bans a webhook that
keeps failing, and loses the events sent meanwhile).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from itertools import islice
from typing import Any

from starlette.responses import JSONResponse, Response

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature, WebhookError
from relay.logs import get_logger
from relay.mapping.values import epoch_ms, leaf_paths
from relay.sources.base import CrmSource, parse_json_object
from relay.sources.limits import MAX_ENTRIES, check_entries
from relay.sources.pipedrive import v1
from relay.sources.pipedrive.records import ENTITIES, RECORDS, entity_name, parents, text_id

log = get_logger("relay.sources")

ACTIONS = ("create", "change", "delete")
V1_WARNING_EVERY_S = 60.0
# Record keys that are Pipedrive's bookkeeping, or address parts ChartMogul has no field for:
# never reported as unmapped.
_BOOKKEEPING = frozenset(
    {"id", "add_time", "update_time", "is_deleted", "visible_to", "company_id", "picture_id"}
    | {"label_ids", "org_id", "creator_user_id"}
    | {f"address.{part}" for part in ("value", "street_number", "route", "sublocality", "subpremise")}
    | {f"address.{part}" for part in ("admin_area_level_2", "formatted_address")}
)


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
    records = RECORDS
    header_names = frozenset({"authorization"})
    _v1_warned_at = float("-inf")

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
        return self.parse_json_event(webhook, self._received)

    def _received(self, doc: object, raw: str) -> ParsedEvent:
        if isinstance(doc, dict) and v1.is_v1(doc):
            self._warn_v1(doc)
        return self._event(doc, raw)

    def remap(self, raw: str) -> ParsedEvent:
        return self._event(parse_json_object(raw), raw)

    def _warn_v1(self, doc: dict[str, Any]) -> None:
        """At most one line a minute: every v1 body is accepted, but v2 is what to run."""
        now = time.monotonic()
        if now - self._v1_warned_at < V1_WARNING_EVERY_S:
            return
        self._v1_warned_at = now
        meta = doc.get("meta")
        log.warning(
            "pipedrive_webhooks_v1",
            webhook_id=str(meta.get("webhook_id")) if isinstance(meta, dict) else None,
            hint="this Pipedrive webhook sends webhooks v1 (accepted and translated); "
            "create it again with version 2.0, which Pipedrive recommends and will keep",
        )

    def _event(self, doc: object, raw: str) -> ParsedEvent:
        if not isinstance(doc, dict):
            raise InvalidEvent("body must be a JSON object")
        if v1.is_v1(doc):
            doc = v1.as_v2(doc)
        meta = doc.get("meta")
        if not isinstance(meta, dict):
            raise InvalidEvent("meta: missing (a Pipedrive webhooks v2 body has meta, data, previous)")
        version = str(meta.get("version", "2.0"))
        if not version.startswith(("1", "2")):
            raise InvalidEvent(f"meta.version {version[:10]!r}: Pipedrive webhooks v1 and v2 are read")
        event_id = f"pipedrive:{text_id(meta.get('id'), 'meta.id')}"
        action, entity = meta.get("action"), meta.get("entity")
        if not isinstance(action, str) or not isinstance(entity, str):
            raise InvalidEvent("meta.action and meta.entity must be strings")
        entity = entity_name(entity)
        data, previous = doc.get("data"), doc.get("previous")
        if data is not None and not isinstance(data, dict):
            raise InvalidEvent("data must be an object or null")
        if previous is not None and not isinstance(previous, dict):
            raise InvalidEvent("previous must be an object or null")
        entity_id = text_id(meta.get("entity_id", (data or {}).get("id")), "meta.entity_id")
        field = "meta.timestamp" if "timestamp" in meta else "data.update_time"
        occurred = meta.get("timestamp", (data or {}).get("update_time"))
        occurred_at_ms = self.event_time(epoch_ms(occurred), field, occurred)
        crm_record = RECORDS.key(entity, entity_id)
        mapped = entity in ENTITIES
        merged_to = meta.get("merged_to_id")
        if action == "delete" and merged_to is not None and mapped:
            return self.merge(
                event_id=event_id,
                occurred_at_ms=occurred_at_ms,
                crm_record=RECORDS.key(entity, text_id(merged_to, "meta.merged_to_id")),
                merged=[crm_record],
                raw=raw,
            )
        reason: str | None = None
        if not mapped:
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
        merged_from = meta.get("merged_from_id")
        merged = [RECORDS.key(entity, text_id(merged_from, "meta.merged_from_id"))] if merged_from else []
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
            parents=parents(entity, entity_id, data, previous),
            merged_records=merged,
        )

    def error_response(self, error: WebhookError) -> Response | None:
        if isinstance(error, InvalidSignature):
            return JSONResponse(
                {"error": error.message},
                status_code=error.status_code,
                headers={"WWW-Authenticate": 'Basic realm="chartmogul-relay", charset="UTF-8"'},
            )
        return None
