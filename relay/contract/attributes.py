"""The contract's rules for `attributes`: both `tags` and `custom`, tags as non-empty strings,
custom values as JSON scalars that fit (see relay/contract/__init__.py for why both)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from relay.contract.violation import ContractViolation, kind, not_an_object, show

ATTRIBUTE_KEYS: tuple[str, ...] = ("tags", "custom")
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1  # what JSON encoders (orjson) can write


def check_attributes(value: Any) -> list[ContractViolation]:
    if not isinstance(value, Mapping):
        return [not_an_object("attributes", value)]
    violations: list[ContractViolation] = []
    for key in value:
        if key not in ATTRIBUTE_KEYS:
            violations.append(
                ContractViolation(
                    f"attributes.{key}", f"attributes.{key} cannot be written; only tags and custom can"
                )
            )
    for key, other in (("tags", "custom"), ("custom", "tags")):
        if key not in value and other in value:
            empty = "[]" if key == "tags" else "{}"
            violations.append(
                ContractViolation(
                    f"attributes.{key}",
                    f"attributes.{key} is missing: ChartMogul would delete every one the customer has; "
                    f"send the current ones merged with the change ({empty} to clear them on purpose)",
                )
            )
    if "tags" in value:
        violations.extend(_check_tags(value["tags"]))
    if "custom" in value:
        violations.extend(_check_custom(value["custom"]))
    return violations


def _check_tags(tags: Any) -> list[ContractViolation]:
    if not isinstance(tags, list | tuple):
        return [ContractViolation("attributes.tags", f"attributes.tags must be an array, not {kind(tags)}")]
    violations: list[ContractViolation] = []
    for index, tag in enumerate(tags):
        path = f"attributes.tags[{index}]"
        if not isinstance(tag, str):
            violations.append(ContractViolation(path, f"a tag must be a string, not {kind(tag)}"))
        elif not tag.strip():
            violations.append(ContractViolation(path, "a tag cannot be empty"))
    return violations


def _check_custom(custom: Any) -> list[ContractViolation]:
    if not isinstance(custom, Mapping):
        return [not_an_object("attributes.custom", custom)]
    violations: list[ContractViolation] = []
    for name, given in custom.items():
        path = f"attributes.custom.{name}"
        if not isinstance(name, str) or not name.strip():
            message = f"custom attribute name {show(name)} must be a non-empty string"
            violations.append(ContractViolation(path, message))
            continue
        if isinstance(given, Mapping):
            keys = set(given)
            if "value" not in keys or not keys <= {"value", "source"}:
                message = f'{path} must be a plain value or {{"value": …, "source": …}}, not {show(given)}'
                violations.append(ContractViolation(path, message))
                continue
            source = given.get("source")
            if "source" in keys and not isinstance(source, str):
                message = f"{path} source must be a string, not {kind(source)}"
                violations.append(ContractViolation(path, message))
            given = given["value"]
        problem = _scalar_problem(given)
        if problem is not None:
            violations.append(ContractViolation(path, f"{path} {problem}"))
    return violations


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        return None if _INT64_MIN <= value <= _UINT64_MAX else "is too large a number for JSON"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"is not a finite number ({value!r})"
    return f"must be a string, number, boolean or null, not {kind(value)}"
