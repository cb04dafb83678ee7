"""Per-property plans: what a mapping does with one property, compiled once, then reused.

HubSpot sends one property per event, so a 100-event batch maps 100 one-property records.
`map_record` walks every rule of the object type (and every claimed path for the "not mapped"
note) for each; a plan keeps only the rules that can read that property, and whether it is the
link property or unmapped, so each event does just its own rules. The answer is the same as
`map_record(mapping, object_type, {name: value})` (tests/mapping/test_plan.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.mapping.apply import BoundTransform, Mapped, apply_link, apply_rule, bind_transform
from relay.mapping.rules import Rule, SourceMapping
from relay.mapping.values import MISSING, covers, lookup

# Property names come from the CRM: plans beyond this many are computed, not kept.
MAX_PLANS = 10_000


@dataclass(frozen=True, slots=True)
class PropertyPlan:
    rules: tuple[Rule, ...]  # the object type's rules that read this property, in file order
    transforms: tuple[BoundTransform, ...]  # each rule's transform, its options bound once
    link: bool  # the mapping's link_property reads it
    unmapped: bool  # no rule and no link claims it: the change gets a "not mapped" note


def _reads(path: str, name: str) -> bool:
    """Whether `lookup({name: value}, path)` can find anything: the path is the name or inside it."""
    return path == name or path.startswith(name + ".")


def compile_plan(mapping: SourceMapping, object_type: str, name: str) -> PropertyPlan:
    rules = mapping.rules(object_type)
    claimed = [rule.property for rule in rules]
    if mapping.link_property:
        claimed.append(mapping.link_property)
    reading = tuple(rule for rule in rules if _reads(rule.property, name))
    return PropertyPlan(
        rules=reading,
        transforms=tuple(bind_transform(mapping, rule) for rule in reading),
        link=bool(mapping.link_property) and _reads(mapping.link_property or "", name),
        unmapped=not any(covers(name, path) for path in claimed),
    )


class PropertyPlans:
    """One mapping's plans, compiled on first use of each (object type, property)."""

    def __init__(self, mapping: SourceMapping) -> None:
        self.mapping = mapping
        self._plans: dict[tuple[str, str], PropertyPlan] = {}

    def plan(self, object_type: str, name: str) -> PropertyPlan:
        found = self._plans.get((object_type, name))
        if found is None:
            found = compile_plan(self.mapping, object_type, name)
            if len(self._plans) < MAX_PLANS:
                self._plans[(object_type, name)] = found
        return found

    def map_property(self, object_type: str, name: str, value: Any) -> Mapped:
        """What `map_record(mapping, object_type, {name: value})` answers, without the rules
        that cannot read `name`."""
        plan = self.plan(object_type, name)
        record = {name: value}
        mapped = Mapped()
        for rule, transform in zip(plan.rules, plan.transforms, strict=True):
            found = lookup(record, rule.property)
            if found is not MISSING:
                apply_rule(self.mapping, rule, found, MISSING, mapped, transform)
        if plan.link:
            found = lookup(record, self.mapping.link_property or "")
            if found is not MISSING:
                apply_link(self.mapping, found, mapped)
        if plan.unmapped:  # (then it has no rules and no link) worded as map_record words it
            mapped.notes.append(f"not mapped ({object_type}): {name}")
        return mapped
