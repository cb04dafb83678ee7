"""Cursor pagination of /v1/customers (with and without filters) and /v1/customers/search."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from relay.simulator.testing import SimulatorHandle

FIRST_PAGE_KEYS = {"entries", "current_page", "total_pages", "has_more", "per_page", "page", "cursor"}
LATER_PAGE_KEYS = {"entries", "cursor", "has_more"}


def walk(sim: SimulatorHandle, path: str, per_page: int) -> list[dict[str, Any]]:
    """Every page, following `cursor` while `has_more` (never trusting the cursor alone)."""
    pages = []
    separator = "&" if "?" in path else "?"
    response = sim.request("GET", f"{path}{separator}per_page={per_page}")
    while True:
        assert response.status == 200, response.body
        pages.append(response.body)
        if not response.body["has_more"]:
            return pages
        cursor = quote(response.body["cursor"], safe="")
        response = sim.request("GET", f"{path}{separator}per_page={per_page}&cursor={cursor}")


def test_all_pages_of_1001_customers_show_each_once(sim: SimulatorHandle) -> None:
    made = [sim.add_customer({"company": f"Co {i}", "email": "all@corp.test"})["uuid"] for i in range(1001)]

    for path in ("/v1/customers", "/v1/customers/search?email=all%40corp.test"):
        pages = walk(sim, path, per_page=200)

        seen = [entry["uuid"] for page in pages for entry in page["entries"]]
        assert [len(page["entries"]) for page in pages] == [200, 200, 200, 200, 200, 1]
        assert sorted(seen) == sorted(made) and len(set(seen)) == 1001
        assert all(isinstance(page["cursor"], str) and page["cursor"] for page in pages)  # the last one too
        assert set(pages[0]) == FIRST_PAGE_KEYS
        assert all(set(page) == LATER_PAGE_KEYS for page in pages[1:])
        assert (pages[0]["per_page"], pages[0]["page"], pages[0]["current_page"]) == (200, 1, 1)
    assert walk(sim, "/v1/customers", per_page=200)[0]["total_pages"] == 6


def test_filters_page_too(sim: SimulatorHandle) -> None:
    wanted = [
        sim.add_customer({"external_id": "crm-x", "data_source_uuid": f"ds_{i}"})["uuid"] for i in range(5)
    ]
    sim.add_customer({"external_id": "crm-y"})

    pages = walk(sim, "/v1/customers?external_id=crm-x", per_page=2)

    assert [entry["uuid"] for page in pages for entry in page["entries"]] == wanted
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert pages[0]["total_pages"] == 3


def test_a_customer_added_between_pages_neither_repeats_nor_hides_one_listed(sim: SimulatorHandle) -> None:
    for i in range(3):
        sim.add_customer({"company": f"Co {i}"})
    first = sim.request("GET", "/v1/customers?per_page=2").body
    sim.add_customer({"company": "Late"})

    rest = sim.request("GET", f"/v1/customers?per_page=2&cursor={quote(first['cursor'], safe='')}").body

    names = [e["company"] for e in first["entries"] + rest["entries"]]
    assert names == ["Co 0", "Co 1", "Co 2", "Late"]


def test_search_pages_answer_total_pages_null_and_404_when_none(sim: SimulatorHandle) -> None:
    sim.add_customer({"email": "one@corp.test"})

    page = sim.request("GET", "/v1/customers/search?email=one@corp.test").body

    assert page["total_pages"] is None and page["has_more"] is False and page["cursor"]
    assert sim.request("GET", "/v1/customers/search?email=none@corp.test").status == 404


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("per_page=0", "per_page"),
        ("per_page=201", "per_page"),
        ("per_page=ten", "per_page"),
        ("cursor=not-a-cursor!", "cursor"),
        ("cursor=aGVsbG8=", "cursor"),  # base64, but not one of ours
    ],
)
def test_a_bad_page_parameter_is_a_400_naming_it(sim: SimulatorHandle, query: str, param: str) -> None:
    for path in ("/v1/customers", "/v1/customers/search?email=a@b.c"):
        separator = "&" if "?" in path else "?"
        response = sim.request("GET", f"{path}{separator}{query}")

        assert response.status == 400
        assert response.body["param"] == param
        assert param in response.body["message"]
