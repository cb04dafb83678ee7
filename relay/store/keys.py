"""Every Redis key the relay uses, in one place (RQ's own keys are RQ's: see relay/queue.py).

State of one customer's delivery (a customer key is in at most one of these at a time):
    idle      no entry anywhere (its pending set may still hold nothing)
    ready     member of READY: waiting for a worker
    leased    member of LEASES: a worker is delivering it (score: lease expiry, ms)
    retrying  member of RETRY: waiting for its next attempt (score: due time, ms)

Keys built from outside input (event ids, customer references) never meet another's: each family
is a fixed prefix that no other key or family starts with (`relay:event:`, `relay:history:`,
`relay:pending:`…; `relay:events` is not under `relay:event:`), followed by the input itself,
so within a family the key is as unique as the input, and the inputs are made unique:
    event ids     a CRM's are "<source>:<its id>" (ids without ':'; a source declared by a file
                  keeps its sender's text, which may hold ':', after its own name, and refuses
                  one that starts "invalid-", its dead letters' ids); a generic id that starts
                  with another source's name (a declared one's too) and ':' is refused (422)
    customer keys CustomerRef.key: injective (tests/sources/test_key_namespaces.py)
    links fields  CRM records ("<source>:<object>:<id>"), customer keys ("crm:", "ext:",
                  "email:", …) and parent entries ("parent:" + a CRM record): no source is
                  named like a customer key's prefix or "parent" (relay/crms.py RESERVED_NAMES)
    causes        "link:" + a links field, "owner:" + an email, or "retries_exhausted"
                  (relay/store/replays.py): a kind's prefix, then what is unique within it
"""

from __future__ import annotations

PREFIX = "relay"

READY = f"{PREFIX}:ready"
LEASES = f"{PREFIX}:leases"
LEASE_OWNERS = f"{PREFIX}:lease_owners"
RETRY = f"{PREFIX}:retry"
# Sorted set of dead event ids, scored by when they died in microseconds (Redis's clock), so
# dead letters of the same millisecond still list newest first.
DLQ = f"{PREFIX}:dlq:us"
# The first layout scored the DLQ in milliseconds; Store.migrate moves it to DLQ.
DLQ_MS = f"{PREFIX}:dlq"
# Hash {state: open, since_ms, reason, probes}: ChartMogul refused our credentials; absent = closed.
CIRCUIT = f"{PREFIX}:circuit"
# String with TTL: one worker's turn to probe ChartMogul while the circuit is open.
CIRCUIT_PROBE = f"{PREFIX}:circuit:probe"
# String: the fleet's next free send time (ms), GCRA's "theoretical arrival time".
RATE_LIMIT = f"{PREFIX}:ratelimit"
# List: the fleet's last reserved send times (ms), for the per-second window.
RATE_SENDS = f"{PREFIX}:ratelimit:sends"
# String with TTL: a slow-down factor for the shared rate after ChartMogul answered 429.
RATE_SLOWDOWN = f"{PREFIX}:ratelimit:slowdown"
# Sorted set: requests in flight to ChartMogul across the fleet (score: slot expiry, ms).
CONNECTIONS = f"{PREFIX}:connections"
# String with TTL: a lowered connection cap after ChartMogul answered 503.
CONNECTIONS_CAP = f"{PREFIX}:connections:cap"
# Hash: CRM record ("hubspot:company:1246965") or look-up key → ChartMogul customer uuid; and
# parent_link(record) → the CRM record of the record's parent ("" for none), which the web app
# writes in the same call as the events that prove it.
LINKS = f"{PREFIX}:links"
PARENT_FIELD = "parent:"
# Sorted set of every retained event id by received time (ms): the event log's time index.
EVENTS = f"{PREFIX}:events"
# Counter bumped by each accept when replicas must confirm it (RELAY_REDIS_REPLICA_ACKS).
REPLICA_ACK = f"{PREFIX}:replica_ack"
# Sorted set: source → the newest CRM modification time (ms) `relay sync --from-api` has read and
# enqueued all changes up to; a run without --since reads from there. Moved with ZADD GT only.
SYNC_WATERMARKS = f"{PREFIX}:sync_watermarks"
# List of the newest `relay sync` runs, newest first (JSON: what each read and enqueued).
SYNC_RUNS = f"{PREFIX}:sync_runs"
# List of JSON triggers: a dead letter's cause went away (relay/store/replays.py), oldest first.
REPLAY_TRIGGERS = f"{PREFIX}:replay:triggers"
# String with TTL: one worker's turn to act on the triggers (workers/replays.py).
REPLAY_TURN = f"{PREFIX}:replay:turn"
# Hash {failed_at_ms, healthy_since_ms}: the fleet's last failed delivery (a 5xx, a timeout, the
# circuit opening) and its first success since; `retries_exhausted` waits for it to be healthy.
DELIVERY_HEALTH = f"{PREFIX}:delivery_health"
# Sorted sets, one per cause: the dead letters waiting for it, scored by when each died (µs).
DLQ_CAUSE_FAMILY = f"{PREFIX}:dlq:cause:"


