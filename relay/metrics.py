"""Prometheus metrics: what happened (counters, histograms) and what is (gauges read from Redis).

Counters and histograms count in the process that saw it: the web app counts webhooks, each
worker counts its deliveries, its automatic replays and the leads it creates. Call the
`record_*` functions; they never raise and never block. Label values are bounded (sources are
the built-in ones, those declared by a file — at most 50 — or "unknown"), and every value
known in advance is exported as 0 from the first scrape (`zero_web_series`,
`zero_worker_series`, the DLQ reasons), so the first event after a quiet spell moves a series
the alerts already see.

Gauges are read from Redis when /metrics is scraped (relay/gauges.py), so they are the same
whichever web pod answers: aggregate them with max(), not sum(), across pods.

With PROMETHEUS_MULTIPROC_DIR set (several processes behind one port, e.g. gunicorn), counts
go to that directory and `exposition()` merges every process's files.

    relay_webhooks_received_total{source}            webhook requests received
    relay_webhooks_rejected_total{source,reason}     webhook requests refused (4xx/503)
    relay_events_received_total{source}              events in accepted webhooks (new + duplicate)
    relay_events_accepted_total{source}              new events recorded
    relay_events_duplicate_total{source}             events already recorded (not queued again)
    relay_events_conflicting_duplicates_total{source}  of those, with another change (in its history)
    relay_deliveries_total{status}                   PATCH calls by ChartMogul's answer
    relay_delivery_retries_total                     deliveries scheduled for another attempt
    relay_rate_limit_wait_seconds                    time spent waiting for the shared rate
    relay_patch_events                               events coalesced into one PATCH
    relay_delivery_latency_seconds                   event received → applied
    relay_fields_not_applied_total{field}            fields ChartMogul answered without the value sent
    relay_dlq_replayed_total{trigger}                dead letters re-queued automatically, by cause
    relay_unmatched_total{action}                    records no customer matched, by what their policy did
    relay_redis_up, relay_queue_customers{state}, relay_rq_queue_jobs,
    relay_oldest_waiting_event_age_seconds, relay_dlq_events{reason}, relay_circuit_open,
    relay_dlq_oldest_age_seconds, relay_dlq_retention_seconds,
    relay_workers, relay_chartmogul_requests_in_flight, relay_rate_slowdown_factor   (gauges)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from relay.admin.state import RelayState
from relay.changes import CUSTOMER_FIELDS
from relay.crms import KNOWN_SOURCES
from relay.exceptions import WebhookError
from relay.gauges import CUSTOMER_STATES, DLQ_REASONS, StateCollector
from relay.store import REPLAY_TRIGGERS

CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry()
# No `*_created` series: a timestamp per counter doubles the series and no panel uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


if multiprocess_dir() is None:
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)

WEBHOOKS_RECEIVED = Counter(
    "relay_webhooks_received", "Webhook requests received, by source.", ["source"], registry=REGISTRY
)
WEBHOOKS_REJECTED = Counter(
    "relay_webhooks_rejected",
    "Webhook requests refused, by source and reason (a refused request may carry several events).",
    ["source", "reason"],
    registry=REGISTRY,
)
EVENTS_RECEIVED = Counter(
    "relay_events_received",
    "Events in verified, well-formed webhooks (accepted + duplicate), by source.",
    ["source"],
    registry=REGISTRY,
)
EVENTS_ACCEPTED = Counter(
    "relay_events_accepted",
    "Events recorded for delivery (or as ignored), by source.",
    ["source"],
    registry=REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "relay_events_duplicate",
    "Events already recorded, not queued again, by source.",
    ["source"],
    registry=REGISTRY,
)
EVENTS_CONFLICTING_DUPLICATES = Counter(
    "relay_events_conflicting_duplicates",
    "Duplicates (counted there too) whose change differs from the recorded event's, by source.",
    ["source"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "relay_deliveries",
    "Deliveries (a customer's PATCH, tag and custom calls) by ChartMogul's answer (status or no_answer).",
    ["status"],
    registry=REGISTRY,
)
RETRIES = Counter("relay_delivery_retries", "Deliveries scheduled for another attempt.", registry=REGISTRY)
RATE_LIMIT_WAIT = Histogram(
    "relay_rate_limit_wait_seconds",
    "Time a request waited for the fleet-wide ChartMogul rate.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
PATCH_EVENTS = Histogram(
    "relay_patch_events",
    "Events coalesced into one PATCH.",
    buckets=(1, 2, 3, 5, 10, 20, 50, 100, 200, 500),
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "relay_delivery_latency_seconds",
    "From an event's receipt to ChartMogul applying it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600),
    registry=REGISTRY,
)

FIELDS_NOT_APPLIED = Counter(
    "relay_fields_not_applied",
    "Fields ChartMogul answered 200 for but did not keep (tags and custom attributes as one label each).",
    ["field"],
    registry=REGISTRY,
)

DLQ_REPLAYED = Counter(
    "relay_dlq_replayed",
    "Dead letters re-queued automatically because their cause went away, by trigger.",
    ["trigger"],
    registry=REGISTRY,
)
UNMATCHED = Counter(
    "relay_unmatched",
    "CRM records no ChartMogul customer matched, by what their source's `unmatched` policy did.",
    ["action"],
    registry=REGISTRY,
)

_STATUS_LABEL = re.compile(r"^[a-z0-9_]{1,32}$")


# Sources declared by a file (relay/sources/declared/), added at start-up by `declare_sources`.
_DECLARED: set[str] = set()


def source_label(name: str) -> str:
    return name if name in KNOWN_SOURCES or name in _DECLARED else "unknown"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def reason_label(error: Exception | str) -> str:
    """`InvalidSignature` → "invalid_signature"; strings pass through (bounded by the caller)."""
    if isinstance(error, str):
        return error
    return _snake(type(error).__name__)


# --- label values known in advance ------------------------------------------------------
# Each is exported as 0 from the first scrape: a series that only appears with its first event
# hides that event from rate(), increase() and delta(), and so from the alerts.

SOURCE_LABELS: tuple[str, ...] = (*KNOWN_SOURCES, "unknown")
# Why a webhook is refused: one reason per WebhookError subclass (relay/exceptions.py).
REJECTION_REASONS: tuple[str, ...] = tuple(sorted(_snake(c.__name__) for c in WebhookError.__subclasses__()))
# ChartMogul's answers to a PATCH that the relay expects (relay/chartmogul/client.py), plus
# "no_answer" (timeout, connection failed) and "rejected" (refused before an HTTP status).
DELIVERY_STATUSES: tuple[str, ...] = (
    *("200", "400", "401", "403", "404", "409", "422", "429", "500", "502", "503", "504"),
    *("no_answer", "rejected"),
)
# The fields delivery verifies (workers/verify.py): every plain field but primary_contact (never
# shown by ChartMogul), and tags and custom attributes as one label each.
VERIFIED_FIELDS: tuple[str, ...] = (*CUSTOMER_FIELDS, "tags", "custom")
# What a source's `unmatched` policy did with a record no customer matched (workers/unmatched.py):
# a lead created, the lead an earlier attempt created found, the events ignored or dead letters.
UNMATCHED_ACTIONS: tuple[str, ...] = ("created", "found", "ignored", "dead_letter")


def declare_sources(names: Iterable[str]) -> None:
    """Sources declared by a file get their own `source` label (their number is bounded by
    relay/sources/declared/catalog.py), exported at 0 from the first scrape like the others."""
    for name in names:
        if name in _DECLARED or name in SOURCE_LABELS:
            continue
        _DECLARED.add(name)
        for children, counter in _BOUND:
            children[name] = counter.labels(name)


def zero_web_series() -> None:
    """The web app's labelled counters at 0 for every known label value (called at start-up)."""
    for source in (*SOURCE_LABELS, *sorted(_DECLARED)):
        for counter in (
            WEBHOOKS_RECEIVED,
            EVENTS_RECEIVED,
            EVENTS_ACCEPTED,
            EVENTS_DUPLICATE,
            EVENTS_CONFLICTING_DUPLICATES,
        ):
            counter.labels(source)
        # An unknown source is only ever refused as such.
        for reason in ("source_disabled",) if source == "unknown" else REJECTION_REASONS:
            WEBHOOKS_REJECTED.labels(source, reason)


