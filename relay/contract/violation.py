"""A broken rule of the contract, and how its message shows a value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class ContractViolation:
    """One broken rule: where (a dotted path into the body) and what, in words a person follows."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def not_an_object(path: str, value: object) -> ContractViolation:
    return ContractViolation(path, f"{path} must be an object, not {kind(value)}")


def kind(value: object) -> str:
    """How a JSON value's type reads in a message: 'a number', 'an array', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def show(value: object) -> str:
    """A value quoted for a message, cut short when long."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits refuses to become text
        return "a number too long to show"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
