"""The generic source: our own canonical format, signed with Standard Webhooks.

    POST /webhooks/generic
    webhook-id: msg_…   webhook-timestamp: <unix seconds>   webhook-signature: v1,<base64>
    {"id": "evt_01", "occurred_at": "2026-11-20T10:00:00Z",
     "customer": {"uuid": "cus_…"},
     "set": {"city": "San Francisco", "primary_contact": {"first_name": "Anna"}},
     "tags": {"add": ["vip"], "remove": ["trial"]},
     "custom": {"set": {"CAC": 25}, "remove": ["channel"]}}

`customer` may instead be {"external_id": …, "data_source_uuid": "ds_…"} or {"email": …}; the
worker resolves those to a uuid. `set` uses ChartMogul's own field names; `id` is the
idempotency key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import (
    Annotated,
    Any,
    NotRequired,  # pydantic needs this TypedDict before 3.12
)

from pydantic import ConfigDict, SecretStr, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from relay.changes import CustomerChange, CustomerRef
from relay.crms import KNOWN_SOURCES
from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature
from relay.sources.base import WebhookSource, decode_utf8, parse_json_object

EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,200}$")]
CustomerUuid = Annotated[str, StringConstraints(pattern=r"^cus_[A-Za-z0-9\-]{1,64}$")]
Text = Annotated[str, StringConstraints(max_length=10_000)]


# The schema as TypedDicts validated by one TypeAdapter: the same checks and messages as
# models, at under half the cost (no model instance per object), and dicts to_change can use.
_STRICT = ConfigDict(extra="forbid")


@with_config(_STRICT)
class GenericCustomer(TypedDict, total=False):
    uuid: CustomerUuid | None
    external_id: Text | None
    data_source_uuid: Text | None
    email: Text | None


@with_config(_STRICT)
class PrimaryContact(TypedDict, total=False):
    first_name: Text | None
    last_name: Text | None
    email: Text | None
    title: Text | None
    phone: Text | None
    linked_in: Text | None
    twitter: Text | None
    notes: Text | None


@with_config(_STRICT)
class CustomerFields(TypedDict, total=False):
    name: Text | None
    email: Text | None
    company: Text | None
    lead_created_at: Text | None
    free_trial_started_at: Text | None
    zip: Text | None
    city: Text | None
    state: Text | None
    country: Text | None
    owner: Text | None
    status: Text | None
    website_url: Text | None
    primary_contact: PrimaryContact | None


@with_config(_STRICT)
class TagChanges(TypedDict, total=False):
    add: list[Text]
    remove: list[Text]


@with_config(_STRICT)
class CustomChanges(TypedDict, total=False):
    set: dict[str, Any]
    remove: list[Text]


@with_config(_STRICT)
class GenericEvent(TypedDict):
    id: EventId
    occurred_at: datetime
    customer: GenericCustomer
    set: NotRequired[CustomerFields]
    tags: NotRequired[TagChanges]
    custom: NotRequired[CustomChanges]


GENERIC_EVENT: TypeAdapter[GenericEvent] = TypeAdapter(GenericEvent)


def describe_validation_error(error: ValidationError) -> str:
    """`customer.uuid: String should match pattern …; set.colour: Extra inputs are not permitted`."""
    parts = []
    for problem in error.errors()[:5]:
        where = ".".join(str(p) for p in problem["loc"]) or "body"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


# A CRM event's id is "<source>:<its id>" ("close:ev_1"): a generic id that reads like one would
# name that event, and make the real one a duplicate. (A source declared by a file is added
# when the relay starts: GenericSource.refuse_ids_of.)
_OTHER_SOURCES = tuple(f"{name}:" for name in KNOWN_SOURCES if name != "generic")


def given(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that are not null (a JSON null sets nothing), in the order sent."""
    return {name: value for name, value in values.items() if value is not None}


