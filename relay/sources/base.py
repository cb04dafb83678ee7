"""What every source shares: the verify → parse → remap shape, its secret, the timestamp window,
and (for a CRM with a mapping file) turning a record into a mapped, an ignored or an invalid event.

A CRM module keeps only what is its own: how its signature is checked, how its payload reads, how
its records are named (`CrmRecords`), its merges and its records' parents.

Once a CRM's request is verified and parsed within the limits, nothing in it is refused: a CRM
does not send a body again because we said 4xx (HubSpot workflows never retry one, Pipedrive
bans a webhook that keeps failing), so an event the relay cannot read becomes a dead letter
`invalid_event` holding its payload, and its neighbours are accepted.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar, Self

import orjson
from pydantic import SecretStr
from starlette.responses import Response

from relay.changes import CustomerChange, CustomerRef
from relay.crms import BY_NAME
from relay.events import NO_PARENTS, IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature, MalformedPayload, WebhookError
from relay.mapping.apply import ignored_event, map_record, mapped_event
from relay.mapping.config import SourceMapping, load_mapping
from relay.settings import Settings
from relay.sources.limits import check_json, within_limits_by_size
from relay.sources.records import CrmRecords

# The earliest event time accepted: no CRM event predates it; an older one is a wrong unit or
# a zero, and would sort before every real change of its customer.
EARLIEST_EVENT_MS = 946_684_800_000  # 2000-01-01T00:00:00Z


class WebhookSource:
    """Base class; subclasses set `name` (as relay/crms.py declares it), `verify` and `parse`."""

    name: ClassVar[str] = ""
    # The request headers `verify` reads (lower-case names): the web app copies only these into
    # IncomingWebhook.headers (None: every header).
    header_names: ClassVar[frozenset[str] | None] = None
    # Whether the signature covers the URL: only then does the web app build it (else "").
    signs_url: ClassVar[bool] = False

    def __init__(
        self, secret: SecretStr | None = None, *, tolerance_s: int = 300, max_clock_skew_s: int = 300
    ) -> None:
        # `header_names` as ASGI delivers them (latin-1 bytes): matched without decoding each.
        names = self.header_names
        self.header_names_raw = None if names is None else frozenset(n.encode("latin-1") for n in names)
        self.secret = secret
        self.tolerance_s = tolerance_s
        # How far ahead of our clock a CRM's time may be (its clock may run fast); further is
        # a wrong value, which would win over every real change of its field for a week.
        self.max_clock_skew_s = max_clock_skew_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            settings.source_secret(cls.name),
            tolerance_s=settings.signature_tolerance_s,
            max_clock_skew_s=settings.max_clock_skew_s,
        )

    def accepts_path(self, token: str | None) -> bool:
        """Whether `/webhooks/<name>/<token>` (or, token None, `/webhooks/<name>`) is this
        source's endpoint; other paths answer 404 as an unknown source does."""
        return token is None

    def verify_and_parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        """What the web app runs for a request (in a thread when the body is large)."""
        self.verify(webhook)
        return self.parse(webhook)

    def verify(self, webhook: IncomingWebhook) -> None:
        """Raise InvalidSignature unless the request comes from the CRM."""
        raise NotImplementedError

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        """Raise MalformedPayload / InvalidEvent for bad input."""
        raise NotImplementedError

    def remap(self, raw: str) -> ParsedEvent:
        """Map one stored event (its `raw`) again through the current mapping, for replay."""
        raise NotImplementedError

    def accepted_response(self, events: Sequence[ParsedEvent], duplicates: int) -> Response | None:
        """The answer once the events are durable; None for the default JSON answer."""
        return None

    def error_response(self, error: WebhookError) -> Response | None:
        """The answer to a refused request; None for the default JSON error."""
        return None

    # --- for subclasses ---------------------------------------------------------------------

    def secret_value(self, *, strip: bool = False) -> str:
        """The configured secret (`strip`: without surrounding blanks); refuses every request
        while it is not set."""
        value = self.secret.get_secret_value() if self.secret is not None else ""
        if strip:
            value = value.strip()
        if not value:
            raise InvalidSignature(f"the {BY_NAME[self.name].secret_label} is not configured")
        return value

    def check_timestamp(self, sent_at_s: float, header: str, now_s: float) -> None:
        """A signed timestamp older than the tolerance is a captured request played again."""
        age_s = now_s - sent_at_s
        if age_s > self.tolerance_s:
            raise InvalidSignature(f"{header} is too old ({int(age_s)} s)")
        if age_s < -self.max_clock_skew_s:
            raise InvalidSignature(f"{header} is in the future")

    @staticmethod
    def now_ms() -> int:
        """The time of receipt, for an event that carries no time of its own."""
        return int(time.time() * 1000)

    def event_time(self, ms: int | None, field: str, value: object) -> int:
        """A CRM's event time (ms) checked against the sane window: not before 2000-01-01, not
        more than RELAY_MAX_CLOCK_SKEW_S ahead of our clock; a 422 naming `field` otherwise."""
        if ms is None:
            raise InvalidEvent(f"{field} {str(value)[:40]!r} is not a time")
        if ms < EARLIEST_EVENT_MS:
            raise InvalidEvent(f"{field} {str(value)[:40]!r} is before 2000-01-01")
        if ms > time.time() * 1000 + self.max_clock_skew_s * 1000:
            ahead = f"is more than {self.max_clock_skew_s} s ahead of the relay's clock"
            raise InvalidEvent(f"{field} {str(value)[:40]!r} {ahead}")
        return ms


