"""A mapping file once loaded: its rules per CRM object type, its lookup tables and its link."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relay.changes import AWAIT_PARENT, CREATE, IGNORE

Report = Callable[[str, str], None]  # (key, message): how validation reports a problem


class ProblemCounter:
    """Reports problems and counts them, so what has any (a rule, a table) is left out."""

    def __init__(self, problem: Report) -> None:
        self._problem = problem
        self.count = 0

    def __call__(self, key: str, message: str) -> None:
        self.count += 1
        self._problem(key, message)


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
    # Export column label -> property path, per object type (`relay sync`, `relay links suggest`).
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # What a record no ChartMogul customer matches becomes (relay.changes.UNMATCHED_POLICIES),
    # and the object types "create" may create (the others are contacts: they wait for their
    # parent's customer).
    unmatched: str = "dead_letter"
    lead_objects: tuple[str, ...] = ()

    def rules(self, object_type: str) -> tuple[Rule, ...]:
        return self.objects.get(object_type, ())

    def unmatched_for(self, object_type: str | None) -> str:
        """What a change to a record of `object_type` carries as `CustomerChange.unmatched`
        (None: the record's type is not known, it is taken for a company-level one)."""
        if self.unmatched == "ignore":
            return IGNORE
        if self.unmatched != "create":
            return ""
        return CREATE if object_type is None or object_type in self.lead_objects else AWAIT_PARENT

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
