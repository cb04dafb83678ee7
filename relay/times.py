"""Times as operators write them (`--since`, `--until`, `--as-of`, `since=` in the admin API):

    90s, 30m, 1h30m, 7d, 2w      that long ago
    now                          this moment
    10:05, 10:05:30              that time today on this machine's clock (its zone is said:
                                 `local_clock()`); a time later than now means yesterday
    2026-11-20T10:00:00Z         ISO 8601 (no zone means UTC)

`TimeSpecError` says which of these a text is not.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

MAX_DURATION_MS = 100 * 365 * 86_400_000
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class TimeSpecError(ValueError):
    """A text that is no time an operator can write; the message lists the forms."""


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_duration_ms(text: str) -> int | None:
    """ "90s", "30m", "1h", "1h30m", "7d", "2w", "500ms" → milliseconds; None if not a duration."""
    text = text.strip().lower()
    if not text:
        return None
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_MS[match.group(2)]
        position = match.end()
    if position != len(text):
        return None
    if total > MAX_DURATION_MS:
        raise TimeSpecError(f"{text!r} is longer ago than anything the relay keeps")
    return int(total)


def parse_clock(text: str, now: int) -> int | None:
    """ "10:05" → that time on this machine's clock, today (yesterday if it is later than now)."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    today = datetime.fromtimestamp(now / 1000).astimezone()
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    moment = today.replace(hour=hour, minute=minute, second=second, microsecond=0)
    if moment > today:
        moment -= timedelta(days=1)
    return int(moment.timestamp() * 1000)


def parse_time(text: str, *, now: int | None = None) -> int:
    """A point in time (ms) in any of the forms above."""
    now = now_ms() if now is None else now
    if text.strip().lower() == "now":
        return now
    duration = parse_duration_ms(text)
    if duration is not None:
        return now - duration
    clock = parse_clock(text, now)
    if clock is not None:
        return clock
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeSpecError(
            f"{text!r} is not a time: give a duration ago (30m, 1h, 7d), now, a time today "
            "(10:05, this machine's clock) or an ISO time (2026-11-20T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def is_clock_time(text: str | None) -> bool:
    return bool(text) and _CLOCK.match(str(text).strip()) is not None


def local_clock(at_ms: int | None = None) -> str:
    """This machine's clock, as a clock time is read: "2026-12-05 10:05:00 CET (UTC+01:00)"."""
    moment = datetime.fromtimestamp((now_ms() if at_ms is None else at_ms) / 1000).astimezone()
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def iso(ms: int | None) -> str | None:
    """ms as ISO 8601 UTC; None for no time and for one no calendar can show (a stored
    occurred_at of 10**17 ms: the `_ms` field beside it still says what is stored)."""
    if not ms:
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
