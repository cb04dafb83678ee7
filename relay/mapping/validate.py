"""Validating a mapping file's TOML document: every problem named by file and key, and a rule
with any problem left out (the file as a whole is then refused by the loader)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES, UNMATCHED_POLICIES
from relay.contract.formats import looks_like_email
from relay.crms import LEAD_OBJECTS, SOURCE_OBJECTS
from relay.mapping.rules import ProblemCounter, Report, Rule, SourceMapping
from relay.mapping.tables import (
    CUSTOM_KEY,
    CUSTOM_TYPES,
    DEFAULT_HANDLE_PREFIXES,
    FIELD_TARGETS,
    LINK_HOLDS,
    RULE_KEYS,
    TEXT_TRANSFORMS,
    TOP_KEYS,
    default_transform,
)
from relay.mapping.transforms import TRANSFORM_NAMES


def parse_mapping(
    doc: Mapping[str, Any],
    source: str,
    where: str,
    problems: list[str],
    *,
    object_types: tuple[str, ...] | None = None,
    lead_objects: tuple[str, ...] | None = None,
    other_keys: frozenset[str] = frozenset(),
) -> SourceMapping:
    """`object_types`: the object types the file may map, and `lead_objects` those of them whose
    records `unmatched = "create"` may create (default: what relay/crms.py gives the source);
    `other_keys`: top-level keys someone else reads (a declared source's [source])."""

    def problem(key: str, message: str) -> None:
        problems.append(f"{where}: {key}: {message}")

    known_keys = TOP_KEYS | other_keys
    for key in doc:
        if key not in known_keys:
            problem(key, f"unknown key; known: {', '.join(sorted(known_keys))}")

    link_property = _optional_text(doc, "link_property", problem)
    link_holds = _optional_text(doc, "link_holds", problem) or "uuid"
    if link_holds not in LINK_HOLDS:
        problem("link_holds", f"{link_holds!r} is not one of {', '.join(LINK_HOLDS)}")
    data_source = _optional_text(doc, "link_data_source_uuid", problem)
    if data_source is not None and not data_source.startswith("ds_"):
        problem("link_data_source_uuid", f"{data_source!r} is not a data source uuid (ds_…)")
    unmatched = doc.get("unmatched", "dead_letter")
    if unmatched not in UNMATCHED_POLICIES:
        problem("unmatched", f"{unmatched!r} is not one of {', '.join(map(repr, UNMATCHED_POLICIES))}")
        unmatched = "dead_letter"

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
    known_objects = SOURCE_OBJECTS[source] if object_types is None else object_types
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
    labels = _labels(doc, known_objects, problem)
    return SourceMapping(
        source=source,
        path=where,
        objects=objects,
        lead_statuses=lead_statuses,
        owners=owners,
        link_property=link_property,
        link_holds=link_holds,
        link_data_source_uuid=data_source,
        labels=labels,
        unmatched=str(unmatched),
        lead_objects=LEAD_OBJECTS.get(source, ()) if lead_objects is None else lead_objects,
    )


def _labels(
    doc: Mapping[str, Any], known_objects: tuple[str, ...], problem: Report
) -> dict[str, dict[str, str]]:
    """`[labels.<object>]`: an export's column label -> the property it holds (compared
    case-insensitively when a file is read, so keys are stored lower-cased)."""
    raw = doc.get("labels", {})
    if not isinstance(raw, Mapping):
        problem("labels", "must be a table of CRM object types")
        return {}
    labels: dict[str, dict[str, str]] = {}
    for object_type in raw:
        if object_type not in known_objects:
            problem(
                f"labels.{object_type}", f"no object type {object_type!r}; known: {', '.join(known_objects)}"
            )
            continue
        entries = _table(raw, str(object_type), lambda key, message: problem(f"labels.{key}", message))
        labels[str(object_type)] = {label.strip().lower(): prop for label, prop in entries.items()}
    return labels


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
    report = ProblemCounter(problem)
    for name in spec:
        if name not in RULE_KEYS:
            report(f"{key}.{name}", f"unknown key; known: {', '.join(sorted(RULE_KEYS))}")
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
        if target and CUSTOM_KEY.fullmatch(target) is None:
            report(f"{key}.custom", f"{target!r} is not a usable custom attribute key (letters, digits, _ -)")
    elif "type" in spec:
        report(f"{key}.type", "only a custom attribute has a type")

    transform = spec.get("transform", default_transform(kind, target, custom_type))
    if not isinstance(transform, str) or transform not in TRANSFORM_NAMES:
        report(f"{key}.transform", f"unknown transform {transform!r}; known: {', '.join(TRANSFORM_NAMES)}")
        transform = "text"
    if kind == "tag" and transform != "boolean":
        report(f"{key}.transform", 'a { tag = … } rule reads a yes/no value: use transform "boolean"')
    if kind == "tag_from_value" and transform not in TEXT_TRANSFORMS:
        report(f"{key}.transform", f"{transform!r} does not give text, so its value cannot be a tag")

    clear_on_empty = spec.get("clear_on_empty", False)
    if not isinstance(clear_on_empty, bool):
        report(f"{key}.clear_on_empty", "must be true or false")
        clear_on_empty = False
    if clear_on_empty and kind == "field" and target == "status":
        report(f"{key}.clear_on_empty", "status cannot be cleared in ChartMogul")

    handle_prefix = spec.get("handle_prefix", DEFAULT_HANDLE_PREFIXES.get(target))
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
