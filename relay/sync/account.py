"""What ChartMogul holds now, read once through the paged customer list (200 per page): the
values a sync compares, and the keys records are matched by. Kept compact: memory grows with the
account, never with the export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from relay.changes import CUSTOMER_FIELDS

# The customer fields a sync can compare: ChartMogul answers them in its customer list
# (primary_contact it never answers, so a sync leaves it alone).
COMPARED_FIELDS = tuple(name for name in CUSTOMER_FIELDS if name != "primary_contact")


@dataclass(slots=True)
class Current:
    uuid: str
    fields: dict[str, Any]
    tags: tuple[str, ...]
    custom: dict[str, Any]


@dataclass(slots=True)
class Account:
    customers: dict[str, Current] = field(default_factory=dict)
    by_external_id: dict[str, list[str]] = field(default_factory=dict)
    by_email: dict[str, list[str]] = field(default_factory=dict)
    pages: int = 0

    def add(self, entry: dict[str, Any]) -> None:
        uuid = entry.get("uuid")
        if not isinstance(uuid, str):
            return
        attributes = entry.get("attributes") or {}
        self.customers[uuid] = Current(
            uuid,
            {name: entry.get(name) for name in COMPARED_FIELDS if entry.get(name) not in (None, "")},
            tuple(attributes.get("tags") or ()),
            dict(attributes.get("custom") or {}),
        )
        if external_id := entry.get("external_id"):
            self.by_external_id.setdefault(str(external_id), []).append(uuid)
        if email := entry.get("email"):
            self.by_email.setdefault(str(email).strip().lower(), []).append(uuid)


async def read_account(pages: AsyncIterator[list[dict[str, Any]]]) -> Account:
    account = Account()
    async for entries in pages:
        account.pages += 1
        for entry in entries:
            account.add(entry)
    return account


def list_calls(customers: int, per_page: int = 200) -> int:
    """List pages a read of `customers` customers costs (an empty account still costs one)."""
    return max(1, -(-customers // per_page))
