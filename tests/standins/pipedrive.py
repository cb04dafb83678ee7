"""Pipedrive's organizations list (API v2), as `relay sync --from-api --source pipedrive` reads it.

    GET /api/v2/organizations?updated_since=2026-12-04T10:00:00Z&sort_by=update_time
        &sort_direction=asc&limit=500&cursor=…              x-api-token: <API token>
    -> {"success": true, "data": [{"id": 42, "name": "Acme", "update_time": "2026-12-04T10:05:00Z",
        "address": {"locality": "Boston", …}, "custom_fields": {…}, …}],
        "additional_data": {"next_cursor": "…" | null}}

As Pipedrive documents it: cursor pagination (an opaque cursor, at most 500 a page, 100 by
default), `updated_since`/`updated_until` in RFC 3339, the token in the `x-api-token` header or
the `api_token` query parameter; a missing or wrong token is 401; over the rate limit, 429 with
`x-ratelimit-remaining: 0` and `x-ratelimit-reset` (seconds) headers. Control (no auth):
`POST /_pipedrive/organizations/{id}` sets fields (and stamps `update_time`),
`POST /_pipedrive/organizations` many at once, `POST /_pipedrive/throttle` answers the next N
requests 429, `GET /_pipedrive/requests` lists the query strings received.
"""

from __future__ import annotations

import base64
import hmac
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

MAX_PAGE = 500
DEFAULT_PAGE = 100


@dataclass
class PipedriveState:
    token: str
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    throttled: int = 0  # the next this many list requests answer 429
    reset_s: int = 1


STATE = web.AppKey("pipedrive", PipedriveState)
routes = web.RouteTableDef()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _moment(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _updated(organization: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(organization["update_time"].replace("Z", "+00:00"))


def _error(status: int, message: str) -> web.Response:
    return json_response({"success": False, "error": message, "errorCode": status}, status=status)


@routes.get("/api/v2/organizations")
async def list_organizations(request: web.Request) -> web.Response:
    state = request.app[STATE]
    query = request.query
    given = request.headers.get("x-api-token") or query.get("api_token", "")
    if not hmac.compare_digest(given.encode(), state.token.encode()):
        return _error(401, "unauthorized access")
    if state.throttled > 0:
        state.throttled -= 1
        throttled = _error(429, "Request over limit")
        throttled.headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(state.reset_s)})
        return throttled
    state.requests.append({k: v for k, v in query.items() if k != "api_token"})
    limit = int(query.get("limit", DEFAULT_PAGE))
    if not 0 < limit <= MAX_PAGE:
        return _error(400, f"limit must be between 1 and {MAX_PAGE}")
    since, until = _moment(query.get("updated_since", "")), _moment(query.get("updated_until", ""))
    if ("updated_since" in query and since is None) or ("updated_until" in query and until is None):
        return _error(400, "updated_since and updated_until must be RFC 3339 times")
    found = [
        o
        for o in state.organizations.values()
        if (since is None or _updated(o) >= since) and (until is None or _updated(o) < until)
    ]
    key = query.get("sort_by", "id")
    found.sort(key=lambda o: (o[key], o["id"]), reverse=query.get("sort_direction") == "desc")
    start = int(base64.b64decode(query["cursor"])) if "cursor" in query else 0
    page = found[start : start + limit]
    more = start + limit < len(found)
    next_cursor = base64.b64encode(str(start + limit).encode()).decode() if more else None
    return json_response({"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}})


def _put(state: PipedriveState, org_id: int, doc: dict[str, Any]) -> dict[str, Any]:
    stamp = doc.pop("update_time", None) or rfc3339(datetime.now(UTC))
    organization = state.organizations.setdefault(org_id, {"id": org_id, "add_time": stamp})
    organization.update(doc)
    organization["update_time"] = stamp
    return organization


@routes.post("/_pipedrive/organizations/{id}")
async def put_organization(request: web.Request) -> web.Response:
    doc = orjson.loads(await request.read())
    return json_response(_put(request.app[STATE], int(request.match_info["id"]), doc))


@routes.post("/_pipedrive/organizations")
async def put_organizations(request: web.Request) -> web.Response:
    """[{"id": 7, "fields": {...}, "update_time": "…Z"}, …]"""
    state = request.app[STATE]
    for entry in orjson.loads(await request.read()):
        stamp = {"update_time": entry["update_time"]} if entry.get("update_time") else {}
        _put(state, int(entry["id"]), {**entry["fields"], **stamp})
    return json_response({"organizations": len(state.organizations)})


@routes.post("/_pipedrive/throttle")
async def throttle(request: web.Request) -> web.Response:
    doc = orjson.loads(await request.read())
    state = request.app[STATE]
    state.throttled, state.reset_s = int(doc["requests"]), int(doc.get("reset_s", 1))
    return json_response({"throttled": state.throttled})


@routes.get("/_pipedrive/requests")
async def requests_received(request: web.Request) -> web.Response:
    return json_response(request.app[STATE].requests)


def create_pipedrive_app(token: str) -> web.Application:
    app = web.Application()
    app[STATE] = PipedriveState(token)
    app.add_routes(routes)
    return app


@dataclass(frozen=True)
class PipedriveHandle:
    base_url: str
    token: str

    def put_organization(
        self, org_id: int, fields: dict[str, Any], *, updated: datetime | None = None
    ) -> None:
        """Set an organization's fields, stamped updated now (or at `updated`)."""
        stamp = {"update_time": rfc3339(updated)} if updated is not None else {}
        control(self.base_url, "POST", f"/_pipedrive/organizations/{org_id}", {**fields, **stamp})

    def put_organizations(self, organizations: list[tuple[int, dict[str, Any], datetime]]) -> None:
        """Many organizations at once: (id, fields, updated) each."""
        body = [{"id": i, "fields": f, "update_time": rfc3339(at)} for i, f, at in organizations]
        control(self.base_url, "POST", "/_pipedrive/organizations", body)

    def throttle(self, requests: int, *, reset_s: int = 1) -> None:
        """Answer the next `requests` list requests 429, the limit resetting in `reset_s`."""
        control(self.base_url, "POST", "/_pipedrive/throttle", {"requests": requests, "reset_s": reset_s})

    def queries(self) -> list[dict[str, str]]:
        """The query parameters of each list request received (the token left out), oldest first."""
        return control(self.base_url, "GET", "/_pipedrive/requests")  # type: ignore[no-any-return]


@contextmanager
def running_pipedrive(token: str = "pd-standin-token") -> Iterator[PipedriveHandle]:
    with serving(create_pipedrive_app(token), "pipedrive-standin") as base_url:
        yield PipedriveHandle(base_url, token)
