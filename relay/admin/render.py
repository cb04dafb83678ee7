"""Text for the terminal: what `relay events`, `relay dlq` and `relay status` print (the JSON
they print with --json is the admin API's, unchanged)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from relay.admin.state import RelayState
from relay.times import iso


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


def table(
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    *,
    width: int | None = None,
    shrink: int | None = None,
) -> list[str]:
    """Columns padded to their widest cell. With `width` (the terminal's), the last column is
    wrapped at word boundaries to fit beside the others, or, when too little room is left, on
    lines of its own below its row; at most MAX_TEXT_LINES, the rest abbreviated with "…". When
    the other columns alone are wider than the terminal, column `shrink` is abbreviated with "…"
    (never an id an operator pastes into the next command)."""
    fixed = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    over = sum(fixed) + 2 * len(fixed) - (width or 0)
    if width and shrink is not None and over > 0:
        fixed[shrink] = max(MIN_SHRUNK, fixed[shrink] - over)
    indent = sum(fixed) + 2 * len(fixed)
    room = (width - indent) if width else None
    below = room is not None and room < MIN_TEXT_WIDTH

    def line(cells: Sequence[str]) -> str:
        return "  ".join(abbreviated(str(c), w).ljust(w) for c, w in zip(cells, fixed, strict=False))

    # Text below its row: its column's name would only widen the header past the terminal.
    lines = [(line(header) + ("" if below else "  " + header[-1])).rstrip()]
    for row in rows:
        text = str(row[-1])
        if room is None:
            lines.append((line(row) + "  " + text).rstrip())
        elif below:
            lines.append(line(row).rstrip())
            lines += ["    " + part for part in wrapped(text, (width or 80) - 4)]
        else:
            parts = wrapped(text, room) or [""]
            lines.append((line(row) + "  " + parts[0]).rstrip())
            lines += [" " * indent + part for part in parts[1:]]
    return lines


MIN_SHRUNK = 12


def abbreviated(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


MIN_TEXT_WIDTH = 30
MAX_TEXT_LINES = 3


def wrapped(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, broken between words; a word longer than a line,
    and lines past MAX_TEXT_LINES, end in "…" (never cut off without saying so)."""
    width = max(width, 10)
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    lines = [part if len(part) <= width else part[: width - 1] + "…" for part in lines]
    if len(lines) > MAX_TEXT_LINES:
        last = lines[MAX_TEXT_LINES - 1]
        lines = [*lines[: MAX_TEXT_LINES - 1], (last[: width - 1] if len(last) >= width else last) + "…"]
    return lines


def short_time(moment: str | None) -> str:
    """ISO time to the second, still ISO (and UTC, with its Z): `2026-12-05T11:09:41Z`."""
    if not moment:
        return ""
    return moment.split(".")[0].removesuffix("Z") + "Z"


def status_label(record: dict[str, Any]) -> str:
    reason = record.get("reason")
    return (
        f"{record['status']}: {reason}"
        if reason and record["status"] in ("dead", "ignored")
        else record["status"]
    )


def events_table(records: Sequence[dict[str, Any]], *, width: int | None = None) -> list[str]:
    rows = [
        [
            short_time(r.get("occurred_at")),
            short_time(r.get("received_at")),
            r["event_id"],
            r["customer"],
            status_label(r),
            ", ".join(r.get("fields") or []),
        ]
        for r in records
    ]
    header = ["OCCURRED", "RECEIVED", "EVENT", "CUSTOMER", "STATUS", "FIELDS"]
    return table(rows, header, width=width, shrink=3)


def dead_letters_table(records: Sequence[dict[str, Any]], *, width: int | None = None) -> list[str]:
    rows = [
        [
            short_time(r.get("dead_at")),
            r["event_id"],
            r["customer"],
            str(r.get("reason") or "") + (" (edited)" if r.get("edited") else ""),
            str(r.get("http_status") or ""),
            str(r.get("error") or ""),
        ]
        for r in records
    ]
    return table(rows, ["DEAD AT", "EVENT", "CUSTOMER", "REASON", "HTTP", "ERROR"], width=width, shrink=2)


def event_text(detail: dict[str, Any]) -> list[str]:
    """The record's current state (what the latest outcome found), then its history (every
    attempt, in order): the two are never mixed."""
    event = detail["event"]
    lines = [f"Event {event['event_id']}  ({status_label(event)})"]

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            lines.append(f"  {label + ':':<16}{value}")

    add("source", event.get("source"))
    add("customer", event.get("customer"))
    add("occurred", event.get("occurred_at"))
    add("received", event.get("received_at"))
    add("fields", ", ".join(event.get("fields") or []))
    add("attempts", f"{event.get('attempts', 0)} (deliveries that sent it to ChartMogul)")
    add("http status", event.get("http_status"))
    add("error", event.get("error"))
    add("applied", (event.get("applied_fields") or "").replace(",", ", "))
    add("not applied", event.get("not_applied"))
    add("stale", stale_text(event.get("stale_fields")))
    add("delivered with", (event.get("delivered_with") or "").replace(",", ", "))
    if event.get("edited"):
        add("edited", f"{event.get('edited_at')}: a replay sends the edited change (--remap re-maps)")
    lines.append(f"  {'change:':<16}{compact_json(event.get('change'))}")
    if event.get("patch") is not None:
        lines.append(f"  {'calls sent:':<16}{compact_json(event['patch'])}")
    if event.get("planned_calls") is not None:
        lines.append(f"  {'not sent:':<16}{compact_json(event['planned_calls'])} (refused before sending)")
    lines.append(f"  {'payload:':<16}{compact_json(event.get('raw'))[:2000]}")
    step = event.get("next_step")
    if step:
        lines.append(f"What to do: {step['what_to_do']}")
        if step.get("command"):
            lines.append(f"  {step['command']}")
    lines.append("History")
    for entry in detail["history"]:
        lines.append(
            f"  {iso(entry.get('at_ms'))}  {entry.get('what', '?'):<10} {history_text(entry)}".rstrip()
        )
    return lines


def stale_text(won: Any) -> str:
    """`{"city": "evt_9", "zip": "evt_9"}` → "city, zip (newer: evt_9)"."""
    if not isinstance(won, dict) or not won:
        return ""
    by_winner: dict[str, list[str]] = {}
    for key, winner in won.items():
        by_winner.setdefault(str(winner or ""), []).append(key)
    parts = [
        ", ".join(keys) + (f" (newer: {winner})" if winner else " (a newer change was applied)")
        for winner, keys in by_winner.items()
    ]
    return "; ".join(parts)


# History details that are the relay's own bookkeeping, not what happened.
_INTERNAL = ("at_ms", "what", "idempotency_key")


def history_text(entry: dict[str, Any]) -> str:
    rest = {k: v for k, v in entry.items() if k not in _INTERNAL}
    others = rest.pop("coalesced_with", None)
    text = compact_json(rest) if rest else ""
    if others:
        text = f"with {others} other event(s) in one delivery {text}".rstrip()
    return text


def replay_text(result: dict[str, Any]) -> list[str]:
    """One replay (or its dry run): which change it sends and why that one: the edited change,
    the stored one, or the CRM payload re-mapped (and what differs from the stored change)."""
    outcome = result["outcome"].replace("_", " ")
    mode = result.get("mode") or ""
    if mode == "as_stored" and result.get("edited"):
        how = "as edited; --remap re-maps the CRM payload instead"
    else:
        how = {"remapped": "re-mapped through the current mapping", "as_stored": "the stored change"}.get(
            mode, ""
        )
    head = f"{result['event_id']}: {outcome}" + (
        f" ({how})" if how and result["outcome"] != "skipped" else ""
    )
    if result.get("customer"):
        head += f" → {result['customer']}"
    lines = [head]
    if result.get("warning"):
        lines.append(f"  warning: {result['warning']}")
    if result.get("error"):
        lines.append(f"  {result['error']}")
    if "change" in result and result["outcome"] == "would_replay":
        if mode == "remapped":
            differences = result.get("differences") or []
            lines.append(
                "  differs from the stored change: " + ", ".join(differences)
                if differences
                else "  same as the stored change"
            )
        lines.append(f"  change: {compact_json(result['change'])}")
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
        left = max(0.0, state.dlq_retention_s - state.dlq_oldest_age_s)
        lines.append(
            f"             oldest died {duration(state.dlq_oldest_age_s)} ago; it expires in {duration(left)}"
            f" (kept {duration(state.dlq_retention_s)}: RELAY_DLQ_TTL_S)"
        )
    else:
        lines.append("Dead letters none")
    return lines