def zero_worker_series() -> None:
    """A worker's labelled counters at 0 for every expected ChartMogul answer."""
    for status in DELIVERY_STATUSES:
        DELIVERIES.labels(status)
    for name in VERIFIED_FIELDS:
        FIELDS_NOT_APPLIED.labels(name)
    for trigger in REPLAY_TRIGGERS:
        DLQ_REPLAYED.labels(trigger)
    for action in UNMATCHED_ACTIONS:
        UNMATCHED.labels(action)


# --- what the code calls ----------------------------------------------------------------


def _children(counter: Counter) -> dict[str, Counter]:
    """The counter's child for each source label, bound once: no label look-up per request."""
    return {label: counter.labels(label) for label in SOURCE_LABELS}


_RECEIVED = _children(WEBHOOKS_RECEIVED)
_EVENTS_RECEIVED = _children(EVENTS_RECEIVED)
_EVENTS_ACCEPTED = _children(EVENTS_ACCEPTED)
_EVENTS_DUPLICATE = _children(EVENTS_DUPLICATE)
_BOUND = (
    (_RECEIVED, WEBHOOKS_RECEIVED),
    (_EVENTS_RECEIVED, EVENTS_RECEIVED),
    (_EVENTS_ACCEPTED, EVENTS_ACCEPTED),
    (_EVENTS_DUPLICATE, EVENTS_DUPLICATE),
)


