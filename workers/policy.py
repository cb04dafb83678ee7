"""Retry and dead-letter policy: what a failed delivery becomes.

Rejected (400/402/404/422…)   → dead-letter now, with ChartMogul's message
AuthFailed (401/403)          → keep queued, retry with backoff (bad credentials affect every event)
Transient (429/5xx/timeouts)  → retry with exponential backoff and full jitter, honouring
                                Retry-After, until `retry_deadline_s` after the first failure;
                                then dead-letter as `retries_exhausted`
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    base_s: float = 1.0
    cap_s: float = 3600.0
    deadline_s: float = 12 * 3600.0

    def delay_s(self, attempt: int, *, retry_after_s: float | None = None) -> float:
        """Full jitter: uniform in [0, min(cap, base·2^(attempt-1))], never less than Retry-After."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt - 1, 40))
        delay = random.uniform(0, ceiling)
        return max(delay, retry_after_s or 0.0)

    def next_due_ms(
        self, attempt: int, *, since_ms: int, now_ms: int, retry_after_s: float | None = None
    ) -> int | None:
        """When to try again, or None once the deadline has passed (dead-letter)."""
        if now_ms - since_ms >= self.deadline_s * 1000:
            return None
        return now_ms + int(self.delay_s(attempt, retry_after_s=retry_after_s) * 1000)
