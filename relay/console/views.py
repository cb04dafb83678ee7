"""An event record as the console shows it: the fields a change touches, what the CRM sent
(pretty, secrets masked), the calls sent with ChartMogul's answers, and what ChartMogul kept
of what was sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from relay.store import DeadLetterReason, EventRecord, EventStatus

MASK = "[hidden]"
# Keys whose values are credentials wherever a CRM puts them (a payload is shown, never them).
SECRET_NAME = re.compile(
    r"secret|passw(or)?d|token|api[_-]?key|authorization|signature|session_?id|credential|private[_-]?key",
    re.IGNORECASE,
)
_XML_SECRET = re.compile(
    r"<((?:\w+:)?(?:SessionId|[\w:]*(?:Password|Secret|Token)[\w]*))(\s[^>]*)?>[^<]*</\1>", re.IGNORECASE
)
# The write calls delivery sends (workers/plan.py), as an operator reads them.
CALLS = {
    "patch": ("PATCH", "/v1/customers/{uuid}"),
    "tags_add": ("POST", "/v1/customers/{uuid}/attributes/tags"),
    "tags_remove": ("DELETE", "/v1/customers/{uuid}/attributes/tags"),
    "custom_set": ("PUT", "/v1/customers/{uuid}/attributes/custom"),
    "custom_remove": ("DELETE", "/v1/customers/{uuid}/attributes/custom"),
}
CALL_BODY_KEY = {"tags_add": "tags", "tags_remove": "tags", "custom_set": "custom", "custom_remove": "custom"}


def fields_touched(record: EventRecord) -> list[str]:
    """`city`, `+tag:vip`, `-tag:old`, `custom:CAC`, `-custom:X`: what the change writes."""
    change = record.change
    if change is None:
        return []
    touched = [key for key in change.field_keys() if not key.startswith(("tag:", "custom:"))]
    touched += [f"+tag:{t}" for t in change.tags_add] + [f"-tag:{t}" for t in change.tags_remove]
    touched += [f"custom:{k}" for k in change.custom_set] + [f"-custom:{k}" for k in change.custom_remove]
    return touched


def _masked(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {
            k: MASK if SECRET_NAME.search(str(k)) and v not in (None, "") else _masked(v)
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_masked(item) for item in doc]
    return doc


def payload(raw: str) -> tuple[str, str]:
    """(language, text) of what the CRM sent: JSON indented, XML as sent; credentials masked."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if raw.lstrip().startswith("<"):
            return "xml", _XML_SECRET.sub(
                lambda m: f"<{m.group(1)}{m.group(2) or ''}>{MASK}</{m.group(1)}>", raw
            )
        return "text", raw
    return "json", orjson.dumps(_masked(doc), option=orjson.OPT_INDENT_2).decode()


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    body: Any


def calls_sent(record: EventRecord) -> list[Call]:
    """The write calls delivery sent for the event (its last delivery), from the record's `patch`."""
    text = record.details.get("patch")
    if not text:
        return []
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(doc, dict):
        return []
    calls = doc if set(doc) <= set(CALLS) else {"patch": doc}  # a bare PATCH body (older records)
    uuid = record.customer
    return [
        Call(
            CALLS[kind][0],
            CALLS[kind][1].format(uuid=uuid),
            {CALL_BODY_KEY[kind]: body} if kind in CALL_BODY_KEY else body,
        )
        for kind, body in calls.items()
        if kind in CALLS and body
    ]


def never_sent(record: EventRecord) -> bool:
    """Dead before any call: its calls broke ChartMogul's contract and were never sent."""
    return record.details.get("reason") == DeadLetterReason.INVALID_CHANGE


def answers(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ChartMogul's answers, in time order: each failed attempt, and how the delivery ended."""
    shown = []
    for entry in history:
        what = entry.get("what")
        if what == "attempt":
            said = entry.get("error", "")
            shown.append({"at_ms": entry.get("at_ms"), "status": entry.get("status"), "said": said})
        elif what in (EventStatus.APPLIED, EventStatus.DEAD, EventStatus.STALE):
            said = entry.get("error") or entry.get("why") or ""
            if what == EventStatus.APPLIED:  # every call answered 2xx, every value sent kept
                what, said = "2xx", "applied: ChartMogul kept what was sent"
            if entry.get("reason") == DeadLetterReason.INVALID_CHANGE:
                what = "not sent: the relay's contract check"
            shown.append({"at_ms": entry.get("at_ms"), "status": what, "said": said})
    return shown


def change_shown(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The change without its empty parts (nulls, [], {}): what it actually says."""
    if doc is None:
        return None
    shown = {k: v for k, v in doc.items() if v not in (None, [], {})}
    if isinstance(shown.get("customer"), dict):
        shown["customer"] = {k: v for k, v in shown["customer"].items() if v is not None}
    return shown


@dataclass(frozen=True, slots=True)
class Kept:
    field: str
    sent: Any
    outcome: str  # kept | not kept | not sent yet
    detail: str = ""


def _sent_values(record: EventRecord) -> dict[str, Any]:
    change = record.change
    if change is None:
        return {}
    sent: dict[str, Any] = {}
    for name, value in change.fields.items():
        if name == "primary_contact" and isinstance(value, dict):
            sent.update({f"primary_contact.{k}": v for k, v in value.items()})
        else:
            sent[name] = value
    sent.update(
        {f"tag:{t}": "add" for t in change.tags_add} | {f"tag:{t}": "remove" for t in change.tags_remove}
    )
    sent.update({f"custom:{k}": v for k, v in change.custom_set.items()})
    sent.update({f"custom:{k}": "remove" for k in change.custom_remove})
    return sent


def kept_versus_sent(record: EventRecord) -> list[Kept]:
    """Field by field: what the change sent and whether ChartMogul kept it (once delivered)."""
    kept = {k for k in record.details.get("applied_fields", "").split(",") if k}
    missed = {
        part.partition(": sent ")[0].strip(): part.strip()  # workers/verify.py NotApplied
        for part in record.details.get("not_applied", "").split("; ")
        if part.strip()
    }
    delivered = record.status == EventStatus.APPLIED or bool(kept or missed)
    rows = []
    for name, value in _sent_values(record).items():
        if name in missed:
            rows.append(Kept(name, value, "not kept", missed[name]))
        elif name in kept:
            rows.append(Kept(name, value, "kept"))
        elif name.startswith("primary_contact.") and delivered:
            rows.append(Kept(name, value, "sent", "ChartMogul never shows a contact in a customer"))
        else:
            rows.append(Kept(name, value, "not kept" if delivered else "not sent yet"))
    return rows