def to_change(
    event: GenericEvent, source: str = "generic", refused: tuple[str, ...] = _OTHER_SOURCES
) -> CustomerChange:
    """`refused`: the id prefixes of other sources' events ("close:", …)."""
    event_id = event["id"]
    if event_id.startswith(refused):
        prefix = event_id.split(":", 1)[0]
        raise InvalidEvent(
            f"id: {event_id!r} reads as a {prefix} event's id; a generic id may not start with {prefix!r}:"
        )
    ref = CustomerRef(**given(event["customer"]))
    if not (ref.uuid or ref.external_id or ref.email):
        raise InvalidEvent("customer: give uuid, external_id (+ data_source_uuid) or email")
    occurred = event["occurred_at"]
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    fields = given(event.get("set", {}))
    contact = given(fields.pop("primary_contact", None) or {})
    if contact:
        fields["primary_contact"] = contact
    tags = event.get("tags", {})
    custom = event.get("custom", {})
    change = CustomerChange(
        event_id=event_id,
        source=source,
        occurred_at_ms=int(occurred.timestamp() * 1000),
        customer=ref,
        fields=fields,
        tags_add=tags.get("add", []),
        tags_remove=tags.get("remove", []),
        custom_set=custom.get("set", {}),
        custom_remove=custom.get("remove", []),
    )
    if change.is_empty:
        raise InvalidEvent("the event changes nothing: give at least one of set, tags, custom")
    return change


def signing_key(secret: SecretStr) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_` + base64 (padding optional), as
    the library and every sender decode it."""
    text = secret.get_secret_value().removeprefix("whsec_")
    return base64.b64decode(text + "==")


class GenericSource(WebhookSource):
    name = "generic"
    header_names = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})

    def __init__(
        self, secret: SecretStr | None = None, *, tolerance_s: int = 300, max_clock_skew_s: int = 300
    ) -> None:
        super().__init__(secret, tolerance_s=tolerance_s, max_clock_skew_s=max_clock_skew_s)
        self._key = signing_key(secret) if secret is not None else None
        self._refused = _OTHER_SOURCES

    def refuse_ids_of(self, names: tuple[str, ...]) -> None:
        """Refuse ids that read as the events of sources `names` (declared by a file) too."""
        self._refused = (*_OTHER_SOURCES, *(f"{name}:" for name in names))

    def verify(self, webhook: IncomingWebhook) -> None:
        """Standard Webhooks, checked here over the body's bytes (the library decodes the body
        as text first, and stops at the first malformed entry of the signature list)."""
        if not self._key:  # an empty key would let anyone sign
            self.secret_value()  # refuses: not configured
            raise InvalidSignature("the generic secret is not a Standard Webhooks secret")
        headers = webhook.headers
        msg_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "").strip()
        signatures = headers.get("webhook-signature", "")
        if not (msg_id and stamp and signatures):
            raise InvalidSignature(
                "invalid Standard Webhooks signature: missing webhook-id, webhook-timestamp "
                "or webhook-signature header"
            )
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) < 15):
            raise InvalidSignature("invalid Standard Webhooks signature: webhook-timestamp is not seconds")
        self.check_timestamp(int(stamp), "webhook-timestamp", time.time())
        # hmac.digest: the one-call C path (hmac.new builds a Python HMAC object per request).
        digest = hmac.digest(self._key, f"{msg_id}.{stamp}.".encode() + webhook.body, "sha256")
        expected = binascii.b2a_base64(digest, newline=False)
        # The spec: a space-separated list of `v1,<base64>`; any valid entry verifies, so a
        # malformed or unknown entry is skipped, not fatal (it may be a newer scheme).
        for entry in signatures.split(" "):
            version, comma, encoded = entry.partition(",")
            if version != "v1" or not comma:
                continue
            # Compared as base64 text, which senders write canonically: no decoding per entry.
            if hmac.compare_digest(expected, encoded.encode("latin-1")):
                return
        raise InvalidSignature("invalid Standard Webhooks signature: no matching signature found")

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        return [self.remap(decode_utf8(webhook.body))]

    def remap(self, raw: str) -> ParsedEvent:
        doc = parse_json_object(raw)
        try:
            event = GENERIC_EVENT.validate_python(doc)
        except ValidationError as exc:
            raise InvalidEvent(describe_validation_error(exc)) from None
        change = to_change(event, refused=self._refused)
        self.event_time(change.occurred_at_ms, "occurred_at", doc.get("occurred_at"))
        return ParsedEvent(change=change, raw=raw)
