"""Link suggestions: each CRM record matched to a ChartMogul customer by, in order, a value
holding a `cus_…` uuid, external_id, an email (customer or primary contact), the website's
domain, then the normalised company name. The first rule that finds anyone decides: one
customer is a match, several are ambiguous (named, never guessed)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from relay.mapping.apply import map_record
from relay.mapping.rules import SourceMapping
from relay.sync.readers import ExportRecord, Item, Skipped
from relay.sync.shapes import ExportShape

RULES: Final = ("uuid", "external_id", "email", "domain", "name")
_UUID = re.compile(r"\bcus_[A-Za-z0-9\-]{1,64}\b")
_LEGAL = frozenset(
    {
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "ag",
        "kg",
        "ug",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "aps",
        "pty",
        "pte",
        "sl",
    }
)
_WORD = re.compile(r"[^\w]+", re.UNICODE)


def domain(url: Any) -> str | None:
    """`https://www.Acme.example/about` → `acme.example`."""
    if not isinstance(url, str) or not url.strip():
        return None
    text = url.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.\-]*://", "", text)
    text = text.split("/")[0].split("?")[0].split("#")[0].split("@")[-1].split(":")[0]
    text = text.removeprefix("www.")
    return text if "." in text else None


def company_key(name: Any) -> str | None:
    """Case, punctuation and legal suffixes ignored: `Globex GmbH` and `globex` are one key."""
    if not isinstance(name, str):
        return None
    words = [w for w in _WORD.split(name.lower().replace("&", " and ")) if w]
    while len(words) > 1 and words[-1] in _LEGAL:
        words.pop()
    key = " ".join(words)
    return key or None


@dataclass(slots=True)
class CustomerKeys:
    uuids: set[str] = field(default_factory=set)
    external_id: dict[str, list[str]] = field(default_factory=dict)
    email: dict[str, list[str]] = field(default_factory=dict)
    domain: dict[str, list[str]] = field(default_factory=dict)
    name: dict[str, list[str]] = field(default_factory=dict)

    def add(self, entry: dict[str, Any]) -> None:
        uuid = entry.get("uuid")
        if not isinstance(uuid, str):
            return
        self.uuids.add(uuid)
        ids = {str(v) for v in [entry.get("external_id"), *(entry.get("external_ids") or [])] if v}
        for value in ids:
            self.external_id.setdefault(value, []).append(uuid)
        if isinstance(entry.get("email"), str) and entry["email"].strip():
            self.email.setdefault(entry["email"].strip().lower(), []).append(uuid)
        if site := domain(entry.get("website_url")):
            self.domain.setdefault(site, []).append(uuid)
        names = {company_key(entry.get("company")), company_key(entry.get("name"))} - {None}
        for key in names:
            self.name.setdefault(str(key), []).append(uuid)


async def read_keys(pages: AsyncIterator[list[dict[str, Any]]]) -> CustomerKeys:
    keys = CustomerKeys()
    async for entries in pages:
        for entry in entries:
            keys.add(entry)
    return keys


@dataclass(frozen=True, slots=True)
class Suggestion:
    record: ExportRecord
    rule: str | None  # the rule that decided; None: unmatched
    candidates: tuple[str, ...]
    value: str = ""  # what matched (an email, a domain, …)
    crm_name: str = ""  # the record's company (or name) as the mapping reads it

    @property
    def uuid(self) -> str | None:
        return self.candidates[0] if len(self.candidates) == 1 else None


@dataclass(slots=True)
class SuggestTotals:
    records: int = 0
    matched: Counter[str] = field(default_factory=Counter)
    ambiguous: int = 0
    unmatched: int = 0
    skipped: list[str] = field(default_factory=list)


def _texts(values: Iterable[Any]) -> Iterator[str]:
    for value in values:
        if isinstance(value, str) and value.strip():
            yield value.strip()
        elif isinstance(value, dict):
            yield from _texts(value.values())
        elif isinstance(value, list):
            yield from _texts(value)


class Suggester:
    def __init__(self, mapping: SourceMapping, shape: ExportShape, keys: CustomerKeys) -> None:
        self.mapping = mapping
        self.shape = shape
        self.keys = keys
        self.totals = SuggestTotals()

    def suggest(self, items: Iterable[Item]) -> Iterator[Suggestion]:
        for item in items:
            if isinstance(item, Skipped):
                self.totals.skipped.append(f"{item.where}: {item.why}")
                continue
            self.totals.records += 1
            suggestion = self.match(item)
            if suggestion.rule is None:
                self.totals.unmatched += 1
            elif suggestion.uuid:
                self.totals.matched[suggestion.rule] += 1
            else:
                self.totals.ambiguous += 1
            yield suggestion

    def match(self, record: ExportRecord) -> Suggestion:
        props = record.properties
        mapped = map_record(self.mapping, self.shape.object_type, props)
        name = str(mapped.fields.get("company") or mapped.fields.get("name") or "")
        texts = list(_texts(props.values()))
        uuids = sorted({m for text in texts for m in _UUID.findall(text) if m in self.keys.uuids})
        if uuids:
            return Suggestion(record, "uuid", tuple(uuids), uuids[0], name)
        contact = mapped.fields.get("primary_contact") or {}
        external: list[Any] = [mapped.link_external_id]
        external += [v for k, v in props.items() if "external" in k.lower() and isinstance(v, str)]
        emails = [mapped.fields.get("email"), contact.get("email"), mapped.link_email]
        emails += [v for k, v in props.items() if "email" in k.lower() and isinstance(v, str)]
        sites = [
            mapped.fields.get("website_url"),
            *(v for k, v in props.items() if k.lower() in ("domain", "website")),
        ]
        checks: tuple[tuple[str, dict[str, list[str]], list[str | None]], ...] = (
            ("external_id", self.keys.external_id, [str(v).strip() for v in external if v]),
            ("email", self.keys.email, [str(v).strip().lower() for v in emails if isinstance(v, str)]),
            ("domain", self.keys.domain, [domain(v) for v in sites]),
            ("name", self.keys.name, [company_key(mapped.fields.get("company"))]),
        )
        for rule, index, values in checks:
            for value in values:
                if value and (found := index.get(value)):
                    return Suggestion(record, rule, tuple(dict.fromkeys(found)), value, name)
        return Suggestion(record, None, (), crm_name=name)
