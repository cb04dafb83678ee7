"""The CRM stand-ins answer as the CRMs document: auth, filters by modification time, paging."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.standins.hubspot import MAX_RESULTS, running_hubspot
from tests.standins.pipedrive import running_pipedrive

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(url: str, *, body: Any = None, headers: dict[str, str]) -> tuple[int, Any]:
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **headers})
    try:
        with _OPENER.open(request, timeout=10) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, orjson.loads(error.read())


def test_hubspot_search_filters_by_last_modified_and_pages_with_after() -> None:
    with running_hubspot() as hubspot:
        base_ms = 1_764_000_000_000
        for n in range(5):
            hubspot.put_company(str(8300 + n), {"name": f"Co {n}", "city": "Boston"}, modified_ms=base_ms + n)
        url = f"{hubspot.base_url}/crm/v3/objects/companies/search"
        auth = {"Authorization": f"Bearer {hubspot.token}"}
        query = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(base_ms + 1)}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["city"],
            "limit": 2,
        }
        status, first = call(url, body=query, headers=auth)
        _, second = call(url, body={**query, "after": first["paging"]["next"]["after"]}, headers=auth)
        _, last = call(url, body={**query, "after": "4"}, headers=auth)
        refused, _ = call(url, body=query, headers={"Authorization": "Bearer wrong"})
        too_far, _ = call(url, body={**query, "after": str(MAX_RESULTS)}, headers=auth)

    assert status == 200
    assert first["total"] == 4
    assert [r["id"] for r in first["results"] + second["results"]] == ["8301", "8302", "8303", "8304"]
    assert first["results"][0]["properties"]["city"] == "Boston"
    assert first["results"][0]["properties"]["hs_lastmodifieddate"].endswith("Z")
    assert "paging" not in last
    assert (refused, too_far) == (401, 400)


def test_pipedrive_lists_organizations_updated_since_with_a_cursor() -> None:
    with running_pipedrive() as pipedrive:
        start = datetime(2026, 12, 1, tzinfo=UTC)
        for n in range(3):
            pipedrive.put_organization(40 + n, {"name": f"Org {n}"}, updated=start + timedelta(hours=n))
        url = f"{pipedrive.base_url}/api/v2/organizations?updated_since=2026-12-01T01:00:00Z&limit=1"
        auth = {"x-api-token": pipedrive.token}
        status, first = call(url, headers=auth)
        _, second = call(f"{url}&cursor={first['additional_data']['next_cursor']}", headers=auth)
        refused, _ = call(url, headers={"x-api-token": "nope"})
        queries = pipedrive.queries()

    assert status == 200
    assert [o["id"] for o in first["data"] + second["data"]] == [41, 42]
    assert second["additional_data"]["next_cursor"] is None
    assert refused == 401
    assert queries[0]["updated_since"] == "2026-12-01T01:00:00Z"


@pytest.mark.parametrize("limit", ["0", "501"])
def test_pipedrive_refuses_a_page_size_it_does_not_serve(limit: str) -> None:
    with running_pipedrive() as pipedrive:
        status, body = call(
            f"{pipedrive.base_url}/api/v2/organizations?limit={limit}",
            headers={"x-api-token": pipedrive.token},
        )
    assert status == 400
    assert body["success"] is False
