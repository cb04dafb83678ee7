"""Small stand-ins for CRM APIs, like the ChartMogul simulator: real HTTP on loopback, the parts of
each API `relay sync --from-api` reads, answering as the CRM documents. Test support only.

    with running_hubspot(token="pat-test") as hubspot:
        hubspot.put_company("8302", {"name": "Acme", "city": "Boston"})
        ...  # point RELAY_HUBSPOT_API_BASE at hubspot.base_url
"""

from __future__ import annotations

import urllib.request
from typing import Any

import orjson

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """A stand-in's control endpoint (no auth): JSON in, JSON out; raises on an HTTP error."""
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with _OPENER.open(request, timeout=10) as answer:
        return orjson.loads(answer.read())
