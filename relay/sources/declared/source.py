"""A declared source at work: its sender's proof checked, then one event (a JSON object) or a
JSON array of them, each read by the paths its [source] table names and mapped by its rules.

    one object   an event the relay cannot read (no event id, time or record id at its path, a
                 time outside the window) is refused, 422 naming the path: the sender shows it
                 where its set-up is tried (Flow's fault path, Zapier's and Make's run history)
    an array     each event has its own outcome, as a CRM's batch: accepted, ignored, or a dead
                 letter `invalid_event` holding it; only an empty array, more than 100 events,
                 a broken limit, a bad secret or a body that is not JSON refuse the request

An event whose object type has no [objects.<type>] table is recorded, ignored, with the reason.
Event ids are `<name>:<the sender's id>` (its values joined with "/" when event_id lists
several paths); records are `<name>:<object type, lower-case>:<id>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, ClassVar

import orjson
from starlette.responses import JSONResponse, Response

from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import InvalidEvent, InvalidSignature, WebhookError
from relay.mapping.values import MISSING, epoch_ms, lookup
from relay.sources.base import CrmSource, decode_utf8, parse_json
from relay.sources.declared import auth
from relay.sources.declared.spec import OBJECT, SourceSpec
from relay.sources.records import CrmRecords, json_object

MAX_EVENTS = 100
MAX_ID_CHARS = 200
# A record id is part of a record key: no ':' (the key's separator), no blanks.
_RECORD_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@+")
# The relay names its own dead letters `<name>:invalid-<digest>`: no sender's id may look so.
_RESERVED_ID = "invalid-"
_CHALLENGES = {"bearer": 'Bearer realm="chartmogul-relay"', "basic": 'Basic realm="chartmogul-relay"'}


@dataclass(frozen=True)
class DeclaredRecords(CrmRecords):
    """Records of a declared source: object types lower-cased in keys, as the built-ins write
    theirs (`relay links import zoho,accounts:4876…,cus_…` finds what events name)."""

    def key(self, object_name: str, record_id: str) -> str:
        return super().key(object_name.lower(), record_id)

    def from_api(self, doc: Any) -> tuple[str, dict[str, Any]]:
        """A record of a JSON export is an event as the sender posts it: its id at `record_id`'s
        path, the mapping's paths into it."""
        properties = dict(json_object(doc))
        found = lookup(properties, self.id_property)
        return self.record_id(None if found is MISSING else found), properties


