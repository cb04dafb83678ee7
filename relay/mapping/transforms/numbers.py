"""Custom attribute values: whole numbers, decimals and yes/no values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from relay.mapping.transforms.base import (
    MAX_NUMBER_CHARS,
    TransformOptions,
    TransformResult,
    empty,
    is_empty,
    kind,
    show,
)

_BOOLEAN_WORDS: Mapping[str, bool] = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "on", "checked"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0", "off", "unchecked"), False),
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_TEXT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?", re.ASCII)
_DECIMAL_TEXT = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def integer(value: object, options: TransformOptions) -> TransformResult:
    """A whole number within 64 bits (what JSON encoders and ChartMogul's Integer type hold)."""
    if is_empty(value):
        return empty(options)
    number: int | None = None
    if isinstance(value, bool):
        return TransformResult.drop(f"{show(value)} is a boolean, not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, str):
        raw = value.strip()
        if len(raw) <= MAX_NUMBER_CHARS and _INTEGER_TEXT.fullmatch(raw):
            number = int(raw.split(".")[0].replace(",", ""))
    else:
        return TransformResult.drop(f"{show(value)} is {kind(value)}, not a whole number")
    if number is None:
        return TransformResult.drop(f"{show(value)} is not a whole number")
    if not _INT64_MIN <= number <= _INT64_MAX:
        return TransformResult.drop(f"{show(value)} is too large a number")
    return TransformResult.set(number)


def decimal(value: object, options: TransformOptions) -> TransformResult:
    """A finite number as a float; `1,234.50` reads with thousands separators (not `1.234,50`)."""
    if is_empty(value):
        return empty(options)
    number: float | None = None
    if isinstance(value, bool):
        return TransformResult.drop(f"{show(value)} is a boolean, not a number")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = None
    elif isinstance(value, str):
        raw = value.strip()
        if len(raw) <= MAX_NUMBER_CHARS and _DECIMAL_TEXT.fullmatch(raw):
            number = float(raw.replace(",", ""))
    else:
        return TransformResult.drop(f"{show(value)} is {kind(value)}, not a number")
    if number is None or not math.isfinite(number):
        return TransformResult.drop(f"{show(value)} is not a finite number")
    return TransformResult.set(number)


def boolean(value: object, options: TransformOptions) -> TransformResult:
    if is_empty(value):
        return empty(options)
    if isinstance(value, bool):
        return TransformResult.set(value)
    if isinstance(value, int | float) and value in (0, 1):
        return TransformResult.set(bool(value))
    if isinstance(value, str) and value.strip().casefold() in _BOOLEAN_WORDS:
        return TransformResult.set(_BOOLEAN_WORDS[value.strip().casefold()])
    return TransformResult.drop(f"{show(value)} is not a yes/no value")
