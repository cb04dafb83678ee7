"""HubSpot's CRM search API for companies, as `relay sync --from-api --source hubspot` reads it.

    POST /crm/v3/objects/companies/search          Authorization: Bearer <private app token>
    {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                    "value": "1733400000000"}]}],
     "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
     "properties": ["name", "city"], "limit": 200, "after": "200"}
    -> {"total": 412, "results": [{"id": "8302", "properties": {...}, "createdAt", "updatedAt",
        "archived": false}], "paging": {"next": {"after": "400"}}}

As HubSpot documents it: at most 200 results a page, and 10,000 a query (an `after` past that is
a 400: move the filter's lower bound instead); properties not asked for are not returned, but
`hs_object_id`, `hs_lastmodifieddate`, `createdate` and `name` always are; times are epoch
milliseconds in filters and ISO 8601 in answers; `hs_object_id` is a number (filters and sorts
compare it as one); a missing or wrong token is 401; past the search rate limit, 429 with
`"errorType": "RATE_LIMIT"` (and Retry-After when the test asks for one).
Control (no auth): `POST /_hubspot/companies/{id}` sets properties (and stamps
`hs_lastmodifieddate`), `POST /_hubspot/companies` many at once, `POST /_hubspot/throttle`
answers the next N searches 429, `GET /_hubspot/requests` lists the search requests received,
`GET /_hubspot/answers` each one's status and when it came (monotonic seconds).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from relay.simulator.responses import json_response
from relay.simulator.testing import serving
from tests.standins import control

MAX_PAGE = 200
MAX_RESULTS = 10_000
ALWAYS = ("hs_object_id", "hs_lastmodifieddate", "createdate", "name")
_OPERATORS = {
    "GTE": lambda a, b: a >= b,
    "GT": lambda a, b: a > b,
    "LTE": lambda a, b: a <= b,
    "LT": lambda a, b: a < b,
    "EQ": lambda a, b: a == b,
}


@dataclass
class HubSpotState:
    token: str
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # {"status", "at_s"}
    throttled: int = 0  # the next this many searches answer 429
    retry_after_s: float | None = None


STATE = web.AppKey("hubspot", HubSpotState)
routes = web.RouteTableDef()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, category: str) -> web.Response:
    kind = "errorType" if status == 429 else "category"
    body = {"status": "error", "message": message, kind: category, "correlationId": "standin"}
    return json_response(body, status=status)


@routes.post("/crm/v3/objects/companies/search")
async def search(request: web.Request) -> web.Response:
    state = request.app[STATE]
    answer = await _search(request, state)
    state.answers.append({"status": answer.status, "at_s": time.monotonic()})
    return answer


async def _search(request: web.Request, state: HubSpotState) -> web.Response:
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), state.token.encode()):
        return _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
    if state.throttled > 0:
        state.throttled -= 1
        throttled = _error(429, "You have reached your secondly limit.", "RATE_LIMIT")
        if state.retry_after_s is not None:
            throttled.headers["Retry-After"] = f"{state.retry_after_s:g}"
        return throttled
    body = orjson.loads(await request.read() or b"{}")
    state.requests.append(body)
    limit = int(body.get("limit", 10))
    offset = int(body.get("after", 0))
    if limit > MAX_PAGE:
        return _error(400, f"limit must be at most {MAX_PAGE}", "VALIDATION_ERROR")
    if offset >= MAX_RESULTS:
        return _error(400, f"Search results are limited to {MAX_RESULTS}", "VALIDATION_ERROR")
    found = [c for c in state.companies.values() if _matches(c, body.get("filterGroups") or [])]
    for sort in reversed(body.get("sorts") or []):
        found.sort(
            key=lambda c: _sortable(c, sort["propertyName"]), reverse=sort.get("direction") == "DESCENDING"
        )
    wanted = set(body.get("properties") or ()) | set(ALWAYS)
    page = found[offset : offset + limit]
    answer: dict[str, Any] = {
        "total": len(found),
        "results": [
            {
                "id": str(c["hs_object_id"]),
                "properties": {k: _text(k, v) for k, v in c.items() if k in wanted},
                "createdAt": iso(c["createdate"]),
                "updatedAt": iso(c["hs_lastmodifieddate"]),
                "archived": False,
            }
            for c in page
        ],
    }
    if offset + limit < min(len(found), MAX_RESULTS):
        answer["paging"] = {"next": {"after": str(offset + limit)}}
    return json_response(answer)


def _text(key: str, value: Any) -> Any:
    """HubSpot answers every property as a string; dates as ISO 8601."""
    if key in ("hs_lastmodifieddate", "createdate"):
        return iso(value)
    return None if value is None else str(value)


def _sortable(company: dict[str, Any], name: str) -> Any:
    value = company.get(name)
    return (value is None, value if isinstance(value, int) else str(value or ""))


def _matches(company: dict[str, Any], groups: list[dict[str, Any]]) -> bool:
    """Filter groups are ORed, the filters of a group ANDed (HubSpot's rule)."""
    if not groups:
        return True
    return any(all(_passes(company, f) for f in group.get("filters", [])) for group in groups)


def _passes(company: dict[str, Any], rule: dict[str, Any]) -> bool:
    value = company.get(rule["propertyName"])
    if value is None:
        return False
    wanted: Any = rule["value"]
    if isinstance(value, int):
        wanted = (
            int(wanted) if str(wanted).isdigit() else int(datetime.fromisoformat(wanted).timestamp() * 1000)
        )
    return bool(_OPERATORS[rule["operator"]](value, wanted))


def _put(state: HubSpotState, company_id: int, doc: dict[str, Any]) -> dict[str, Any]:
    now_ms = int(doc.pop("hs_lastmodifieddate", None) or datetime.now(UTC).timestamp() * 1000)
    company = state.companies.setdefault(company_id, {"hs_object_id": company_id, "createdate": now_ms})
    company.update(doc)
    company["hs_lastmodifieddate"] = now_ms
    return company


@routes.post("/_hubspot/companies/{id}")
async def put_company(request: web.Request) -> web.Response:
    doc = orjson.loads(await request.read())
    return json_response(_put(request.app[STATE], int(request.match_info["id"]), doc))


@routes.post("/_hubspot/companies")
async def put_companies(request: web.Request) -> web.Response:
    """[{"id": 1, "properties": {...}, "modified_ms": …}, …]"""
    state = request.app[STATE]
    for entry in orjson.loads(await request.read()):
        stamp = {"hs_lastmodifieddate": entry["modified_ms"]} if entry.get("modified_ms") else {}
        _put(state, int(entry["id"]), {**entry["properties"], **stamp})
    return json_response({"companies": len(state.companies)})


@routes.post("/_hubspot/throttle")
async def throttle(request: web.Request) -> web.Response:
    doc = orjson.loads(await request.read())
    state = request.app[STATE]
    state.throttled, state.retry_after_s = int(doc["requests"]), doc.get("retry_after_s")
    return json_response({"throttled": state.throttled})


@routes.get("/_hubspot/answers")
async def answers_sent(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].answers)


