"""Gauges read from Redis when /metrics is scraped: what is, not what happened.

`StateCollector` turns a `relay.admin.state.RelayState` (read once per scrape) into gauges, so
they are the same whichever web pod answers: aggregate them with max(), not sum(), across pods.
Every label value known in advance (the DLQ's reasons, the customers' states) is exported from
the first scrape, at 0 when nothing is there. relay/metrics.py serves them beside the counters.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from relay.admin.state import RelayState
from relay.store import DEAD_LETTER_REASONS

# The DLQ's reasons (relay/store/records.py), plus what `dead_letter_counts` reports for a record
# without one ("unknown") and for entries beyond its cap ("not_counted").
DLQ_REASONS: tuple[str, ...] = (*DEAD_LETTER_REASONS, "unknown", "not_counted")
CUSTOMER_STATES: tuple[str, ...] = ("ready", "delivering", "retrying")


class StateCollector:
    """Gauges from a `RelayState` read at scrape time; None means Redis could not be read."""

    def __init__(self, state: RelayState | None) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("relay_redis_up", "1 if the relay's Redis answered this scrape.")
        up.add_metric([], 0 if self.state is None else 1)
        yield up
        state = self.state
        if state is None:
            return
        customers = GaugeMetricFamily(
            "relay_queue_customers", "Customers by delivery state.", labels=["state"]
        )
        by_state = {"ready": state.ready, "delivering": state.delivering, "retrying": state.retrying}
        for name in CUSTOMER_STATES:
            customers.add_metric([name], by_state[name])
        yield customers
        yield GaugeMetricFamily(
            "relay_rq_queue_jobs", "Wake-up jobs waiting in the RQ queue.", value=state.rq_jobs_waiting
        )
        age = state.oldest_waiting.age_s if state.oldest_waiting else 0.0
        yield GaugeMetricFamily(
            "relay_oldest_waiting_event_age_seconds",
            "Age of the oldest event waiting for delivery (0 when none waits).",
            value=age,
        )
        dlq = GaugeMetricFamily("relay_dlq_events", "Dead-lettered events by reason.", labels=["reason"])
        by_reason = dict.fromkeys(DLQ_REASONS, 0) | state.dlq_by_reason
        for reason, count in sorted(by_reason.items()):
            dlq.add_metric([reason], count)
        yield dlq
        yield GaugeMetricFamily(
            "relay_dlq_oldest_age_seconds",
            "How long ago the oldest dead letter died (0 when there is none).",
            value=state.dlq_oldest_age_s,
        )
        yield GaugeMetricFamily(
            "relay_dlq_retention_seconds",
            "How long a dead letter is kept before it expires (RELAY_DLQ_TTL_S).",
            value=state.dlq_retention_s,
        )
        yield GaugeMetricFamily(
            "relay_circuit_open",
            "1 while the circuit is open (ChartMogul refused the credentials; delivery paused).",
            value=1 if state.circuit_open else 0,
        )
        yield GaugeMetricFamily(
            "relay_workers", "Workers on the relay queue with a live RQ heartbeat.", value=len(state.workers)
        )
        yield GaugeMetricFamily(
            "relay_chartmogul_requests_in_flight",
            "Requests to ChartMogul in flight across the fleet.",
            value=state.rate.get("requests_in_flight", 0),
        )
        yield GaugeMetricFamily(
            "relay_rate_slowdown_factor",
            "How much the shared rate is slowed after a 429 (1 = not slowed).",
            value=state.rate.get("slowdown_factor", 1.0),
        )