# The key families of one accepted event, in the order accept_many.lua takes them: a family's
# prefix followed by the event id (record, history) or the customer key (pending, events index).
EVENT_FAMILY = f"{PREFIX}:event:"
HISTORY_FAMILY = f"{PREFIX}:history:"
PENDING_FAMILY = f"{PREFIX}:pending:"
CUSTOMER_EVENTS_FAMILY = f"{PREFIX}:customer_events:"
ACCEPT_FAMILIES = (EVENT_FAMILY, HISTORY_FAMILY, PENDING_FAMILY, CUSTOMER_EVENTS_FAMILY)


def event(event_id: str) -> str:
    """Hash: the event's record (source, customer, change, status, timestamps)."""
    return EVENT_FAMILY + event_id


def event_history(event_id: str) -> str:
    """List: one JSON entry per thing that happened to the event (attempts, outcomes, replays).
    A prefix of its own: under `event:` an event id ending in ":history" would name this list."""
    return HISTORY_FAMILY + event_id


def pending(customer_key: str) -> str:
    """Sorted set: the customer's events waiting for delivery, scored by occurred_at (ms)."""
    return PENDING_FAMILY + customer_key


def retry_state(customer_key: str) -> str:
    """Hash: attempt count and first failure time of the customer's current retry streak."""
    return f"{PREFIX}:retrystate:{customer_key}"


def customer_events(customer_key: str) -> str:
    """Sorted set: the customer's retained event ids by received time (ms)."""
    return CUSTOMER_EVENTS_FAMILY + customer_key


def parent_link(crm_record: str) -> str:
    """Field of LINKS: the parent (a contact's company) of `crm_record`, as a CRM record."""
    return PARENT_FIELD + crm_record


def lookup(reference_key: str) -> str:
    """String with TTL: a cached ChartMogul look-up of an external_id or email → uuid."""
    return f"{PREFIX}:lookup:{reference_key}"


def traffic(minute: int) -> str:
    """Hash: webhook requests of one minute (epoch ms // 60000) by "<source>:<outcome>"."""
    return f"{PREFIX}:traffic:{minute}"


def bulk_job(job_id: str) -> str:
    """Hash: a console bulk replay's progress (job ids are the relay's own hex tokens)."""
    return f"{PREFIX}:bulkjob:{job_id}"


def bulk_results(job_id: str) -> str:
    """List: the results of a console bulk replay, one JSON entry per event, in order."""
    return f"{PREFIX}:bulkresults:{job_id}"


def applied_fields(customer_uuid: str) -> str:
    """Hash: field ("city", "primary_contact.email", "tag:vip", "custom:CAC") → "<occurred_at
    ms>:<event id>" of the newest change applied to it (the first layout: the ms alone); older
    changes to that field are stale, and that event is the one that won."""
    return f"{PREFIX}:applied:{customer_uuid}"


def dlq_cause(cause: str) -> str:
    """Sorted set: the dead letters a cause ("link:<field>", "owner:<email>", "retries_exhausted")
    keeps dead, scored by when each died (µs, as the DLQ): relay/store/replays.py."""
    return DLQ_CAUSE_FAMILY + cause


def inflight(customer_uuid: str) -> str:
    """Hash: the PATCH being sent (body, idempotency key, event ids), written before sending, so a
    worker that dies between "ChartMogul applied it" and "marked applied" is recovered without
    applying it twice."""
    return f"{PREFIX}:inflight:{customer_uuid}"
