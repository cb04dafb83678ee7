"""Mapping files: which CRM property becomes which ChartMogul field, tag or custom attribute.

One TOML file per source. The relay ships defaults in relay/mapping/defaults/<source>.toml; a
file of the same name in RELAY_MAPPING_DIR replaces the default whole (no merging, so what a
file says is all that applies). Files are validated when they load: a mistake is an error
naming the file and the key, never a surprise at delivery time.

    # hubspot.toml
    link_property = "chartmogul_customer_uuid"   # optional: a CRM property holding the link
    link_holds = "uuid"                          # uuid (cus_…) | external_id | email
    link_data_source_uuid = "ds_…"               # optional, with link_holds = "external_id"

    [lead_statuses]            # CRM status -> one of the four ChartMogul lead statuses
    OPEN_DEAL = "Qualified Lead"

    [owners]                   # CRM owner id -> email of a ChartMogul user with a CRM seat
    "31405216" = "anna@example.com"

    [objects.company]          # the CRM object type, then one entry per CRM property
    name = { field = "company" }
    domain = { field = "website_url", transform = "website" }
    hs_lead_status = { field = "status" }                  # through [lead_statuses]
    hubspot_owner_id = { field = "owner" }                 # through [owners]
    industry = { tag_from_value = true, tag_prefix = "industry:" }
    is_public = { tag = "public-company" }                 # true adds the tag, false removes it
    numberofemployees = { custom = "employees", type = "Integer" }
    "address.locality" = { field = "city" }                # a path into the record (see values.py)
    phone = [{ field = "primary_contact.phone" }, { custom = "phone", type = "String" }]

A rule has exactly one target:

    field = "<name>"           a field of Update a Customer (CUSTOMER_FIELDS) or
                               "primary_contact.<name>" (CONTACT_FIELDS)
    tag = "<tag>"              a yes/no property: true adds the tag, false (or cleared) removes it
    tag_from_value = true      the value itself is a tag (`tag_prefix` before it); where the CRM
                               sends the previous value, the previous value's tag is removed
                               (also when the value was emptied)
    custom = "<key>"           a custom attribute; `type` (String, Integer, Decimal, Timestamp,
                               Boolean) is required: delivery creates a missing attribute with it

and may say:

    transform = "<name>"       a transform of relay/mapping/transforms/; the default follows
                               the target (country -> "country", website_url -> "website", a
                               custom Integer -> "integer", a tag -> "tag"/"boolean", ...)
    clear_on_empty = true      an emptied CRM value clears the ChartMogul value (field sent as
                               "", tag removed, custom attribute removed); default: ignored
    handle_prefix = "https://twitter.com/"   with transform "url": "@handle" becomes a URL
    name_part = "first"        "first" word or the "last" words of a full name, before the
                               transform (for CRMs with one name field, like Close contacts)

Properties no rule names are ignored; the change's notes say which.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES
from relay.contract.formats import looks_like_email
from relay.crms import MAPPED_SOURCES, SOURCE_OBJECTS
from relay.mapping.transforms import TRANSFORM_NAMES

DEFAULTS_DIR: Final = Path(__file__).with_name("defaults")

# ChartMogul custom attribute types, and the transform each gets unless the rule names one.
CUSTOM_TYPES: Final[Mapping[str, str]] = {
    "String": "text",
    "Integer": "integer",
    "Decimal": "decimal",
    "Timestamp": "datetime",
    "Boolean": "boolean",
}

_FIELD_TRANSFORMS: Final[Mapping[str, str]] = {
    "name": "text",
    "email": "email",
    "company": "text",
    "lead_created_at": "datetime",
    "free_trial_started_at": "datetime",
    "zip": "text",
    "city": "text",
    "state": "us_state",
    "country": "country",
    "owner": "owner",
    "status": "lead_status",
    "website_url": "website",
    "primary_contact.first_name": "text",
    "primary_contact.last_name": "text",
    "primary_contact.email": "email",
    "primary_contact.title": "text",
    "primary_contact.phone": "phone",
    "primary_contact.linked_in": "url",
    "primary_contact.twitter": "url",
    "primary_contact.notes": "text",
}
_DEFAULT_HANDLE_PREFIXES: Final[Mapping[str, str]] = {
    "primary_contact.twitter": "https://twitter.com/",
    "primary_contact.linked_in": "https://www.linkedin.com/in/",
}
# Transforms whose output is text, so it can be a tag.
_TEXT_TRANSFORMS: Final = frozenset(TRANSFORM_NAMES) - {"integer", "decimal", "boolean"}

FIELD_TARGETS: Final[tuple[str, ...]] = (
    *CUSTOMER_FIELDS,
    *(f"primary_contact.{name}" for name in CONTACT_FIELDS),
)
LINK_HOLDS: Final = ("uuid", "external_id", "email")
_RULE_KEYS: Final = frozenset(
    {"field", "tag", "tag_from_value", "custom", "type", "transform", "clear_on_empty"}
    | {"handle_prefix", "tag_prefix", "name_part"}
)
_TOP_KEYS: Final = frozenset(
    {"link_property", "link_holds", "link_data_source_uuid", "lead_statuses", "owners", "objects"}
)
_CUSTOM_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,99}")

Report = Callable[[str, str], None]  # (key, message)


class MappingError(Exception):
    """A mapping file cannot be used; `problems` are "file: key: what is wrong" lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid mapping:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rule:
    """One CRM property to one ChartMogul target."""

    property: str  # a path into the CRM record (relay/mapping/values.py)
    kind: str  # "field" | "tag" | "tag_from_value" | "custom"
    target: str  # field ("city", "primary_contact.email"), tag, custom key; "" for tag_from_value
    transform: str
    clear_on_empty: bool = False
    handle_prefix: str | None = None
    tag_prefix: str = ""
    custom_type: str | None = None
    name_part: str | None = None


