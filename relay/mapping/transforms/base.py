"""What every transform shares: its result, its options, and reading a CRM value as text.

See relay/mapping/transforms/__init__.py for the promises every transform keeps.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = str | int | float | bool

SHOWN_CHARS = 60
MAX_NUMBER_CHARS = 40  # longer "numbers" are garbage, and int() refuses > 4300 digits anyway


class Outcome(enum.Enum):
    SET = "set"  # send `value`
    CLEAR = "clear"  # send "" (the CRM emptied the field and clearing was asked for)
    SKIP = "skip"  # the CRM value was empty: send nothing, report nothing
    DROP = "drop"  # the CRM value is unusable: send nothing; `note` says why


@dataclass(frozen=True, slots=True)
class TransformResult:
    outcome: Outcome
    value: Value | None = None
    note: str | None = None

    @classmethod
    def set(cls, value: Value) -> TransformResult:
        return cls(Outcome.SET, value)

    @classmethod
    def clear(cls) -> TransformResult:
        return cls(Outcome.CLEAR, "")

    @classmethod
    def skip(cls) -> TransformResult:
        return cls(Outcome.SKIP)

    @classmethod
    def drop(cls, note: str) -> TransformResult:
        return cls(Outcome.DROP, None, note)

    @property
    def sends(self) -> bool:
        """True when the field goes into the change (`value`: the new value, "" to clear)."""
        return self.outcome in (Outcome.SET, Outcome.CLEAR)


@dataclass(frozen=True, slots=True)
class TransformOptions:
    """What a mapping file may say next to a transform's name.

    clear_on_empty  an empty CRM value clears the ChartMogul field (CLEAR, value "") instead
                    of being skipped
    table           lead_status: CRM status -> lead status (default HUBSPOT_LEAD_STATUSES);
                    owner: CRM owner id -> ChartMogul user email (keys compared as strings)
    handle_prefix   url: turns "@handle" into handle_prefix + "handle"
                    (e.g. "https://twitter.com/")
    """

    clear_on_empty: bool = False
    table: Mapping[str, str] | None = None
    handle_prefix: str | None = None


Transform = Callable[[object, TransformOptions], TransformResult]


def show(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits refuses to become text
        return "a number too long to show"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | Mapping):
        return len(value) == 0
    return False


def empty(options: TransformOptions) -> TransformResult:
    return TransformResult.clear() if options.clear_on_empty else TransformResult.skip()


def as_text(value: object) -> str | None:
    """Text for text-like transforms: strings (stripped) and plain numbers; None for the rest."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < 10**MAX_NUMBER_CHARS else None
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


def not_text(value: object) -> TransformResult:
    return TransformResult.drop(f"{show(value)} is {kind(value)}, not text")
