"""What can go wrong on purpose: injected faults, the rate limit and the parallel-connection cap.

Rate limit: a sliding window of one second per API key. A request is let through when fewer
than `per_s` requests were let through in the second before it; refused requests (429) are not
counted, so a steady client gets exactly `per_s` requests per second served.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from relay.simulator.customers import InvalidSetup

RATE_LIMIT_WINDOW_S = 1.0
_ONLY = re.compile(r"(GET|POST|PUT|PATCH|DELETE) /\S*")


@dataclass(frozen=True, slots=True)
class Faults:
    """`POST /_sim/faults` body. Every API request waits `latency_ms`; then `timeout_rate` of them
    are never answered, and `rate` of them answer `status` (with `Retry-After: retry_after`);
    those served are answered `answer_latency_ms` after they took effect (a client that gives
    up sooner never learns they did). `only` ("POST /v1/customers") limits all of it to the
    requests of that method and path; the others are served as usual."""

    status: int | None = None
    rate: float = 1.0
    latency_ms: float = 0.0
    retry_after: float | None = None
    timeout_rate: float = 0.0
    answer_latency_ms: float = 0.0
    only: str | None = None

    def applies_to(self, method: str, path: str) -> bool:
        return self.only is None or self.only == f"{method} {path}"

    @classmethod
    def from_json(cls, doc: Any) -> Faults:
        if not isinstance(doc, dict):
            raise InvalidSetup("faults must be a JSON object")
        unknown = set(doc) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidSetup(f"unknown fault settings: {', '.join(sorted(unknown))}")
        status = doc.get("status")
        if status is not None and (not _is_int(status) or not 100 <= status <= 599):
            raise InvalidSetup("status must be an HTTP status code")
        rate = _number(doc, "rate", upper=1.0)
        latency_ms = _number(doc, "latency_ms")
        timeout_rate = _number(doc, "timeout_rate", upper=1.0)
        only = doc.get("only")
        if only is not None and (not isinstance(only, str) or not _ONLY.fullmatch(only)):
            raise InvalidSetup('only must be a method and a path, e.g. "POST /v1/customers"')
        return cls(
            status=status,
            rate=1.0 if rate is None else rate,
            latency_ms=latency_ms or 0.0,
            retry_after=_number(doc, "retry_after"),
            timeout_rate=timeout_rate or 0.0,
            answer_latency_ms=_number(doc, "answer_latency_ms") or 0.0,
            only=only,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def retry_after_header(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        seconds = self.retry_after
        return {"Retry-After": str(int(seconds)) if seconds == int(seconds) else str(seconds)}


@dataclass(slots=True)
class FaultDice:
    """Decides which requests fail; seeded for reproducible runs when wanted."""

    rng: random.Random = field(default_factory=random.Random)

    def times_out(self, faults: Faults) -> bool:
        return faults.timeout_rate > 0 and self.rng.random() < faults.timeout_rate

    def failure(self, faults: Faults) -> int | None:
        """The status to answer instead of serving the request, or None to serve it."""
        if faults.status is not None and self.rng.random() < faults.rate:
            return faults.status
        return None


class RateLimiter:
    """At most `per_s` requests per key in any window of `RATE_LIMIT_WINDOW_S` (sliding)."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self._served: dict[str, deque[float]] = {}

    def allow(self, key: str, now_s: float | None = None) -> bool:
        now_s = time.monotonic() if now_s is None else now_s
        served = self._served.setdefault(key, deque())
        cutoff = now_s - RATE_LIMIT_WINDOW_S
        while served and served[0] <= cutoff:
            served.popleft()
        if len(served) >= self.per_s:
            return False
        served.append(now_s)
        return True

    def reset(self) -> None:
        self._served.clear()


class ConnectionCap:
    """Counts API requests in flight; `enter` is refused past `limit` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def enter(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(doc: dict[str, Any], key: str, *, upper: float | None = None) -> float | None:
    """`doc[key]` as a float >= 0 (and <= upper); None when absent or null."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise InvalidSetup(f"{key} must be a number >= 0")
    if upper is not None and value > upper:
        raise InvalidSetup(f"{key} must be at most {upper}")
    return float(value)