@dataclass(frozen=True, slots=True)
class SourceMapping:
    source: str
    path: str  # the file it was read from
    objects: Mapping[str, tuple[Rule, ...]]
    lead_statuses: Mapping[str, str] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)
    link_property: str | None = None
    link_holds: str = "uuid"
    link_data_source_uuid: str | None = None

    def rules(self, object_type: str) -> tuple[Rule, ...]:
        return self.objects.get(object_type, ())

    def transform_options(self, rule: Rule) -> dict[str, Any]:
        """Keyword options for `apply_transform(rule.transform, value, **options)`."""
        options: dict[str, Any] = {"clear_on_empty": rule.clear_on_empty}
        if rule.transform == "lead_status":
            options["table"] = self.lead_statuses
        elif rule.transform == "owner":
            options["table"] = self.owners
        elif rule.transform == "url" and rule.handle_prefix:
            options["handle_prefix"] = rule.handle_prefix
        return options


# --- loading --------------------------------------------------------------------------------


def mapping_path(source: str, mapping_dir: str | os.PathLike[str] | None = None) -> Path:
    """The file that applies to `source`: the override in `mapping_dir` if there is one."""
    if mapping_dir:
        override = Path(mapping_dir) / f"{source}.toml"
        if override.is_file():
            return override
    return DEFAULTS_DIR / f"{source}.toml"


def load_mapping(source: str, mapping_dir: str | os.PathLike[str] | None = None) -> SourceMapping:
    """The validated mapping of `source`; raises MappingError naming every problem."""
    if source not in SOURCE_OBJECTS:
        raise MappingError([f"{source}: no mapping exists for this source ({', '.join(MAPPED_SOURCES)})"])
    return load_mapping_file(mapping_path(source, mapping_dir), source)


