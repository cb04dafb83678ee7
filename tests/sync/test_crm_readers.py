"""Reading what a CRM changed from its own API, against our CRM stand-ins over real HTTP: HubSpot's
search past its 10,000-result cap, Pipedrive's cursor, rate limits waited out, and every failure
one clear line naming what to fix."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relay.exceptions import CrmAuthFailed, CrmUnavailable
from relay.sources.crmapi import Changed, CrmApi
from relay.sources.hubspot import api as hubspot_api
from relay.sources.pipedrive import api as pipedrive_api
from tests.standins.hubspot import MAX_RESULTS, HubSpotHandle, running_hubspot
from tests.standins.pipedrive import PipedriveHandle, running_pipedrive

BASE_MS = 1_764_000_000_000
FAST = 200.0  # requests a second: the stand-ins have no limit of their own to honour


def read_hubspot(
    hubspot: HubSpotHandle, since_ms: int, *, token: str | None = None, per_s: float = FAST, base: str = ""
) -> tuple[list[Changed], int, int]:
    """(what was read, requests sent, cap restarts)."""

    async def main() -> tuple[list[Changed], int, int]:
        config = hubspot_api.API.config(base or hubspot.base_url, token or hubspot.token, per_s)
        async with CrmApi.open(config) as api:
            reader = hubspot_api.HubSpotCompanies(api, ["name", "city"])
            found = [change async for change in reader.changed_since(since_ms)]
            return found, api.requests, reader.restarts

    return asyncio.run(main())


def read_pipedrive(pipedrive: PipedriveHandle, since_ms: int, *, token: str | None = None) -> list[Changed]:
    async def main() -> list[Changed]:
        config = pipedrive_api.API.config(pipedrive.base_url, token or pipedrive.token, FAST)
        async with CrmApi.open(config) as api:
            reader = pipedrive_api.PipedriveOrganizations(api)
            return [change async for change in reader.changed_since(since_ms)]

    return asyncio.run(main())


def ids(changes: Sequence[Changed]) -> list[str]:
    return [str(change.doc["id"]) for change in changes]


def filters(search: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["propertyName"], f["operator"], f["value"]) for f in search["filterGroups"][0]["filters"]]


def test_hubspot_reads_companies_changed_since_oldest_first_with_the_mapped_properties() -> None:
    with running_hubspot() as hubspot:
        hubspot.put_company(8301, {"name": "Old", "city": "Rome"}, modified_ms=BASE_MS - 1)
        hubspot.put_company(8303, {"name": "Later", "city": "Oslo", "industry": "x"}, modified_ms=BASE_MS + 2)
        hubspot.put_company(8302, {"name": "Sooner", "city": "Lima"}, modified_ms=BASE_MS)

        found, requests, restarts = read_hubspot(hubspot, BASE_MS)
        [search] = hubspot.searches()

    assert ids(found) == ["8302", "8303"]
    assert [c.modified_ms for c in found] == [BASE_MS, BASE_MS + 2]
    assert found[1].doc["properties"]["city"] == "Oslo"
    assert "industry" not in found[1].doc["properties"]  # not asked for: not read
    assert filters(search) == [("hs_lastmodifieddate", "GTE", str(BASE_MS))]
    assert search["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert search["limit"] == hubspot_api.PAGE == 200
    assert set(search["properties"]) == {"name", "city", "hs_lastmodifieddate", "hs_object_id"}
    assert (requests, restarts) == (1, 0)


def test_hubspot_past_10000_results_moves_the_lower_bound_instead_of_paging_past_the_cap() -> None:
    with running_hubspot() as hubspot:
        # 10,050 companies, two to a millisecond: the cap falls inside a millisecond.
        hubspot.put_companies([(n, {"name": f"Co {n}"}, BASE_MS + n // 2) for n in range(1, 10_051)])

        found, requests, restarts = read_hubspot(hubspot, BASE_MS)
        searches = hubspot.searches()

    assert len(found) == 10_050 and len(set(ids(found))) == 10_050  # each once, none missed
    assert restarts == 1
    assert all(int(s.get("after", 0)) < MAX_RESULTS for s in searches)  # never paged past the cap
    restarted = [s for s in searches if "after" not in s][1]
    last_of_first_query = max(c.modified_ms or 0 for c in found[:MAX_RESULTS])
    assert filters(restarted) == [("hs_lastmodifieddate", "GTE", str(last_of_first_query))]
    assert requests == len(searches) == 51


def test_hubspot_reads_10000_companies_of_one_millisecond_by_id() -> None:
    with running_hubspot() as hubspot:
        bulk = [(n, {"name": f"Import {n}"}, BASE_MS) for n in range(1, 10_011)]
        later = [(20_000 + n, {"name": f"Later {n}"}, BASE_MS + 5 + n) for n in range(3)]
        hubspot.put_companies(bulk + later)

        found, _, restarts = read_hubspot(hubspot, BASE_MS)
        searches = hubspot.searches()

    assert len(found) == 10_013 and len(set(ids(found))) == 10_013
    assert ids(found)[-3:] == ["20000", "20001", "20002"]
    by_id = [s for s in searches if ("hs_object_id", "GT", "0") in filters(s)]
    assert filters(by_id[0]) == [("hs_lastmodifieddate", "EQ", str(BASE_MS)), ("hs_object_id", "GT", "0")]
    assert by_id[0]["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert filters(searches[-1]) == [("hs_lastmodifieddate", "GTE", str(BASE_MS + 1))]
    assert restarts == 2  # the cap of the query by time, then of the first query by id


def test_hubspot_searches_are_paced_under_its_rate_limit() -> None:
    with running_hubspot() as hubspot:
        hubspot.put_companies([(n, {"name": f"Co {n}"}, BASE_MS + n) for n in range(1, 402)])  # 3 pages

        read_hubspot(hubspot, BASE_MS, per_s=hubspot_api.API.requests_per_s)
        times = [a["at_s"] for a in hubspot.answers()]

    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3
    assert min(gaps) >= 1 / hubspot_api.API.requests_per_s - 0.02  # 4 a second at most


def test_hubspot_429_is_waited_out_as_retry_after_says() -> None:
    with running_hubspot() as hubspot:
        hubspot.put_company(8302, {"name": "Acme"}, modified_ms=BASE_MS)
        hubspot.throttle(2, retry_after_s=0.5)

        found, requests, _ = read_hubspot(hubspot, BASE_MS)
        answers = hubspot.answers()

    assert ids(found) == ["8302"]
    assert [a["status"] for a in answers] == [429, 429, 200] and requests == 3
    assert answers[1]["at_s"] - answers[0]["at_s"] >= 0.5


def test_hubspot_still_429_after_waiting_is_one_line() -> None:
    with running_hubspot() as hubspot:
        hubspot.throttle(100, retry_after_s=0.05)

        with pytest.raises(CrmUnavailable) as caught:
            read_hubspot(hubspot, BASE_MS)

    assert str(caught.value).startswith(f"HubSpot at {hubspot.base_url} still rate-limits the token (429)")
    assert "You have reached your secondly limit." in str(caught.value)


def test_a_wrong_hubspot_token_names_its_variable_and_never_shows_it() -> None:
    with running_hubspot(token="pat-na1-right") as hubspot, pytest.raises(CrmAuthFailed) as caught:
        read_hubspot(hubspot, BASE_MS, token="pat-na1-wrong-secret-value")

    message = str(caught.value)
    assert message.startswith(f"HubSpot at {hubspot.base_url} refused RELAY_HUBSPOT_ACCESS_TOKEN (401")
    assert "crm.objects.companies.read" in message
    assert "wrong-secret-value" not in message


def test_an_unreachable_crm_names_its_address_variable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with running_hubspot() as hubspot, pytest.raises(CrmUnavailable) as caught:
        read_hubspot(hubspot, BASE_MS, base=base)

    assert str(caught.value).startswith(f"cannot reach HubSpot at {base} (RELAY_HUBSPOT_API_BASE)")


def test_pipedrive_pages_with_its_cursor_from_the_second_the_watermark_is_in() -> None:
    start = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    with running_pipedrive() as pipedrive:
        pipedrive.put_organizations(
            [(n, {"name": f"Org {n}"}, start + timedelta(seconds=n)) for n in range(1, 502)]
        )
        pipedrive.put_organization(900, {"name": "Too old"}, updated=start - timedelta(hours=1))
        since_ms = int((start + timedelta(seconds=1, milliseconds=700)).timestamp() * 1000)

        found = read_pipedrive(pipedrive, since_ms)
        queries = pipedrive.queries()

    assert ids(found)[:2] == ["1", "2"] and len(found) == 501  # 10:00:01 is in: rounded down
    assert found[0].modified_ms == int((start + timedelta(seconds=1)).timestamp() * 1000)
    assert [q.get("cursor") is None for q in queries] == [True, False]
    first = queries[0]
    assert (first["updated_since"], first["sort_by"], first["sort_direction"], first["limit"]) == (
        "2026-12-01T10:00:01Z",
        "update_time",
        "asc",
        "500",
    )


def test_pipedrive_429_waits_for_its_rate_limit_window() -> None:
    with running_pipedrive() as pipedrive:
        pipedrive.put_organization(7, {"name": "Acme"}, updated=datetime(2026, 12, 1, tzinfo=UTC))
        pipedrive.throttle(1, reset_s=1)
        started = time.monotonic()

        found = read_pipedrive(pipedrive, 0)
        took = time.monotonic() - started

    assert ids(found) == ["7"]
    assert took >= 1.0


def test_a_wrong_pipedrive_token_names_its_variable() -> None:
    with running_pipedrive(token="pd-right") as pipedrive, pytest.raises(CrmAuthFailed) as caught:
        read_pipedrive(pipedrive, 0, token="pd-wrong-secret")

    assert str(caught.value).startswith(
        f"Pipedrive at {pipedrive.base_url} refused RELAY_PIPEDRIVE_API_TOKEN (401"
    )
    assert "pd-wrong-secret" not in str(caught.value)
