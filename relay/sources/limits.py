"""Bounds on what one webhook may hold, checked before any CRM-specific work.

A CRM's body is at most RELAY_MAX_BODY_BYTES, but a megabyte of JSON or XML can still be 150,000
levels deep or 60,000 keys wide, which costs the event loop hundreds of milliseconds (or a
RecursionError, or orjson's depth limit when the event is stored). No real CRM payload comes
near these:

    MAX_DEPTH     32       nesting of JSON values / XML elements (real payloads: 2 to 6)
    MAX_ENTRIES   1,000    keys of one object, items of one list, fields an event changes
    MAX_VALUES    20,000   JSON values / XML elements in one body (a 100-event batch: ~1,500)

A breach is a 422 naming the limit and where it was met, and refuses the whole request: inside
a CRM's batch, where one event's own problem only makes that event a dead letter, a breach is
still the body's (`InvalidEvent.limit`). The XML reader (relay/sources/xml.py)
enforces them while it parses; for JSON orjson parses in C first (its own depth limit is 1024),
then `check_json` walks the document and stops at the first breach.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

from relay.exceptions import InvalidEvent

MAX_DEPTH = 32
MAX_ENTRIES = 1_000
MAX_VALUES = 20_000
YIELD_EVERY = 2_000  # values walked between releases of the GIL (well under a millisecond)


def too_deep(what: str) -> InvalidEvent:
    return InvalidEvent(f"{what} nests deeper than {MAX_DEPTH} levels (the limit)", limit=True)


def too_many_values(what: str) -> InvalidEvent:
    return InvalidEvent(f"{what} holds more than {MAX_VALUES} values (the limit)", limit=True)


def check_entries(count: int, where: str, what: str = "entries") -> None:
    if count > MAX_ENTRIES:
        raise InvalidEvent(f"{where} holds {count} {what}, more than {MAX_ENTRIES} (the limit)", limit=True)


def within_limits_by_size(text: str | bytes) -> bool:
    """True when JSON this short cannot meet a limit, so `check_json` need not walk it: fewer
    than MAX_DEPTH brackets cannot nest MAX_DEPTH deep, and each entry or value takes at least
    two characters (itself and a separator). Brackets inside strings only count against it."""
    if len(text) >= 2 * MAX_ENTRIES:
        return False
    if isinstance(text, str):
        return text.count("{") + text.count("[") < MAX_DEPTH
    return text.count(b"{") + text.count(b"[") < MAX_DEPTH


def check_json(doc: Any, *, what: str = "body") -> None:
    """Raise InvalidEvent at the first limit `doc` breaks; iterative, so depth costs no stack.
    The walk visits containers only and names nothing (a path string per value cost more than
    the walk); only a breach walks again to say where it is."""
    values, next_yield = 1, YIELD_EVERY
    stack: list[tuple[Any, int]] = [(doc, 1)] if type(doc) in _CONTAINERS else []
    while stack:
        value, depth = stack.pop()
        if (depth >= MAX_DEPTH and value) or len(value) > MAX_ENTRIES:
            _name_breach(doc, what)
        values += len(value)
        if values > MAX_VALUES:
            raise too_many_values(what)
        if values >= next_yield:
            time.sleep(0)  # in the parser thread: let the event loop take the GIL now and then
            next_yield += YIELD_EVERY
        for child in value.values() if type(value) is dict else value:
            if type(child) in _CONTAINERS:  # orjson makes exactly these, never a subclass
                stack.append((child, depth + 1))


_CONTAINERS = (dict, list)


def _name_breach(doc: Any, what: str) -> NoReturn:
    """Raise the breach the fast walk met, naming the value: `body.custom.set: holds 1001 keys`."""
    stack: list[tuple[Any, int, str]] = [(doc, 1, what)]
    while stack:
        value, depth, where = stack.pop()
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
    raise AssertionError("the walk that names a breach met none")
