"""HubSpot's source: signatures v3/v2/v1, then a Webhooks API batch or a workflow body.

    POST /webhooks/hubspot
    X-HubSpot-Signature-v3: <base64 HMAC-SHA256(secret, method + uri + body + timestamp)>
    X-HubSpot-Request-Timestamp: <epoch milliseconds>

Older apps (and workflows) sign with v1 (`X-HubSpot-Signature` = hex SHA-256 of secret + body)
or v2 (hex SHA-256 of secret + method + uri + body), named by `X-HubSpot-Signature-Version`;
all are accepted, v3 preferred when present. v3's timestamp must be within the tolerance.

Once verified, a body is refused (4xx) only when it is not JSON, breaks a limit (more than 100
events, too deep, too large) or is an empty batch. Every event of a batch is accepted, ignored
with a reason or dead-lettered (`invalid_event`, its payload kept) on its own: one odd event
never sinks its neighbours, which HubSpot would send again for 24 hours and then drop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import unquote

import orjson

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature
from relay.mapping.plan import PropertyPlans
from relay.sources.base import CrmSource, parse_json
from relay.sources.hubspot.events import api_event, content_of
from relay.sources.hubspot.records import ID, RECORDS
from relay.sources.hubspot.workflow import is_workflow_body, workflow_events

MAX_BATCH_EVENTS = 100


class HubSpotSource(CrmSource):
    name = "hubspot"
    records = RECORDS
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
        doc = parse_json(webhook.body)
        if isinstance(doc, list):
            return self._batch(doc)
        return self._body(doc, webhook)

    def _body(self, doc: Any, webhook: IncomingWebhook) -> list[ParsedEvent]:
        """A workflow body, or one dead letter holding whatever else was sent."""
        text = webhook.body.decode()
        if not (isinstance(doc, dict) and is_workflow_body(doc)):
            return [
                self.invalid(text, "not a JSON array of HubSpot events, nor a workflow body with properties")
            ]
        try:
            return workflow_events(self, self._plans(), doc)
        except InvalidEvent as exc:
            if exc.limit:
                raise
            return [self.invalid(text, f"workflow body: {exc.message}")]

    def _batch(self, batch: list[Any]) -> list[ParsedEvent]:
        if not batch:
            raise InvalidEvent("the batch holds no events")
        if len(batch) > MAX_BATCH_EVENTS:
            raise InvalidEvent(
                f"a batch holds at most {MAX_BATCH_EVENTS} events, this one {len(batch)}", limit=True
            )
        plans = self._plans()
        events = []
        for index, doc in enumerate(batch):
            try:
                events.append(api_event(self, plans, doc))
            except InvalidEvent as exc:
                if exc.limit:
                    raise
                events.append(self._invalid_event(doc, f"event [{index}] of its batch: {exc.message}"))
        return events

    def _invalid_event(self, doc: object, problem: str) -> ParsedEvent:
        """A dead letter for an event of a batch, named by its content without attemptNumber
        (HubSpot's retry of it is its duplicate)."""
        if not isinstance(doc, dict):
            raw = orjson.dumps(doc).decode()
            return self.invalid(raw, problem)
        raw = orjson.dumps(doc).decode()  # as sent: a dead letter keeps all of it
        return self.invalid(raw, problem, crm_record=_readable_record(doc), identity=content_of(doc))

    def remap(self, raw: str) -> ParsedEvent:
        doc = parse_json(raw, what="stored event")
        if isinstance(doc, dict) and is_workflow_body(doc):
            events = workflow_events(self, self._plans(), doc, grouped=False)
            return next((e for e in events if not e.change.merged_records), events[0])
        return api_event(self, self._plans(), doc)


def _readable_record(doc: dict[str, Any]) -> str | None:
    """The record an unreadable event seems to name, for the event log; None if none."""
    kind = str(doc.get("subscriptionType") or doc.get("eventType") or "")
    object_name = RECORDS.object_name(kind.partition(".")[0])
    object_id = doc.get("objectId")
    if (
        isinstance(object_id, bool)
        or not isinstance(object_id, int | str)
        or not ID.fullmatch(str(object_id))
    ):
        return None
    return RECORDS.key(object_name, str(object_id))