class DeclaredSource(CrmSource):
    """The class of one declared source is made by `declared_class` (its name and records are
    class attributes, as every source's are)."""

    spec: ClassVar[SourceSpec]
    # Top-level keys the source reads for itself: never "not mapped" notes.
    own_keys: ClassVar[frozenset[str]]

    @cached_property
    def _secret(self) -> bytes:
        return self.secret.get_secret_value().encode() if self.secret is not None else b""

    def verify(self, webhook: IncomingWebhook) -> None:
        if not self._secret:  # (never enabled without one; `relay map explain` has none)
            raise InvalidSignature(f"the secret of source {self.name!r} is not configured")
        auth.verify(self.spec.auth, webhook.headers, webhook.body, self._secret)

    def sender_headers(self, body: bytes) -> dict[str, str]:
        """The headers this source's sender sends with `body` (its configured secret)."""
        return auth.sender_headers(self.spec.auth, body, self._secret.decode())

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        raw = decode_utf8(webhook.body)
        doc = parse_json(raw)
        if isinstance(doc, dict):
            return [self._event(doc, raw)]  # what it cannot read is the sender's 422
        if not isinstance(doc, list):
            raise InvalidEvent("body must be a JSON object (one event) or a JSON array of events")
        if not doc:
            raise InvalidEvent("the array holds no events")
        if len(doc) > MAX_EVENTS:
            raise InvalidEvent(f"an array holds at most {MAX_EVENTS} events, this one {len(doc)}", limit=True)
        events = []
        for index, item in enumerate(doc):
            one = orjson.dumps(item).decode()
            where = f"event [{index}]: "
            events.append(self.read_or_dead_letter(partial(self._event, item, one), one, where=where))
        return events

    def remap(self, raw: str) -> ParsedEvent:
        return self._event(parse_json(raw, what="stored event"), raw)

    def error_response(self, error: WebhookError) -> Response | None:
        challenge = _CHALLENGES.get(self.spec.auth.kind)
        if isinstance(error, InvalidSignature) and challenge is not None:
            return JSONResponse(
                {"error": error.message},
                status_code=error.status_code,
                headers={"WWW-Authenticate": challenge},
            )
        return None

    def _event(self, doc: object, raw: str) -> ParsedEvent:
        if not isinstance(doc, dict):
            raise InvalidEvent("an event must be a JSON object")
        spec = self.spec
        event_id = f"{self.name}:{'/'.join(_text(doc, path, 'event_id') for path in spec.event_id)}"
        if len(event_id) > len(self.name) + 1 + MAX_ID_CHARS:
            paths = ", ".join(spec.event_id)
            raise InvalidEvent(f"event_id: {paths} make more than {MAX_ID_CHARS} characters")
        if event_id.startswith(f"{self.name}:{_RESERVED_ID}"):
            raise InvalidEvent(f"event_id: ids starting with {_RESERVED_ID!r} are the relay's own")
        occurred = _value(doc, spec.occurred_at, "occurred_at")
        occurred_at_ms = self.event_time(epoch_ms(occurred), spec.occurred_at, occurred)
        record_id = _record_id(doc, spec.record_id)
        object_type = spec.object or _object_type(doc, spec.object_path or "")
        crm_record = self.records.key(object_type if OBJECT.fullmatch(object_type) else "unknown", record_id)
        if object_type not in self.mapping.objects:
            mapped = ", ".join(self.mapping.objects) or "none"
            return self.ignored(
                event_id=event_id,
                occurred_at_ms=occurred_at_ms,
                crm_record=crm_record,
                raw=raw,
                reason=f"{object_type[:40]!r} records are not mapped (the file maps: {mapped})",
            )
        return self.mapped(
            object_type,
            doc,
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            not_properties=self.own_keys,
            parents=self._parents(object_type, crm_record, doc),
        )

    def _parents(self, object_type: str, crm_record: str, doc: Mapping[str, Any]) -> dict[str, str]:
        """{record: its parent's record} when the event names it ("" when it names none now)."""
        parent = self.spec.parents.get(object_type)
        if parent is None:
            return {}
        value = lookup(doc, parent.id_path)
        if value is MISSING:
            return {}
        if value is None or value == "":
            return {crm_record: ""}
        parent_id = _record_id(doc, parent.id_path, f"parents.{object_type}")
        return {crm_record: self.records.key(parent.object, parent_id)}


def declared_class(spec: SourceSpec, records: DeclaredRecords) -> type[DeclaredSource]:
    """The DeclaredSource subclass of `spec`'s source."""

    class Declared(DeclaredSource):
        name = spec.name
        header_names = frozenset({spec.auth.header})

    Declared.spec = spec
    Declared.own_keys = frozenset(path.partition(".")[0] for path in spec.paths)
    Declared.records = records
    Declared.__qualname__ = Declared.__name__ = f"DeclaredSource[{spec.name}]"
    return Declared


def _value(doc: Mapping[str, Any], path: str, key: str) -> Any:
    value = lookup(doc, path)
    if value is MISSING or value is None or value == "":
        raise InvalidEvent(f"{key}: nothing at {path!r}")
    return value


def _text(doc: Mapping[str, Any], path: str, key: str) -> str:
    value = _value(doc, path, key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidEvent(f"{key}: {path!r} must be a string or a whole number, not {type(value).__name__}")
    text = str(value).strip()
    if not text or not text.isprintable():
        raise InvalidEvent(f"{key}: {path!r} holds no usable text")
    return text


def _record_id(doc: Mapping[str, Any], path: str, key: str = "record_id") -> str:
    text = _text(doc, path, key)
    if len(text) > 100 or not set(text) <= _RECORD_ID_CHARS:
        raise InvalidEvent(f"{key}: {path!r} holds {text[:40]!r}, not an id (letters, digits, _-.@+)")
    return text


def _object_type(doc: Mapping[str, Any], path: str) -> str:
    value = _value(doc, path, "object_path")
    if not isinstance(value, str):
        raise InvalidEvent(f"object_path: {path!r} must be a string")
    return value.strip()
