"""Pipedrive's organizations changed since a time, read through API v2's organization list.

    GET /api/v2/organizations?updated_since=2026-12-04T10:00:00Z&sort_by=update_time
        &sort_direction=asc&limit=500&cursor=…              x-api-token: <API token>
    -> {"success": true, "data": [{"id": 42, "name": …, "update_time": "…Z", "address": {…},
        "custom_fields": {…}}], "additional_data": {"next_cursor": "…" | null}}

Cursor paging, 500 a page at most, no cap on a query's results. `updated_since` is RFC 3339 to
the second and inclusive, so a time in milliseconds is rounded down: nothing is missed, a
record of that second may be read again (its event id is the same: enqueued once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Final

from relay.sources.crmapi import Changed, CrmApi, CrmApiSpec

LIST_PATH: Final = "/api/v2/organizations"
PAGE: Final = 500
API: Final = CrmApiSpec(
    name="Pipedrive",
    base_env="RELAY_PIPEDRIVE_API_BASE",
    token_env="RELAY_PIPEDRIVE_API_TOKEN",
    token_hint=(
        "a Pipedrive API token (Settings → Personal preferences → API) of a user who sees every organization"
    ),
    token_header="x-api-token",
    token_prefix="",
    # Pipedrive's budget is per company and day, with a burst limit per 2 s: a sync stays well under.
    requests_per_s=5.0,
)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).isoformat().replace("+00:00", "Z")


def modified_ms(organization: Any) -> int | None:
    """An organization's update_time: RFC 3339 in v2 ("…Z"), "YYYY-MM-DD HH:MM:SS" UTC in v1."""
    value = organization.get("update_time") if isinstance(organization, dict) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class PipedriveOrganizations:
    """Every organization Pipedrive changed at or after a time, oldest change first."""

    what = "Pipedrive organizations"
    restarts = 0  # cursor paging has no cap to start over at

    def __init__(self, api: CrmApi) -> None:
        self.api = api

    async def changed_since(self, since_ms: int) -> AsyncIterator[Changed]:
        query = {
            "updated_since": rfc3339(since_ms),
            "sort_by": "update_time",
            "sort_direction": "asc",
            "limit": str(PAGE),
        }
        cursor: str | None = None
        while True:
            answer = await self.api.request(
                "GET", LIST_PATH, query={**query, **({"cursor": cursor} if cursor else {})}
            )
            answer = answer if isinstance(answer, dict) else {}
            for organization in answer.get("data") or []:
                yield Changed(modified_ms(organization), organization)
            cursor = (answer.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return
