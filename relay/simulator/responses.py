"""JSON responses, encoded with orjson, and ChartMogul's `{"code", "message", "param"}` error body.

500, 502 and 504 come from ChartMogul's proxy, not the API: recorded as `text/plain` pages
(`500 Internal Server Error`, `504 Gateway Timeout Error`), so the simulator answers them so.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

UNAUTHORIZED_MESSAGE = "No valid API key provided"
RATE_LIMIT_MESSAGE = "Your request rate has exceeded our rate limit."
TOO_MANY_CONNECTIONS_MESSAGE = "Too many parallel connections; at most {limit} are allowed"

# status -> the proxy's text/plain page
PROXY_PAGES = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    504: "504 Gateway Timeout Error",
}

_STATUS_MESSAGES = {
    401: UNAUTHORIZED_MESSAGE,
    429: RATE_LIMIT_MESSAGE,
    503: "Service unavailable",
}


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    status: int,
    message: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """ChartMogul's error shape; the message defaults to one fitting the status. With no message,
    500/502/504 are the proxy's text/plain page instead."""
    if message is None and status in PROXY_PAGES:
        return web.Response(
            text=PROXY_PAGES[status], status=status, headers=headers, content_type="text/plain"
        )
    if message is None:
        message = _STATUS_MESSAGES.get(status) or _phrase(status)
    return json_response({"code": status, "message": message, "param": param}, status, headers)


def control_error(message: str, status: int = 400) -> web.Response:
    """Errors of the control endpoints (test set-up), kept apart from ChartMogul's shape."""
    return json_response({"error": message}, status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
