"""HubSpot's companies changed since a time, read through the CRM search API.

    POST /crm/v3/objects/companies/search          Authorization: Bearer <private app token>
    {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                    "value": "<ms>"}]}],
     "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
     "properties": [...the mapping's...], "limit": 200, "after": "<offset>"}

HubSpot's limits: 200 results a page, 10,000 a query (an `after` past that is refused), a few
search requests a second per token. So pages are read oldest change first, and when a query has
given 10,000 the next one starts at the last modification time read (GTE: the companies of that
same millisecond already read are skipped by id), instead of paging past the cap. Should 10,000
companies share one millisecond (a bulk import), those are read by id (`hs_object_id` GT the last
one, sorted by it) before moving past that millisecond.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any, Final

from relay.sources.crmapi import Changed, CrmApi, CrmApiSpec
from relay.sources.records import CrmRecords

SEARCH_PATH: Final = "/crm/v3/objects/companies/search"
MODIFIED: Final = "hs_lastmodifieddate"
ID: Final = "hs_object_id"
PAGE: Final = 200
MAX_RESULTS: Final = 10_000
API: Final = CrmApiSpec(
    name="HubSpot",
    base_env="RELAY_HUBSPOT_API_BASE",
    token_env="RELAY_HUBSPOT_ACCESS_TOKEN",
    token_hint="the access token of a HubSpot private app with the crm.objects.companies.read scope",
    token_header="Authorization",
    token_prefix="Bearer ",
    # HubSpot's search allows 4 to 5 requests a second per token; other apps may share it.
    requests_per_s=4.0,
)


def modified_ms(result: Any) -> int | None:
    """A search result's hs_lastmodifieddate (ISO 8601 in answers), else its updatedAt."""
    if not isinstance(result, dict):
        return None
    properties = result.get("properties") or {}
    for value in (properties.get(MODIFIED), result.get("updatedAt")):
        if isinstance(value, str):
            try:
                return int(datetime.fromisoformat(value).timestamp() * 1000)
            except ValueError:
                continue
    return None


def _filter(name: str, operator: str, value: int | str) -> dict[str, str]:
    return {"propertyName": name, "operator": operator, "value": str(value)}


class HubSpotCompanies:
    """Every company HubSpot changed at or after a time, oldest change first."""

    what = "HubSpot companies"

    def __init__(self, api: CrmApi, properties: Iterable[str]) -> None:
        self.api = api
        self.properties = sorted({*properties, MODIFIED, ID})
        self.restarts = 0  # queries started over at the 10,000-result cap

    async def changed_since(self, since_ms: int) -> AsyncIterator[Changed]:
        lower = since_ms
        seen: set[str] = set()  # ids already read whose modification time is `lower`
        while True:
            read, total = 0, 0
            last_ms, at_last = lower, set(seen)  # the newest time read, and the ids read at it
            async for result, query_total in self._query([_filter(MODIFIED, "GTE", lower)], MODIFIED):
                read, total = read + 1, query_total
                at, record_id = modified_ms(result), str(result.get("id"))
                if at == lower and record_id in seen:
                    continue
                if at is not None:
                    if at != last_ms:
                        last_ms, at_last = at, set()
                    at_last.add(record_id)
                yield Changed(at, result)
            if read < MAX_RESULTS or total <= read:
                return
            self.restarts += 1
            if last_ms == lower:  # 10,000 of one millisecond: read that millisecond by id
                async for change in self._one_millisecond(lower, at_last):
                    yield change
                lower, seen = lower + 1, set()
            else:
                lower, seen = last_ms, at_last

    async def _one_millisecond(self, at_ms: int, seen: set[str]) -> AsyncIterator[Changed]:
        """The companies changed in millisecond `at_ms` not in `seen`, by id, 10,000 a query."""
        after_id = 0
        while True:
            read = 0
            filters = [_filter(MODIFIED, "EQ", at_ms), _filter(ID, "GT", after_id)]
            async for result, _ in self._query(filters, ID):
                read += 1
                record_id = str(result.get("id"))
                if record_id.isdigit():
                    after_id = max(after_id, int(record_id))
                if record_id not in seen:
                    yield Changed(modified_ms(result), result)
            if read < MAX_RESULTS:
                return
            self.restarts += 1

    async def _query(self, filters: list[dict[str, str]], sort: str) -> AsyncIterator[tuple[Any, int]]:
        """One query's results, page by page up to the cap, each with the query's total."""
        after: str | None = None
        for _ in range(MAX_RESULTS // PAGE):
            body: dict[str, Any] = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "properties": self.properties,
                "limit": PAGE,
                **({"after": after} if after else {}),
            }
            answer = await self.api.request("POST", SEARCH_PATH, body=body)
            answer = answer if isinstance(answer, dict) else {}
            total = int(answer.get("total") or 0)
            for result in answer.get("results") or []:
                yield result, total
            after = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return


def properties_to_read(records: CrmRecords, rules: Iterable[str], link_property: str | None) -> list[str]:
    """The company properties a search must ask for: those the mapping reads (their first path
    segment), its link property, and the id."""
    wanted = {rule.split(".")[0] for rule in rules} | {records.id_property}
    if link_property:
        wanted.add(link_property.split(".")[0])
    return sorted(wanted)
