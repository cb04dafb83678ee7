"""Applying a mapping: a CRM record (or the part of it that changed) in, a CustomerChange out.

    mapped = map_record(mapping, "company", {"city": "Boston", "industry": "SaaS"})
    event = mapped_event(mapping, mapped, event_id="hubspot:101", occurred_at_ms=…,
                         crm_record="hubspot:company:42", raw=…)

`map_record` never raises on CRM values: what cannot be used is left out with a note.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.changes import CustomerChange, CustomerRef
from relay.events import NO_PARENTS, ParsedEvent
from relay.mapping.rules import Rule, SourceMapping
from relay.mapping.transforms import TRANSFORMS, Outcome, TransformOptions, TransformResult, apply_transform
from relay.mapping.values import MISSING, covers, lookup, touched

_CUSTOMER_UUID = re.compile(r"cus_[A-Za-z0-9\-]{1,64}", re.ASCII)
_MAX_UNMAPPED_NAMED = 20


@dataclass(slots=True)
class Mapped:
    """What one CRM record means for its ChartMogul customer."""

    fields: dict[str, Any] = field(default_factory=dict)
    tags_add: list[str] = field(default_factory=list)
    tags_remove: list[str] = field(default_factory=list)
    custom_set: dict[str, Any] = field(default_factory=dict)
    custom_remove: list[str] = field(default_factory=list)
    custom_types: dict[str, str] = field(default_factory=dict)  # key of custom_set → declared type
    notes: list[str] = field(default_factory=list)
    # What the mapping's link_property said (at most one of them).
    link_uuid: str | None = None
    link_external_id: str | None = None
    link_email: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.fields or self.tags_add or self.tags_remove or self.custom_set or self.custom_remove)

    def add_tag(self, tag: str) -> None:
        if tag in self.tags_remove:
            self.tags_remove.remove(tag)
        if tag not in self.tags_add:
            self.tags_add.append(tag)

    def remove_tag(self, tag: str) -> None:
        if tag in self.tags_add:
            self.tags_add.remove(tag)
        if tag not in self.tags_remove:
            self.tags_remove.append(tag)

    def set_custom(self, key: str, value: Any, custom_type: str | None) -> None:
        if key in self.custom_remove:
            self.custom_remove.remove(key)
        self.custom_set[key] = value
        if custom_type is not None:
            self.custom_types[key] = custom_type

    def remove_custom(self, key: str) -> None:
        self.custom_set.pop(key, None)
        self.custom_types.pop(key, None)
        if key not in self.custom_remove:
            self.custom_remove.append(key)


def map_record(
    mapping: SourceMapping,
    object_type: str,
    record: Mapping[str, Any],
    *,
    changed: Collection[str] | None = None,
    previous: Mapping[str, Any] | None = None,
    not_properties: Collection[str] = (),
) -> Mapped:
    """Map `record` (a CRM object of `object_type`) through `mapping`.

    changed          the property paths that changed (None: every property in `record`);
                     rules for other properties are skipped
    previous         the record's values before the change, where the CRM sends them (lets a
                     tag_from_value rule remove the previous value's tag)
    not_properties   keys of `record` that are bookkeeping, not data (ids, timestamps); they
                     are not reported as unmapped
    """
    mapped = Mapped()
    rules = mapping.rules(object_type)
    for rule in rules:
        if changed is not None and not touched(rule.property, changed):
            continue
        value = lookup(record, rule.property)
        if value is MISSING:
            continue
        before = MISSING if previous is None else lookup(previous, rule.property)
        apply_rule(mapping, rule, value, before, mapped)

    if mapping.link_property and (changed is None or touched(mapping.link_property, changed)):
        value = lookup(record, mapping.link_property)
        if value is not MISSING:
            apply_link(mapping, value, mapped)

    names = [name for name in (record if changed is None else changed) if name not in not_properties]
    claimed = [rule.property for rule in rules]
    if mapping.link_property:
        claimed.append(mapping.link_property)
    unmapped = [name for name in names if not any(covers(name, path) for path in claimed)]
    if unmapped:
        shown = ", ".join(unmapped[:_MAX_UNMAPPED_NAMED])
        hidden = len(unmapped) - _MAX_UNMAPPED_NAMED
        more = f" and {hidden} more" if hidden > 0 else ""
        mapped.notes.append(f"not mapped ({object_type}): {shown}{more}")
    return mapped


BoundTransform = Callable[[object], TransformResult]


def bind_transform(mapping: SourceMapping, rule: Rule) -> BoundTransform:
    """The rule's transform with the mapping's options for it bound once (for compiled plans)."""
    options = TransformOptions(**mapping.transform_options(rule))
    transform = TRANSFORMS.get(rule.transform)
    if transform is None:
        return lambda value: apply_transform(rule.transform, value, **mapping.transform_options(rule))
    return lambda value: transform(value, options)


def _transform(
    mapping: SourceMapping, rule: Rule, value: object, bound: BoundTransform | None = None
) -> TransformResult:
    if rule.name_part is not None and isinstance(value, str):
        words = value.split()
        value = words[:1] if rule.name_part == "first" else words[1:]
        value = " ".join(value)
    if bound is not None:
        return bound(value)
    return apply_transform(rule.transform, value, **mapping.transform_options(rule))


def apply_rule(
    mapping: SourceMapping,
    rule: Rule,
    value: object,
    before: object,
    mapped: Mapped,
    bound: BoundTransform | None = None,
) -> None:
    """`bound`: the rule's transform from bind_transform (else it is looked up by name)."""
    result = _transform(mapping, rule, value, bound)
    if result.outcome is Outcome.DROP:
        mapped.notes.append(f"{rule.property}: {result.note}")
        return
    if rule.kind == "tag_from_value":
        _apply_value_tag(mapping, rule, result, before, mapped, bound)
        return
    if result.outcome is Outcome.SKIP:
        return
    if rule.kind == "field":
        _set_field(mapped.fields, rule.target, result.value if result.outcome is Outcome.SET else "")
    elif rule.kind == "custom":
        if result.outcome is Outcome.SET:
            mapped.set_custom(rule.target, result.value, rule.custom_type)
        else:
            mapped.remove_custom(rule.target)
    elif result.outcome is Outcome.SET and result.value is True:  # tag
        mapped.add_tag(rule.target)
    else:
        mapped.remove_tag(rule.target)


