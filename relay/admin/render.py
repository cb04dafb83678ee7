"""Text for the terminal: what `relay events`, `relay dlq` and `relay status` print (the JSON
they print with --json is the admin API's, unchanged)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from relay.admin.queries import iso
from relay.admin.state import RelayState


def duration(seconds: float) -> str:
    """4.2 → "4.2s"; 252 → "4m 12s"; 90061 → "1d 1h"."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def ago(moment: str | None, now_ms: int) -> str:
    if not moment:
        return "never"
    seconds = now_ms / 1000 - datetime.fromisoformat(moment).timestamp()
    return f"{duration(max(0.0, seconds))} ago"


def compact_json(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def events_table(records: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        [
            r.get("received_at") or "",
            r["event_id"],
            r["source"],
            r["customer"],
            r["status"],
            str(r["attempts"]),
            str(r.get("reason") or ""),
        ]
        for r in records
    ]
    return table(rows, ["RECEIVED", "EVENT", "SOURCE", "CUSTOMER", "STATUS", "ATTEMPTS", "REASON"])


def dead_letters_table(records: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        [
            r.get("dead_at") or "",
            r["event_id"],
            r["source"],
            r["customer"],
            str(r.get("reason") or ""),
            str(r.get("http_status") or ""),
            str(r.get("error") or "")[:80],
        ]
        for r in records
    ]
    return table(rows, ["DEAD AT", "EVENT", "SOURCE", "CUSTOMER", "REASON", "HTTP", "ERROR"])


def event_text(detail: dict[str, Any]) -> list[str]:
    event = detail["event"]
    lines = [f"Event {event['event_id']}  ({event['status']})"]
    for label, name in (
        ("source", "source"),
        ("customer", "customer"),
        ("occurred", "occurred_at"),
        ("received", "received_at"),
        ("attempts", "attempts"),
        ("reason", "reason"),
        ("http status", "http_status"),
        ("error", "error"),
        ("applied by", "applied_by"),
        ("applied", "applied_fields"),
        ("not applied", "not_applied"),
    ):
        if event.get(name) not in (None, ""):
            lines.append(f"  {label + ':':<13}{event[name]}")
    lines.append(f"  {'change:':<13}{compact_json(event.get('change'))}")
    if event.get("patch") is not None:
        lines.append(f"  {'calls sent:':<13}{compact_json(event['patch'])}")
    lines.append(f"  {'payload:':<13}{compact_json(event.get('raw'))[:2000]}")
    lines.append("History")
    for entry in detail["history"]:
        rest = {k: v for k, v in entry.items() if k not in ("at_ms", "what")}
        lines.append(
            f"  {iso(entry.get('at_ms'))}  {entry.get('what', '?'):<10} {compact_json(rest) if rest else ''}"
        )
    return lines


def replay_text(result: dict[str, Any]) -> list[str]:
    outcome = result["outcome"].replace("_", " ")
    mode = {"remapped": "re-mapped through the current mapping", "as_stored": "the stored change"}.get(
        result.get("mode") or "", ""
    )
    head = f"{result['event_id']}: {outcome}" + (
        f" ({mode})" if mode and result["outcome"] != "skipped" else ""
    )
    if result.get("customer"):
        head += f" → {result['customer']}"
    lines = [head]
    if result.get("warning"):
        lines.append(f"  warning: {result['warning']}")
    if result.get("error"):
        lines.append(f"  {result['error']}")
    if "change" in result and result["outcome"] == "would_replay":
        same = " (same as stored)" if result.get("differs_from_stored") is False else ""
        lines.append(f"  change{same}: {compact_json(result['change'])}")
        lines.append(f"  PATCH body: {compact_json(result['patch'])}")
        merged = result.get("merged_at_delivery")
        if merged:
            ops = {k: v for k, v in merged.items() if v}
            lines.append(f"  + tag and custom attribute calls at delivery: {compact_json(ops)}")
    return lines


def status_text(state: RelayState, *, redis_url: str) -> list[str]:
    now = state.at_ms
    lines = [f"relay status  {iso(now)}  redis {redis_url}  queue {state.queue_name!r}", ""]
    lines.append(
        f"Delivery     ready {state.ready} · delivering {state.delivering} · retrying {state.retrying}"
        f" customers · {state.rq_jobs_waiting} wake-up job(s) queued"
    )
    oldest = state.oldest_waiting
    if oldest is None:
        lines.append("Oldest wait  nothing is waiting")
    else:
        lines.append(f"Oldest wait  {duration(oldest.age_s)} ({oldest.event_id} for {oldest.customer})")
    circuit = state.circuit
    if state.circuit_open:
        lines.append(
            f"Circuit      OPEN since {circuit.get('since')} ({ago(circuit.get('since'), now)}):"
            f" {circuit.get('reason')} · delivery paused, {circuit.get('probes', 0)} probe(s) so far"
        )
    else:
        lines.append("Circuit      closed")
    rate = state.rate
    limits = [f"{rate.get('requests_in_flight', 0)} request(s) in flight"]
    if rate.get("connections_cap_lowered_to") is not None:
        limits.append(
            f"connection cap lowered to {rate['connections_cap_lowered_to']}"
            f" for {rate.get('connections_cap_lowered_for_s')}s (after a 503)"
        )
    if rate.get("slowdown_factor", 1.0) > 1.0:
        limits.append(
            f"rate slowed x{rate['slowdown_factor']:g} for {rate.get('slowdown_for_s')}s (after a 429)"
        )
    if rate.get("rate_backlog_ms"):
        limits.append(f"{rate['rate_backlog_ms']} ms of requests booked ahead")
    lines.append("Rate limit   " + " · ".join(limits))
    lines.append(
        f"Workers      {len(state.workers)} alive" + ("" if state.workers else " — nothing delivers!")
    )
    for worker in state.workers:
        job = f" · job {worker.current_job}" if worker.current_job else ""
        lines.append(
            f"  {worker.name}  {worker.state}  heartbeat {ago(worker.last_heartbeat, now)}"
            f" · {worker.successful_jobs} ok / {worker.failed_jobs} failed jobs{job}"
        )
    if state.dlq_total:
        reasons = " · ".join(f"{reason} {count}" for reason, count in sorted(state.dlq_by_reason.items()))
        lines.append(f"Dead letters {state.dlq_total}: {reasons}  (relay dlq list)")
    else:
        lines.append("Dead letters none")
    return lines
