"""A declared source's [source] table, read and checked: every problem named by file and key.

    [source]
    auth = "hmac-sha256"                 # bearer | header | basic | hmac-sha256
    signature_header = "X-Signature"     # hmac-sha256: the header holding the signature
    signature_encoding = "hex"           # hmac-sha256: hex | base64 ("sha256=" before it is fine)
    event_id = "event.id"                # or a list of paths: ["record.Id", "record.LastModifiedDate"]
    occurred_at = "event.time"
    record_id = "record.Id"
    object = "Account"                   # or object_path = "record.attributes.type"

    [source.parents]                     # optional: a record's parent, as the CRM says it
    Contact = { object = "Account", id = "record.AccountId" }

Paths are the mapping files' paths (relay/mapping/values.py): `record.Id`, `items.0.id`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from relay.crms import DECLARED_NAME, RESERVED_NAMES
from relay.mapping.rules import ProblemCounter, Report
from relay.mapping.tables import TOP_KEYS

AUTH_KINDS: Final = ("bearer", "header", "basic", "hmac-sha256")
ENCODINGS: Final = ("hex", "base64")
SOURCE_KEYS: Final = frozenset(
    {"auth", "secret_header", "signature_header", "signature_encoding", "event_id", "occurred_at"}
    | {"record_id", "object", "object_path", "parents"}
)
# Object types name records (`zoho:accounts:4876…`), so they hold no ':' and no blanks.
OBJECT: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_MISPLACED = "a mapping file's key: write it above [source] (a key after a [table] line is that table's)"
# Headers a secret or a signature cannot travel in: the proxy and the HTTP layer read them.
_NOT_SECRET_HEADERS = frozenset({"content-type", "content-length", "host", "connection", "cookie"})


@dataclass(frozen=True, slots=True)
class Auth:
    """How a request proves it comes from the sender."""

    kind: str  # one of AUTH_KINDS
    label: str = "Authorization"  # the header it reads, as the file writes it
    encoding: str = "hex"  # hmac-sha256's signature encoding

    @property
    def header(self) -> str:
        """The header it reads, lower-case as requests deliver header names."""
        return self.label.lower()


@dataclass(frozen=True, slots=True)
class Parent:
    object: str  # the parent's object type
    id_path: str  # where an event names the parent's id


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    auth: Auth
    event_id: tuple[str, ...]  # one path, or several whose values together name the delivery
    occurred_at: str
    record_id: str
    object: str | None  # every event's object type, or
    object_path: str | None  # where each event says it
    parents: Mapping[str, Parent] = field(default_factory=dict)

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths the source reads for itself (not the mapping's data)."""
        own = (*self.event_id, self.occurred_at, self.record_id, self.object_path or "")
        return tuple(p for p in own if p) + tuple(p.id_path for p in self.parents.values())


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a declared source; None when it can."""
    if not DECLARED_NAME.fullmatch(name):
        return (
            f"{name!r} cannot name a source: lower-case letters, digits, '-' and '_', "
            "starting with a letter, at most 40"
        )
    if name in RESERVED_NAMES:
        return f"{name!r} is taken (built-in sources and reserved words: {', '.join(sorted(RESERVED_NAMES))})"
    return None


def parse_source(table: object, name: str, objects: tuple[str, ...], problem: Report) -> SourceSpec | None:
    """The [source] table of `name`.toml, whose [objects.*] tables are `objects`; None (with
    the problems reported) when it cannot be used."""
    if not isinstance(table, Mapping):
        problem("source", "must be a table ([source])")
        return None
    report = ProblemCounter(problem)
    for key in table:
        if key in TOP_KEYS:
            report(f"source.{key}", _MISPLACED)
        elif key not in SOURCE_KEYS:
            report(f"source.{key}", f"unknown key; known: {', '.join(sorted(SOURCE_KEYS))}")
    auth = _auth(table, report)
    event_id = _paths(table, "event_id", report)
    occurred_at = _path(table, "occurred_at", report)
    record_id = _path(table, "record_id", report)
    fixed, object_path = _object(table, objects, report)
    parents = _parents(table.get("parents", {}), objects, report)
    if report.count or auth is None or not (event_id and occurred_at and record_id):
        return None
    return SourceSpec(
        name=name,
        auth=auth,
        event_id=event_id,
        occurred_at=occurred_at,
        record_id=record_id,
        object=fixed,
        object_path=object_path,
        parents=parents,
    )


def _auth(table: Mapping[str, Any], report: Report) -> Auth | None:
    kind = table.get("auth")
    if kind not in AUTH_KINDS:
        report("source.auth", f"must be one of {', '.join(AUTH_KINDS)} (got {kind!r})")
        return None
    own = {"header": "secret_header", "hmac-sha256": "signature_header"}.get(kind)
    for key, reader in (("secret_header", "header"), ("signature_header", "hmac-sha256")):
        if key in table and key != own:
            report(f"source.{key}", f"only auth = {reader!r} reads it")
    if "signature_encoding" in table and kind != "hmac-sha256":
        report("source.signature_encoding", "only auth = 'hmac-sha256' reads it")
    label = "Authorization"
    if own is not None:
        value = table.get(own)
        if not isinstance(value, str) or not _HEADER.fullmatch(value.strip()):
            report(f"source.{own}", f'auth = {kind!r} needs the header\'s name, e.g. "X-Signature"')
            return None
        label = value.strip()
        if label.lower() in _NOT_SECRET_HEADERS:
            report(f"source.{own}", f"{value!r} cannot carry a secret: name a header of its own")
    encoding = table.get("signature_encoding", "hex")
    if encoding not in ENCODINGS:
        report("source.signature_encoding", f"must be one of {', '.join(ENCODINGS)} (got {encoding!r})")
    return Auth(kind=kind, label=label, encoding=str(encoding))


def _path(table: Mapping[str, Any], key: str, report: Report) -> str | None:
    value = table.get(key)
    if value is None:
        report(f"source.{key}", 'missing: the path of the value in an event, e.g. "record.Id"')
        return None
    if not isinstance(value, str) or not value.strip():
        report(f"source.{key}", 'must be a path such as "record.Id"')
        return None
    return value.strip()


def _paths(table: Mapping[str, Any], key: str, report: Report) -> tuple[str, ...]:
    value = table.get(key)
    if isinstance(value, list):
        if not value or len(value) > 4 or not all(isinstance(p, str) and p.strip() for p in value):
            report(f"source.{key}", 'one to four paths, e.g. ["record.Id", "record.LastModifiedDate"]')
            return ()
        return tuple(p.strip() for p in value)
    one = _path(table, key, report)
    return (one,) if one else ()


def _object(
    table: Mapping[str, Any], objects: tuple[str, ...], report: Report
) -> tuple[str | None, str | None]:
    fixed, path = table.get("object"), table.get("object_path")
    if (fixed is None) == (path is None):
        report("source", "needs exactly one of object (every event's type) and object_path (where it is)")
        return None, None
    for name in objects:
        if not OBJECT.fullmatch(name):
            report(f"objects.{name}", "an object type is letters, digits and '_', starting with a letter")
    if fixed is not None:
        if not isinstance(fixed, str) or not OBJECT.fullmatch(fixed):
            report("source.object", "must be an object type: letters, digits and '_', e.g. \"Account\"")
            return None, None
        if fixed not in objects:
            report("source.object", f"{fixed!r} has no [objects.{fixed}] table: nothing would be mapped")
        return fixed, None
    if not objects:
        report("objects", "no [objects.<type>] table: nothing would be mapped")
    return None, _path(table, "object_path", report)


def _parents(raw: object, objects: tuple[str, ...], report: Report) -> dict[str, Parent]:
    if not isinstance(raw, Mapping):
        report("source.parents", "must be a table: <object type> = { object = …, id = … }")
        return {}
    parents: dict[str, Parent] = {}
    for child, spec in raw.items():
        key = f"source.parents.{child}"
        if child in TOP_KEYS:
            report(key, _MISPLACED)
            continue
        if child not in objects:
            report(key, f"{child!r} has no [objects.{child}] table")
            continue
        if not isinstance(spec, Mapping) or set(spec) != {"object", "id"}:
            report(key, 'must be { object = "<parent type>", id = "<path of its id>" }')
            continue
        parent, path = spec["object"], spec["id"]
        if not isinstance(parent, str) or not OBJECT.fullmatch(parent):
            report(f"{key}.object", 'must be an object type, e.g. "Account"')
        elif not isinstance(path, str) or not path.strip():
            report(f"{key}.id", 'must be a path such as "record.AccountId"')
        else:
            parents[str(child)] = Parent(object=parent, id_path=path.strip())
    return parents