def record_webhook(source: str) -> None:
    _RECEIVED.get(source, _RECEIVED["unknown"]).inc()


def record_rejected(source: str, reason: Exception | str) -> None:
    WEBHOOKS_REJECTED.labels(source_label(source), reason_label(reason)).inc()


def record_accepted(source: str, *, accepted: int, duplicates: int, conflicting: int = 0) -> None:
    """`conflicting`: how many of the `duplicates` carried another change than the recorded event."""
    label = source_label(source)
    _EVENTS_RECEIVED[label].inc(accepted + duplicates)
    if accepted:
        _EVENTS_ACCEPTED[label].inc(accepted)
    if duplicates:
        _EVENTS_DUPLICATE[label].inc(duplicates)
    if conflicting:
        EVENTS_CONFLICTING_DUPLICATES.labels(label).inc(conflicting)


def record_delivery(status: int | str, events: int, latency_s: Sequence[float] = ()) -> None:
    """One PATCH answered (`status`: 200, 400, 429, …, "timeout"): how many events it carried,
    and for applied events how long each took from receipt."""
    label = str(status).lower()
    DELIVERIES.labels(label if _STATUS_LABEL.match(label) else "other").inc()
    if events > 0:
        PATCH_EVENTS.observe(events)
    for seconds in latency_s:
        DELIVERY_LATENCY.observe(max(0.0, seconds))


def record_not_applied(field: str) -> None:
    """A field ChartMogul did not keep (`field` one of VERIFIED_FIELDS, else "other")."""
    FIELDS_NOT_APPLIED.labels(field if field in VERIFIED_FIELDS else "other").inc()


def record_auto_replay(trigger: str, count: int = 1) -> None:
    """Dead letters re-queued automatically (`trigger`: one of REPLAY_TRIGGERS)."""
    DLQ_REPLAYED.labels(trigger if trigger in REPLAY_TRIGGERS else "other").inc(count)


def record_unmatched(action: str, count: int = 1) -> None:
    """Records no customer matched (`action`: one of UNMATCHED_ACTIONS)."""
    UNMATCHED.labels(action if action in UNMATCHED_ACTIONS else "other").inc(count)


def record_retry(count: int = 1) -> None:
    RETRIES.inc(count)


def record_rate_limit_wait(seconds: float) -> None:
    RATE_LIMIT_WAIT.observe(max(0.0, seconds))


class _Exposition:
    def __init__(self, collectors: Sequence[Collector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_collector() -> Collector:
    """This process's counters, or every process's when PROMETHEUS_MULTIPROC_DIR is set."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def exposition(state: RelayState | None = None, *, with_state: bool = True) -> bytes:
    """The text of /metrics: counts, plus the Redis gauges when `with_state`."""
    collectors: list[Collector] = [process_collector()]
    if with_state:
        collectors.append(StateCollector(state))
    return generate_latest(_Exposition(collectors))


def serve_metrics(port: int, addr: str = "0.0.0.0") -> Callable[[], None]:
    """Serve this process's counts on `port` (a worker's /metrics); returns a stop function."""
    server, thread = start_http_server(port, addr=addr, registry=_Exposition([process_collector()]))

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


__all__ = [
    "CONTENT_TYPE",
    "CUSTOMER_STATES",
    "DLQ_REASONS",
    "REGISTRY",
    "StateCollector",
    "declare_sources",
    "exposition",
    "record_accepted",
    "record_auto_replay",
    "record_delivery",
    "record_rate_limit_wait",
    "record_rejected",
    "record_retry",
    "record_unmatched",
    "record_webhook",
    "serve_metrics",
    "zero_web_series",
    "zero_worker_series",
]
