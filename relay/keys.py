"""Every Redis key and queue name the relay uses, in one place.

State of one customer's delivery (a customer key is in at most one of these at a time):
    idle      no entry anywhere (its pending set may still hold nothing)
    ready     member of READY: waiting for a worker
    leased    member of LEASES: a worker is delivering it (score: lease expiry, ms)
    retrying  member of RETRY: waiting for its next attempt (score: due time, ms)
"""

from __future__ import annotations

PREFIX = "relay"

READY = f"{PREFIX}:ready"
LEASES = f"{PREFIX}:leases"
LEASE_OWNERS = f"{PREFIX}:lease_owners"
RETRY = f"{PREFIX}:retry"
DLQ = f"{PREFIX}:dlq"
CIRCUIT = f"{PREFIX}:circuit"
RATE_LIMIT = f"{PREFIX}:ratelimit"
# Hash: CRM record ("hubspot:company:1246965") or look-up key → ChartMogul customer uuid.
LINKS = f"{PREFIX}:links"
# Sorted set of every retained event id by received time (ms): the event log's time index.
EVENTS = f"{PREFIX}:events"


def event(event_id: str) -> str:
    """Hash: the event's record (source, customer, change, status, timestamps)."""
    return f"{PREFIX}:event:{event_id}"


def event_history(event_id: str) -> str:
    """List: one JSON entry per thing that happened to the event (attempts, outcomes, replays)."""
    return f"{PREFIX}:event:{event_id}:history"


def pending(customer_key: str) -> str:
    """Sorted set: the customer's events waiting for delivery, scored by occurred_at (ms)."""
    return f"{PREFIX}:pending:{customer_key}"


def retry_state(customer_key: str) -> str:
    """Hash: attempt count and first failure time of the customer's current retry streak."""
    return f"{PREFIX}:retrystate:{customer_key}"


def customer_events(customer_key: str) -> str:
    """Sorted set: the customer's retained event ids by received time (ms)."""
    return f"{PREFIX}:customer_events:{customer_key}"
