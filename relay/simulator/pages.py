"""Cursor pagination in ChartMogul's page shape, as recorded.

Recordings (chartmogul-ruby `with_new_pagination/paginates_correctly.yml`, chartmogul-go
`customers.yaml`, 2023):
- `per_page` is honoured (`per_page=2` of 3 matches -> 2 entries, `has_more: true`);
- the first page (no `cursor` sent) also carries the deprecated `current_page`, `total_pages`
  (null on search), `per_page` and `page`; later pages only `entries`, `cursor`, `has_more`;
- `cursor` is an opaque string whenever the page has entries, the last page included, and
  null only for an empty answer: clients must loop on `has_more`, never on `cursor`.

Here a cursor is base64 of the last entry's list position (`id&uuid`); the next page starts
after it, so customers added meanwhile never make a page repeat or skip one already listed.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relay.simulator.customers import Customer
from relay.simulator.store import list_order

DEFAULT_PER_PAGE = 200
MAX_PER_PAGE = 200


class PageError(ValueError):
    """A bad `per_page` or `cursor` (answered 400 naming the parameter)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class PageRequest:
    per_page: int
    after: tuple[int, str] | None  # None: the first page

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PageRequest:
        raw = query.get("per_page")
        per_page = DEFAULT_PER_PAGE
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
                raise PageError(
                    f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {raw!r}", "per_page"
                )
            per_page = int(raw)
        cursor = query.get("cursor")
        return cls(per_page, _decode(cursor) if cursor else None)


def page(found: list[Customer], request: PageRequest, *, count_pages: bool = True) -> dict[str, Any]:
    """One page of `found` (in list order); `count_pages=False` answers `total_pages: null` as search does."""
    after = request.after
    rest = found if after is None else [c for c in found if list_order(c) > after]
    entries = rest[: request.per_page]
    has_more = len(rest) > len(entries)
    cursor = _encode(list_order(entries[-1])) if entries else None
    if after is not None:
        return {"entries": entries, "cursor": cursor, "has_more": has_more}
    return {
        "entries": entries,
        "current_page": 1,
        # recorded: an empty list answers total_pages 1
        "total_pages": max(1, math.ceil(len(found) / request.per_page)) if count_pages else None,
        "has_more": has_more,
        "per_page": request.per_page,
        "page": 1,
        "cursor": cursor,
    }


def _encode(position: tuple[int, str]) -> str:
    return base64.b64encode(f"{position[0]}&{position[1]}".encode()).decode()


def _decode(cursor: str) -> tuple[int, str]:
    try:
        c_id, amp, uuid = base64.b64decode(cursor, validate=True).decode().partition("&")
        if amp and c_id.lstrip("-").isdigit():
            return int(c_id), uuid
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise PageError(f"cursor {cursor!r} is not a cursor this API gave out", "cursor")