def load_mapping_file(path: Path, source: str | None = None) -> SourceMapping:
    source = source or path.stem
    problems: list[str] = []
    where = str(path)
    if source not in SOURCE_OBJECTS:
        raise MappingError([f"{where}: the file name must be one of {', '.join(MAPPED_SOURCES)} + .toml"])
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError([f"{where}: cannot be read: {exc.strerror or exc}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError([f"{where}: is not valid TOML: {exc}"]) from None
    mapping = _parse(doc, source, where, problems)
    if problems:
        raise MappingError(problems)
    return mapping


def check_mappings(mapping_dir: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Every mapping file that would apply or is shipped -> its problems (empty when valid).

    Covers the shipped defaults, every override in `mapping_dir`, and stray files there (a
    `.toml` whose name is no source is never read, which is worth knowing)."""
    results: dict[str, list[str]] = {}
    paths = [DEFAULTS_DIR / f"{source}.toml" for source in MAPPED_SOURCES]
    if mapping_dir:
        directory = Path(mapping_dir)
        if not directory.is_dir():
            results[str(directory)] = [f"{directory}: RELAY_MAPPING_DIR is not a directory"]
        else:
            paths += sorted(directory.glob("*.toml"))
    for path in paths:
        if path.stem not in SOURCE_OBJECTS:
            results[str(path)] = [
                f"{path}: not a source's mapping (file names: {', '.join(MAPPED_SOURCES)} + .toml); "
                "it is never read"
            ]
            continue
        try:
            load_mapping_file(path, path.stem)
        except MappingError as exc:
            results[str(path)] = exc.problems
        else:
            results[str(path)] = []
    return results


# --- validation -----------------------------------------------------------------------------


def _parse(doc: Mapping[str, Any], source: str, where: str, problems: list[str]) -> SourceMapping:
    def problem(key: str, message: str) -> None:
        problems.append(f"{where}: {key}: {message}")

    for key in doc:
        if key not in _TOP_KEYS:
            problem(key, f"unknown key; known: {', '.join(sorted(_TOP_KEYS))}")

    link_property = _optional_text(doc, "link_property", problem)
    link_holds = _optional_text(doc, "link_holds", problem) or "uuid"
    if link_holds not in LINK_HOLDS:
        problem("link_holds", f"{link_holds!r} is not one of {', '.join(LINK_HOLDS)}")
    data_source = _optional_text(doc, "link_data_source_uuid", problem)
    if data_source is not None and not data_source.startswith("ds_"):
        problem("link_data_source_uuid", f"{data_source!r} is not a data source uuid (ds_…)")

    lead_statuses = _table(doc, "lead_statuses", problem)
    for status, target in lead_statuses.items():
        if target not in LEAD_STATUSES:
            problem(
                f"lead_statuses.{status}",
                f"{target!r} is not a lead status ChartMogul accepts: {', '.join(LEAD_STATUSES)}",
            )
    owners = _table(doc, "owners", problem)
    for owner_id, email in owners.items():
        if not looks_like_email(email.strip().lower()):
            problem(f"owners.{owner_id}", f"{email!r} is not the email address of a ChartMogul user")

    objects: dict[str, tuple[Rule, ...]] = {}
    raw_objects = doc.get("objects", {})
    if not isinstance(raw_objects, Mapping):
        problem("objects", "must be a table of CRM object types")
        raw_objects = {}
    known_objects = SOURCE_OBJECTS[source]
    for object_type, properties in raw_objects.items():
        key = f"objects.{object_type}"
        if object_type not in known_objects:
            problem(key, f"{source} has no object type {object_type!r}; known: {', '.join(known_objects)}")
            continue
        if not isinstance(properties, Mapping):
            problem(key, "must be a table of CRM property -> rule")
            continue
        rules: list[Rule] = []
        for prop, spec in properties.items():
            specs = spec if isinstance(spec, list) else [spec]
            for index, one in enumerate(specs):
                rule_key = f"{key}.{prop}" + (f"[{index}]" if isinstance(spec, list) else "")
                rule = _rule(str(prop), one, rule_key, problem)
                if rule is not None:
                    rules.append(rule)
        objects[object_type] = tuple(rules)

    _check_custom_types(objects, problem)
    return SourceMapping(
        source=source,
        path=where,
        objects=objects,
        lead_statuses=lead_statuses,
        owners=owners,
        link_property=link_property,
        link_holds=link_holds,
        link_data_source_uuid=data_source,
    )


def _optional_text(doc: Mapping[str, Any], key: str, problem: Report) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problem(key, "must be a non-empty string")
        return None
    return value.strip()


def _table(doc: Mapping[str, Any], key: str, problem: Report) -> dict[str, str]:
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        problem(key, "must be a table of text -> text")
        return {}
    table: dict[str, str] = {}
    for name, target in value.items():
        if not isinstance(target, str):
            problem(f"{key}.{name}", f"must be a string, not {type(target).__name__}")
            continue
        table[str(name)] = target
    return table


def _rule(prop: str, spec: object, key: str, problem: Report) -> Rule | None:
    if not isinstance(spec, Mapping):
        problem(key, 'must be a table such as { field = "city" } (or an array of them)')
        return None
    report = _ProblemCounter(problem)
    for name in spec:
        if name not in _RULE_KEYS:
            report(f"{key}.{name}", f"unknown key; known: {', '.join(sorted(_RULE_KEYS))}")
    targets = [name for name in ("field", "tag", "tag_from_value", "custom") if name in spec]
    if len(targets) != 1:
        report(key, "needs exactly one of field, tag, tag_from_value, custom")
        return None
    kind = targets[0]
    raw_target = spec[kind]
    target = ""
    custom_type: str | None = None
    if kind == "tag_from_value":
        if raw_target is not True:
            report(f"{key}.tag_from_value", "must be true")
    elif not isinstance(raw_target, str) or not raw_target.strip():
        report(f"{key}.{kind}", "must be a non-empty string")
    else:
        target = raw_target.strip()

    if kind == "field" and target and target not in FIELD_TARGETS:
        report(
            f"{key}.field",
            f"{target!r} is not a ChartMogul field; use one of {', '.join(CUSTOMER_FIELDS)} "
            f"or primary_contact.<{'|'.join(CONTACT_FIELDS)}>",
        )
    if kind == "custom":
        declared = spec.get("type")
        if declared not in CUSTOM_TYPES:
            report(
                f"{key}.type",
                f"a custom attribute needs a type, one of {', '.join(CUSTOM_TYPES)} (got {declared!r})",
            )
        else:
            custom_type = str(declared)
        if target and _CUSTOM_KEY.fullmatch(target) is None:
            report(f"{key}.custom", f"{target!r} is not a usable custom attribute key (letters, digits, _ -)")
    elif "type" in spec:
        report(f"{key}.type", "only a custom attribute has a type")

    transform = spec.get("transform", _default_transform(kind, target, custom_type))
    if not isinstance(transform, str) or transform not in TRANSFORM_NAMES:
        report(f"{key}.transform", f"unknown transform {transform!r}; known: {', '.join(TRANSFORM_NAMES)}")
        transform = "text"
    if kind == "tag" and transform != "boolean":
        report(f"{key}.transform", 'a { tag = … } rule reads a yes/no value: use transform "boolean"')
    if kind == "tag_from_value" and transform not in _TEXT_TRANSFORMS:
        report(f"{key}.transform", f"{transform!r} does not give text, so its value cannot be a tag")

    clear_on_empty = spec.get("clear_on_empty", False)
    if not isinstance(clear_on_empty, bool):
        report(f"{key}.clear_on_empty", "must be true or false")
        clear_on_empty = False
    if clear_on_empty and kind == "field" and target == "status":
        report(f"{key}.clear_on_empty", "status cannot be cleared in ChartMogul")

    handle_prefix = spec.get("handle_prefix", _DEFAULT_HANDLE_PREFIXES.get(target))
    if "handle_prefix" in spec:
        if transform != "url":
            report(f"{key}.handle_prefix", 'only transform "url" reads @handles')
        if not isinstance(handle_prefix, str) or not handle_prefix.startswith(("https://", "http://")):
            report(f"{key}.handle_prefix", "must be a URL such as https://twitter.com/")
            handle_prefix = None
    tag_prefix = spec.get("tag_prefix", "")
    if not isinstance(tag_prefix, str):
        report(f"{key}.tag_prefix", "must be a string")
        tag_prefix = ""
    elif tag_prefix and kind != "tag_from_value":
        report(f"{key}.tag_prefix", "only a tag_from_value rule has a tag prefix")
    name_part = spec.get("name_part")
    if name_part is not None and name_part not in ("first", "last"):
        report(f"{key}.name_part", 'must be "first" or "last"')
        name_part = None

    if report.count:
        return None
    return Rule(
        property=prop,
        kind=kind,
        target=target,
        transform=transform,
        clear_on_empty=clear_on_empty,
        handle_prefix=handle_prefix if transform == "url" else None,
        tag_prefix=tag_prefix,
        custom_type=custom_type,
        name_part=name_part,
    )


class _ProblemCounter:
    """Reports problems and counts them, so a rule with any problem is left out."""

    def __init__(self, problem: Report) -> None:
        self._problem = problem
        self.count = 0

    def __call__(self, key: str, message: str) -> None:
        self.count += 1
        self._problem(key, message)


def _default_transform(kind: str, target: str, custom_type: str | None) -> str:
    if kind == "field":
        return _FIELD_TRANSFORMS.get(target, "text")
    if kind == "tag":
        return "boolean"
    if kind == "tag_from_value":
        return "tag"
    return CUSTOM_TYPES.get(custom_type or "", "text")


def _check_custom_types(objects: Mapping[str, tuple[Rule, ...]], problem: Report) -> None:
    """One custom attribute has one type, whichever property feeds it."""
    seen: dict[str, tuple[str, str]] = {}
    for object_type, rules in objects.items():
        for rule in rules:
            if rule.kind != "custom" or rule.custom_type is None:
                continue
            first = seen.setdefault(rule.target, (rule.custom_type, f"objects.{object_type}.{rule.property}"))
            if first[0] != rule.custom_type:
                problem(
                    f"objects.{object_type}.{rule.property}.type",
                    f"custom attribute {rule.target!r} is declared {first[0]} at {first[1]}",
                )
