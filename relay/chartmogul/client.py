"""The one place that talks to ChartMogul's API (and the one place aiohttp errors are translated).

Point `base_url` at the bundled simulator in tests and local runs. The API key goes only into
the Authorization header; no message built here contains it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from relay.chartmogul.ratelimit import RateLimiter
from relay.exceptions import AuthFailed, ExternalIdTaken, RateLimited, Rejected, Transient

REJECTED_STATUSES = frozenset({400, 402, 404, 405, 409, 410, 413, 415, 422})
AUTH_STATUSES = frozenset({401, 403})
# Look-ups page with ChartMogul's maximum page size; the page cap only guards against a cursor
# that never ends (10,000 customers sharing one external_id or email is no answer either).
LOOKUP_PER_PAGE = 200
LOOKUP_MAX_PAGES = 50


def parse_error_message(body: str) -> str:
    """A readable message from any of ChartMogul's error shapes.

    {"code": 400, "message": "…", "param": "name"}       {"error": "…"}
    {"errors": {"field": "msg"}}                          {"field": ["msg"], "error_details": [...]}

    Anything else is shown as text: ChartMogul's proxy answers 500/502/504 with a text/plain page
    such as `504 Gateway Timeout Error`.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.strip()[:500] or "no error message"
    if not isinstance(doc, dict):
        return str(doc)[:500]
    if isinstance(doc.get("message"), str):
        param = doc.get("param")
        return f"{doc['message']} (param: {param})" if param else str(doc["message"])
    if isinstance(doc.get("error"), str):
        return str(doc["error"])
    if isinstance(doc.get("errors"), dict):
        return "; ".join(f"{k}: {v}" for k, v in doc["errors"].items())
    if isinstance(doc.get("error_details"), list):
        details = [d.get("message", "") for d in doc["error_details"] if isinstance(d, dict)]
        if any(details):
            return "; ".join(d for d in details if d)
    fields = [f"{k}: {', '.join(map(str, v))}" for k, v in doc.items() if isinstance(v, list)]
    return "; ".join(fields) or orjson.dumps(doc).decode()[:500]