def _apply_value_tag(
    mapping: SourceMapping,
    rule: Rule,
    result: TransformResult,
    before: object,
    mapped: Mapped,
    bound: BoundTransform | None = None,
) -> None:
    """The value's tag is added; the previous value's tag (when the CRM sent it) is removed,
    also when the value was emptied: that tag no longer says anything true."""
    new_tag = f"{rule.tag_prefix}{result.value}" if result.outcome is Outcome.SET else None
    if before is not MISSING:
        old = _transform(mapping, rule, before, bound)
        if old.outcome is Outcome.SET and f"{rule.tag_prefix}{old.value}" != new_tag:
            mapped.remove_tag(f"{rule.tag_prefix}{old.value}")
    if new_tag is not None:
        mapped.add_tag(new_tag)


def _set_field(fields: dict[str, Any], target: str, value: Any) -> None:
    parent, dot, name = target.partition(".")
    if dot:
        fields.setdefault(parent, {})[name] = value
    else:
        fields[target] = value


def apply_link(mapping: SourceMapping, value: object, mapped: Mapped) -> None:
    name = mapping.link_property
    if mapping.link_holds == "email":
        result = apply_transform("email", value)
        if result.outcome is Outcome.SET:
            mapped.link_email = str(result.value)
        elif result.outcome is Outcome.DROP:
            mapped.notes.append(f"{name} (link): {result.note}")
        return
    result = apply_transform("text", value)
    if result.outcome is Outcome.DROP:
        mapped.notes.append(f"{name} (link): {result.note}")
    if result.outcome is not Outcome.SET:
        return
    text = str(result.value)
    if mapping.link_holds == "external_id":
        mapped.link_external_id = text
    elif _CUSTOMER_UUID.fullmatch(text):
        mapped.link_uuid = text
    else:
        mapped.notes.append(f"{name} (link): {text[:80]!r} is not a ChartMogul customer uuid (cus_…)")


def mapped_event(
    mapping: SourceMapping,
    mapped: Mapped,
    *,
    event_id: str,
    occurred_at_ms: int,
    crm_record: str,
    raw: str,
    parents: Mapping[str, str] = NO_PARENTS,
    merged_records: Sequence[str] = (),
    object_type: str | None = None,
) -> ParsedEvent:
    """The ParsedEvent for a mapped record: ignored (with the reason) when it changes nothing.
    `parents` (record → its parent record) are written with it; `merged_records` were merged
    into `crm_record` (a worker moves their links); `object_type` (the record's, in the
    mapping's words) says whether the mapping's `unmatched = "create"` may create it."""
    customer = CustomerRef(
        crm_record=crm_record,
        external_id=mapped.link_external_id,
        data_source_uuid=mapping.link_data_source_uuid if mapped.link_external_id else None,
        email=mapped.link_email,
    )
    change = CustomerChange(
        event_id=event_id,
        source=mapping.source,
        occurred_at_ms=occurred_at_ms,
        customer=customer,
        fields=mapped.fields,
        tags_add=mapped.tags_add,
        tags_remove=mapped.tags_remove,
        custom_set=mapped.custom_set,
        custom_remove=mapped.custom_remove,
        custom_types=mapped.custom_types,
        notes=mapped.notes,
        merged_records=list(merged_records) if merged_records else [],
        unmatched=mapping.unmatched_for(object_type),
    )
    links = {crm_record: mapped.link_uuid} if mapped.link_uuid else {}
    reason: str | None = None
    if change.is_empty:
        if mapped.link_uuid:
            reason = f"links {crm_record} to {mapped.link_uuid}; nothing else to change"
        elif parents:
            reason = describe_parents(parents) + "; nothing else to change"
        elif mapped.notes:
            reason = "nothing to change: " + "; ".join(mapped.notes)
        else:
            reason = "nothing to change"
    return ParsedEvent(change=change, raw=raw, ignored_reason=reason, links=links, parents=parents or None)


def describe_parents(parents: Mapping[str, str]) -> str:
    """`sets the parent of hubspot:contact:51 to hubspot:company:9` (or "to none")."""
    return "; ".join(
        f"sets the parent of {record} to {parent or 'none'}" for record, parent in parents.items()
    )


def ignored_event(
    source: str, *, event_id: str, occurred_at_ms: int, crm_record: str, raw: str, reason: str
) -> ParsedEvent:
    """An event recorded but not delivered (a deletion, an object type no mapping covers)."""
    change = CustomerChange(
        event_id=event_id,
        source=source,
        occurred_at_ms=occurred_at_ms,
        customer=CustomerRef(crm_record=crm_record),
    )
    return ParsedEvent(change=change, raw=raw, ignored_reason=reason)
