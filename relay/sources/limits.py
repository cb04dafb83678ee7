"""Bounds on what one webhook may hold, checked before any CRM-specific work.

A CRM's body is at most RELAY_MAX_BODY_BYTES, but a megabyte of JSON or XML can still be 150,000
levels deep or 60,000 keys wide, which costs the event loop hundreds of milliseconds (or a
RecursionError, or orjson's depth limit when the event is stored). No real CRM payload comes
near these:

    MAX_DEPTH     32       nesting of JSON values / XML elements (real payloads: 2 to 6)
    MAX_ENTRIES   1,000    keys of one object, items of one list, fields an event changes
    MAX_VALUES    20,000   JSON values / XML elements in one body (a 100-event batch: ~1,500)

A breach is a 422 naming the limit and where it was met. The XML reader (relay/sources/xml.py)
enforces them while it parses; for JSON orjson parses in C first (its own depth limit is 1024),
then `check_json` walks the document and stops at the first breach.
"""

from __future__ import annotations

import time
from typing import Any

from relay.exceptions import InvalidEvent

MAX_DEPTH = 32
MAX_ENTRIES = 1_000
MAX_VALUES = 20_000
YIELD_EVERY = 2_000  # values walked between releases of the GIL (well under a millisecond)


def too_deep(what: str) -> InvalidEvent:
    return InvalidEvent(f"{what} nests deeper than {MAX_DEPTH} levels (the limit)")


def too_many_values(what: str) -> InvalidEvent:
    return InvalidEvent(f"{what} holds more than {MAX_VALUES} values (the limit)")


def check_entries(count: int, where: str, what: str = "entries") -> None:
    if count > MAX_ENTRIES:
        raise InvalidEvent(f"{where} holds {count} {what}, more than {MAX_ENTRIES} (the limit)")


def check_json(doc: Any, *, what: str = "body") -> None:
    """Raise InvalidEvent at the first limit `doc` breaks; iterative, so depth costs no stack."""
    values = 0
    stack: list[tuple[Any, int, str]] = [(doc, 1, what)]
    while stack:
        value, depth, where = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise too_many_values(what)
        if not values % YIELD_EVERY:
            time.sleep(0)  # in the parser thread: let the event loop take the GIL now and then
        if isinstance(value, dict):
            if depth >= MAX_DEPTH and value:
                raise too_deep(what)
            check_entries(len(value), where, "keys")
            stack.extend((child, depth + 1, f"{where}.{key}") for key, child in value.items())
        elif isinstance(value, list):
            if depth >= MAX_DEPTH and value:
                raise too_deep(what)
            check_entries(len(value), where, "items")
            stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(value))