def names_external_id(body: str) -> bool:
    """Whether an error body blames the `external_id`: {"errors": {"external_id": "…"}}."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    errors = doc.get("errors") if isinstance(doc, dict) else None
    return isinstance(errors, dict) and "external_id" in errors


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


class ChartMogulClient:
    """Every call waits for the fleet's rate limit and a connection slot when a limiter is given."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: SecretStr,
        timeout_s: float = 10.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._limiter = limiter
        self._session = session
        self._base_url = base_url.rstrip("/")
        # Built once; aiohttp's BasicAuth object is deprecated, the header is what matters.
        self._authorization = aiohttp.encode_basic_auth(api_key.get_secret_value(), "")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.timeout_s = timeout_s

    async def get_customer(self, uuid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/v1/customers/{uuid}")
        return result

    async def update_customer(
        self, uuid: str, body: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "PATCH", f"/v1/customers/{uuid}", body=body, headers={"Idempotency-Key": idempotency_key}
        )
        return result

    async def create_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/customers: a customer (a lead, until it has a subscription) under the data
        source `body["data_source_uuid"]`, with its `external_id` and `name` → the customer.
        An `external_id` the data source has already is ExternalIdTaken (a 422 whose `errors`
        name `external_id`, as ChartMogul answers it)."""
        try:
            result: dict[str, Any] = await self._request("POST", "/v1/customers", body=body)
        except Rejected as exc:
            if exc.status == 422 and names_external_id(exc.body):
                raise ExternalIdTaken(exc.message, status=exc.status, body=exc.body) from None
            raise
        return result

    async def find_by_external_id(
        self, external_id: str, data_source_uuid: str | None = None
    ) -> list[dict[str, Any]]:
        """Every customer with this external_id (in this data source), across all pages."""
        query = {"external_id": external_id}
        if data_source_uuid:
            query["data_source_uuid"] = data_source_uuid
        return await self._all_pages("/v1/customers", query)

    async def search_by_email(self, email: str) -> list[dict[str, Any]]:
        """Every customer with this email, across all pages; [] when none."""
        try:
            return await self._all_pages("/v1/customers/search", {"email": email})
        except Rejected as exc:
            if exc.status == 404:  # "no customer with that email" is a 404 on this endpoint
                return []
            raise

    async def _all_pages(self, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """Follows `cursor` while `has_more`: ChartMogul gives a cursor on the last page too, so
        the cursor alone never says whether more follow."""
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(LOOKUP_MAX_PAGES):
            page_query = {**query, "per_page": str(LOOKUP_PER_PAGE)}
            if cursor:
                page_query["cursor"] = cursor
            result = await self._request("GET", path, query=page_query)
            entries.extend(result.get("entries") or [])
            cursor = result.get("cursor")
            if not result.get("has_more") or not cursor:
                break
        return entries

    async def list_customers(self, per_page: int = LOOKUP_PER_PAGE) -> AsyncIterator[list[dict[str, Any]]]:
        """Every customer of the account, one page of entries at a time (`relay sync` reads the
        whole account this way: one call per `per_page` customers, never one per customer)."""
        cursor: str | None = None
        while True:
            query = {"per_page": str(per_page), **({"cursor": cursor} if cursor else {})}
            result = await self._request("GET", "/v1/customers", query=query)
            yield list(result.get("entries") or [])
            cursor = result.get("cursor")
            if not result.get("has_more") or not cursor:
                return

    # The attribute endpoints change only what they name (no read-merge-write, no lost tags).
    # Each answers the customer's whole set after the change, which verification compares.

    async def add_tags(self, uuid: str, tags: list[str], *, idempotency_key: str) -> list[str]:
        """POST /v1/customers/{uuid}/attributes/tags → every tag the customer has now."""
        return await self._tags("POST", uuid, tags, idempotency_key)

    async def remove_tags(self, uuid: str, tags: list[str], *, idempotency_key: str) -> list[str]:
        """DELETE /v1/customers/{uuid}/attributes/tags → every tag the customer has now."""
        return await self._tags("DELETE", uuid, tags, idempotency_key)

    async def _tags(self, method: str, uuid: str, tags: list[str], idempotency_key: str) -> list[str]:
        found = await self._attributes(method, uuid, "tags", tags, idempotency_key)
        return [tag for tag in found if isinstance(tag, str)] if isinstance(found, list) else []

    async def _attributes(self, method: str, uuid: str, kind: str, payload: Any, idempotency_key: str) -> Any:
        """One call of /v1/customers/{uuid}/attributes/{kind} ("tags", "custom") with `{kind:
        payload}`; what the answer holds under `kind` (the customer's whole set after the call)."""
        result = await self._request(
            method,
            f"/v1/customers/{uuid}/attributes/{kind}",
            body={kind: payload},
            headers={"Idempotency-Key": idempotency_key},
        )
        return result.get(kind) if isinstance(result, dict) else None

    async def set_custom_attributes(
        self, uuid: str, custom: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """PUT /v1/customers/{uuid}/attributes/custom: sets only the keys given, each defined in the
        account already → every custom attribute the customer has now."""
        return await self._custom("PUT", uuid, custom, idempotency_key)

    async def add_custom_attributes(
        self, uuid: str, attributes: list[dict[str, Any]], *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST /v1/customers/{uuid}/attributes/custom: defines each attribute in the account if it is
        new (with its `type`) and sets it on the customer → every custom attribute it has now."""
        return await self._custom("POST", uuid, attributes, idempotency_key)

    async def remove_custom_attributes(self, uuid: str, keys: list[str], *, idempotency_key: str) -> None:
        """DELETE /v1/customers/{uuid}/attributes/custom: answered 204 without a body."""
        await self._custom("DELETE", uuid, keys, idempotency_key)

    async def _custom(self, method: str, uuid: str, custom: Any, idempotency_key: str) -> dict[str, Any]:
        found = await self._attributes(method, uuid, "custom", custom, idempotency_key)
        return dict(found) if isinstance(found, dict) else {}

    async def ping(self) -> None:
        await self._request("GET", "/v1/ping")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        request_headers = {
            "Accept": "application/json",
            "Authorization": self._authorization,
            **(headers or {}),
        }
        data = None
        if body is not None:
            data = orjson.dumps(body)
            request_headers["Content-Type"] = "application/json"
        async with self._limiter.slot() if self._limiter else contextlib.nullcontext():
            return await self._send(method, path, data, request_headers, query)

    async def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        query: dict[str, str] | None,
    ) -> Any:
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                data=data,
                params=query,
                headers=headers,
                timeout=self._timeout,
            ) as response:
                text = await response.text()
                status = response.status
                retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise Transient(f"{method} {path}: no answer within {self.timeout_s:g}s") from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise Transient(f"{method} {path}: connection failed ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return orjson.loads(text) if text else None
        message = f"{method} {path} → {status}: {parse_error_message(text)}"
        if status == 429:
            raise RateLimited(message, status=status, body=text, retry_after_s=retry_after_s)
        if status in AUTH_STATUSES:
            raise AuthFailed(message, status=status, body=text)
        if status in REJECTED_STATUSES or (400 <= status < 500 and status != 408):
            raise Rejected(message, status=status, body=text)
        raise Transient(message, status=status, body=text, retry_after_s=retry_after_s)