@routes.get("/_hubspot/requests")
async def requests_received(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].requests)


def create_hubspot_app(token: str) -> web.Application:
    app = web.Application()
    app[STATE] = HubSpotState(token)
    app.add_routes(routes)
    return app


@dataclass(frozen=True)
class HubSpotHandle:
    base_url: str
    token: str

    def put_company(
        self, company_id: int | str, properties: dict[str, Any], *, modified_ms: int | None = None
    ) -> None:
        """Set a company's properties, stamped modified now (or at `modified_ms`)."""
        stamp = {"hs_lastmodifieddate": modified_ms} if modified_ms is not None else {}
        control(self.base_url, "POST", f"/_hubspot/companies/{company_id}", {**properties, **stamp})

    def put_companies(self, companies: list[tuple[int, dict[str, Any], int]]) -> None:
        """Many companies at once: (id, properties, modified ms) each."""
        body = [{"id": i, "properties": p, "modified_ms": ms} for i, p, ms in companies]
        control(self.base_url, "POST", "/_hubspot/companies", body)

    def throttle(self, requests: int, *, retry_after_s: float | None = None) -> None:
        """Answer the next `requests` searches 429 (with Retry-After when given)."""
        control(
            self.base_url,
            "POST",
            "/_hubspot/throttle",
            {"requests": requests, "retry_after_s": retry_after_s},
        )

    def searches(self) -> list[dict[str, Any]]:
        """The bodies of the search requests received, oldest first."""
        return control(self.base_url, "GET", "/_hubspot/requests")  # type: ignore[no-any-return]

    def answers(self) -> list[dict[str, Any]]:
        """Each search's status and when it came ({"status", "at_s"}: monotonic seconds)."""
        return control(self.base_url, "GET", "/_hubspot/answers")  # type: ignore[no-any-return]


@contextmanager
def running_hubspot(token: str = "pat-na1-standin") -> Iterator[HubSpotHandle]:
    with serving(create_hubspot_app(token), "hubspot-standin") as base_url:
        yield HubSpotHandle(base_url, token)
