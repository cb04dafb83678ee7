"""Times: epochs (unit read from the size), ISO 8601 and plain dates to ChartMogul's timestamp."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from relay.contract.formats import format_timestamp
from relay.mapping.transforms.base import (
    MAX_NUMBER_CHARS,
    TransformOptions,
    TransformResult,
    empty,
    is_empty,
    kind,
    show,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_UNITS: tuple[tuple[float, int], ...] = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000))
_NANOSECONDS = 1_000_000_000
_DIGITS = re.compile(r"[+-]?\d+", re.ASCII)
_EPOCH_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_NAMED_UTC = re.compile(r"\s*(?:UTC|GMT)$", re.IGNORECASE)


def _from_epoch(number: int | float) -> datetime | None:
    """The moment an epoch number stands for, its unit read from its size; None if out of range."""
    if isinstance(number, float) and not math.isfinite(number):
        return None
    per_second = _NANOSECONDS
    for bound, units in _EPOCH_UNITS:
        if abs(number) < bound:
            per_second = units
            break
    try:
        seconds = number // per_second if isinstance(number, int) else math.floor(number / per_second)
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _parse_time_text(raw: str) -> datetime | None:
    if len(raw) == 8 and raw.isascii() and raw.isdigit():
        try:
            return datetime.strptime(raw, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            pass  # not a date: an epoch in seconds
    if len(raw) <= MAX_NUMBER_CHARS and _EPOCH_TEXT.fullmatch(raw):
        return _from_epoch(int(raw) if _DIGITS.fullmatch(raw) else float(raw))
    candidate = _NAMED_UTC.sub("+00:00", raw).upper() if raw.isascii() else ""
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def datetime_(value: object, options: TransformOptions) -> TransformResult:
    if is_empty(value):
        return empty(options)
    moment: datetime | None
    if isinstance(value, bool):
        return TransformResult.drop(f"{show(value)} is a boolean, not a time")
    if isinstance(value, int | float):
        moment = _from_epoch(value)
    elif isinstance(value, str):
        moment = _parse_time_text(value.strip())
    else:
        return TransformResult.drop(f"{show(value)} is {kind(value)}, not a time")
    if moment is None:
        return TransformResult.drop(f"{show(value)} is not a time (ISO 8601 or an epoch number)")
    if moment == _EPOCH:
        return TransformResult.drop(f"{show(value)} is epoch 0, which CRMs send for 'no date'")
    try:
        return TransformResult.set(format_timestamp(moment))
    except OverflowError:
        return TransformResult.drop(f"{show(value)} is outside the range of dates")