class CrmSource(WebhookSource):
    """A CRM whose records a mapping file turns into changes."""

    records: ClassVar[CrmRecords]  # how its records are named and read (its own module says)

    def __init__(
        self,
        mapping: SourceMapping,
        secret: SecretStr | None = None,
        *,
        tolerance_s: int = 300,
        max_clock_skew_s: int = 300,
    ) -> None:
        super().__init__(secret, tolerance_s=tolerance_s, max_clock_skew_s=max_clock_skew_s)
        self.mapping = mapping

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        # A broken mapping file stops start-up here (MappingError), not at the first webhook.
        return cls(
            load_mapping(cls.name, settings.mapping_dir),
            settings.source_secret(cls.name),
            tolerance_s=settings.signature_tolerance_s,
            max_clock_skew_s=settings.max_clock_skew_s,
        )

    def mapped(
        self,
        object_type: str,
        record: Mapping[str, Any],
        *,
        event_id: str,
        occurred_at_ms: int,
        crm_record: str,
        raw: str,
        changed: Collection[str] | None = None,
        previous: Mapping[str, Any] | None = None,
        not_properties: Collection[str] = (),
        parents: Mapping[str, str] = NO_PARENTS,
        merged_records: Sequence[str] = (),
    ) -> ParsedEvent:
        """The event `record` makes through the mapping (ignored when it changes nothing)."""
        mapped = map_record(
            self.mapping,
            object_type,
            record,
            changed=changed,
            previous=previous,
            not_properties=not_properties,
        )
        return mapped_event(
            self.mapping,
            mapped,
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            parents=parents,
            merged_records=merged_records,
            object_type=object_type,
        )

    def ignored(
        self,
        *,
        event_id: str,
        occurred_at_ms: int,
        crm_record: str,
        raw: str,
        reason: str,
        parents: Mapping[str, str] = NO_PARENTS,
    ) -> ParsedEvent:
        """An event recorded but not delivered (a deletion, an object type no mapping covers);
        `parents` it proves all the same (an association)."""
        event = ignored_event(
            self.name,
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            reason=reason,
        )
        return event if not parents else ParsedEvent(event.change, raw, reason, parents=parents)

    def merge(
        self, *, event_id: str, occurred_at_ms: int, crm_record: str, merged: Sequence[str], raw: str
    ) -> ParsedEvent:
        """`merged` records are now `crm_record`: queued, so that a worker moves their links
        (workers/merges.py) in order with the record's other events."""
        change = CustomerChange(
            event_id=event_id,
            source=self.name,
            occurred_at_ms=occurred_at_ms,
            customer=CustomerRef(crm_record=crm_record),
            merged_records=list(merged),
        )
        return ParsedEvent(change=change, raw=raw)

    def read_or_dead_letter(
        self,
        read: Callable[[], ParsedEvent],
        raw: str,
        *,
        where: str = "",
        crm_record: str | None = None,
        identity: bytes | None = None,
    ) -> ParsedEvent:
        """The event `read()` makes; when it cannot be read (InvalidEvent short of a limit, which
        refuses the whole request), a dead letter holding `raw`, its problem prefixed `where`."""
        try:
            return read()
        except InvalidEvent as exc:
            if exc.limit:
                raise
            return self.invalid(raw, where + exc.message, crm_record=crm_record, identity=identity)

    def parse_json_event(
        self, webhook: IncomingWebhook, read: Callable[[object, str], ParsedEvent]
    ) -> list[ParsedEvent]:
        """A one-event JSON body: 400 when it is not JSON, a limit's 422, else `read(doc, raw)`'s
        event or a dead letter holding the body."""
        raw = decode_utf8(webhook.body)
        doc = parse_json(raw)
        return [self.read_or_dead_letter(lambda: read(doc, raw), raw)]

    def invalid(
        self, raw: str, problem: str, *, crm_record: str | None = None, identity: bytes | None = None
    ) -> ParsedEvent:
        """An event the relay cannot read: a dead letter `invalid_event` from the start, holding
        its payload. Its id is the digest of its content (`identity`: what stays the same when
        the CRM sends it again; else `raw`), so the CRM's retry is its duplicate."""
        digest = hashlib.blake2b(identity or raw.encode(), digest_size=8).hexdigest()
        change = CustomerChange(
            event_id=f"{self.name}:invalid-{digest}",
            source=self.name,
            occurred_at_ms=self.now_ms(),
            customer=CustomerRef(crm_record=crm_record or self.records.key("invalid", digest)),
        )
        return ParsedEvent(change=change, raw=raw, invalid=problem)


def content_digest(content: bytes) -> str:
    """A short digest that tells one content from another within one CRM id (8 hex digits):
    HubSpot's eventId is not unique, so its events are named by eventId and this."""
    return "%08x" % zlib.crc32(content)  # noqa: UP031 (an f-string's formatting costs half again)


def decode_utf8(body: bytes) -> str:
    """The body as text: a 400 when it is not UTF-8 (never a U+FFFD stored in place of what
    the CRM signed)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"body is not valid UTF-8 (byte {exc.start})") from None


def parse_json(raw: str | bytes, *, what: str = "body") -> Any:
    """JSON from a CRM: a 400 naming the problem when it is not JSON at all."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"{what} is not valid JSON: {exc}") from None
    if not within_limits_by_size(raw):  # most webhooks: no walk needed
        check_json(doc, what=what)
    return doc


def parse_json_object(raw: str | bytes, *, what: str = "body") -> dict[str, Any]:
    """A JSON object from a CRM: 400 when it is not JSON, 422 when it is not an object."""
    doc = parse_json(raw, what=what)
    if not isinstance(doc, dict):
        raise InvalidEvent(f"{what} must be a JSON object")
    return doc
