"""Reading a CRM's own API (`relay sync --from-api`): the one place the errors of those calls are
translated, requests are paced under the CRM's rate limit, and 429s are waited out.

    async with CrmApi.open(hubspot_api.API.config(base_url, token)) as api:
        page = await api.request("POST", "/crm/v3/objects/companies/search", body={...})

Each CRM's module holds its `CrmApiSpec` (its name, the variables that configure it, how its
token is sent, its rate limit) and says what to ask (relay/sources/hubspot/api.py,
relay/sources/pipedrive/api.py); this says how. The token goes only into the request headers;
no message built here holds it. Every failure is a `CrmApiError` whose message is the
operator's whole line: which CRM, at which address, and which variable to fix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from relay.chartmogul.client import parse_retry_after
from relay.exceptions import CrmAuthFailed, CrmRefused, CrmUnavailable

# A 429 or a 5xx is tried again, waiting what Retry-After says (else 1, 2, 4… s), this many times
# and at most this long in all: then the run stops, and the next one starts from the watermark.
ATTEMPTS = 6
MAX_WAIT_S = 120.0


@dataclass(frozen=True)
class CrmApiConfig:
    name: str  # how an operator names the CRM: "HubSpot"
    base_url: str
    base_env: str  # the variable holding base_url: RELAY_HUBSPOT_API_BASE
    token_env: str  # the variable holding the token: RELAY_HUBSPOT_ACCESS_TOKEN
    token_hint: str  # what a right token is: "the access token of a private app with …"
    headers: Mapping[str, str] = field(repr=False)  # carry the token: never shown
    requests_per_s: float
    timeout_s: float = 30.0


@dataclass(frozen=True)
class CrmApiSpec:
    """What the relay knows of one CRM's API (each CRM's module holds its own): its name, the
    variables that configure it, how the token is sent, and the rate to keep under."""

    name: str
    base_env: str
    token_env: str
    token_hint: str
    token_header: str  # "Authorization", "x-api-token"
    token_prefix: str  # "Bearer ", ""
    requests_per_s: float

    def config(self, base_url: str, token: str, requests_per_s: float | None = None) -> CrmApiConfig:
        return CrmApiConfig(
            name=self.name,
            base_url=base_url,
            base_env=self.base_env,
            token_env=self.token_env,
            token_hint=self.token_hint,
            headers={self.token_header: self.token_prefix + token},
            requests_per_s=requests_per_s or self.requests_per_s,
        )


@dataclass(frozen=True, slots=True)
class Changed:
    """One record read: when the CRM last changed it (ms; None if it does not say), and the
    record in the CRM API's own shape (what `CrmRecords.from_api` reads)."""

    modified_ms: int | None
    doc: Any


def error_text(body: bytes) -> str:
    """The message of a CRM's JSON error ({"message"} HubSpot, {"error"} Pipedrive), else the text."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip()[:300] or "no message"
    if isinstance(doc, dict):
        for key in ("message", "error"):
            if isinstance(doc.get(key), str):
                return str(doc[key])[:300]
    return orjson.dumps(doc).decode()[:300]


def _wait_hint_s(headers: Mapping[str, str]) -> float | None:
    """How long the CRM asks to wait: Retry-After, else Pipedrive's x-ratelimit-reset (seconds
    until its window resets)."""
    wait_s = parse_retry_after(headers.get("Retry-After"))
    if wait_s is None and headers.get("x-ratelimit-remaining") == "0":
        wait_s = parse_retry_after(headers.get("x-ratelimit-reset"))
    return wait_s


class CrmApi:
    def __init__(self, session: aiohttp.ClientSession, config: CrmApiConfig) -> None:
        self.session = session
        self.config = config
        self.requests = 0  # sent, retries included
        self.waited_s = 0.0  # spent waiting out 429s and 5xx
        self._next_at = 0.0  # monotonic time the next request may leave
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_s)

    @classmethod
    @asynccontextmanager
    async def open(cls, config: CrmApiConfig) -> AsyncIterator[CrmApi]:
        async with aiohttp.ClientSession() as session:
            yield cls(session, config)

    async def request(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None
    ) -> Any:
        """The answer's JSON; a 429 or 5xx is waited out and sent again (ATTEMPTS, MAX_WAIT_S)."""
        for attempt in range(ATTEMPTS):
            status, text, retry_after_s = await self._send(method, path, body, query)
            if 200 <= status < 300:
                try:
                    return orjson.loads(text)
                except orjson.JSONDecodeError:
                    raise self._unavailable(f"answered {status} with a body that is not JSON") from None
            if status != 429 and status < 500:
                raise self._refused(status, error_text(text))
            wait_s = retry_after_s if retry_after_s is not None else float(2**attempt)
            if attempt == ATTEMPTS - 1 or self.waited_s + wait_s > MAX_WAIT_S:
                what = "still rate-limits the token (429)" if status == 429 else f"answered {status}"
                raise self._unavailable(
                    f"{what} after {attempt + 1} attempts and {self.waited_s:.0f} s of waiting: "
                    f"{error_text(text)}"
                )
            self.waited_s += wait_s
            await asyncio.sleep(wait_s)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _send(
        self, method: str, path: str, body: Any, query: Mapping[str, str] | None
    ) -> tuple[int, bytes, float | None]:
        await self._pace()
        headers = {"Accept": "application/json", **self.config.headers}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        self.requests += 1
        try:
            async with self.session.request(
                method,
                self.config.base_url.rstrip("/") + path,
                data=data,
                params=dict(query or {}),
                headers=headers,
                timeout=self._timeout,
            ) as response:
                text = await response.read()
                return response.status, text, _wait_hint_s(response.headers)
        except TimeoutError:
            raise self._unreachable(f"no answer within {self.config.timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._unreachable(f"connection failed ({type(exc).__name__})") from None

    async def _pace(self) -> None:
        """At most `requests_per_s`: the CRM's limit is per token, and a sync is one client."""
        now = time.monotonic()
        if self._next_at > now:
            await asyncio.sleep(self._next_at - now)
        self._next_at = max(now, self._next_at) + 1 / self.config.requests_per_s

    # --- the operator's line for each failure

    def _where(self) -> str:
        return f"{self.config.name} at {self.config.base_url}"

    def _refused(self, status: int, message: str) -> CrmAuthFailed | CrmRefused:
        if status in (401, 403):
            return CrmAuthFailed(
                f"{self._where()} refused {self.config.token_env} ({status}: {message}): set it to "
                f"{self.config.token_hint}",
                status=status,
            )
        return CrmRefused(f"{self._where()} refused the request ({status}: {message})", status=status)

    def _unreachable(self, why: str) -> CrmUnavailable:
        return CrmUnavailable(
            f"cannot reach {self._where()} ({self.config.base_env}): {why}; check the address, "
            "or try again later"
        )

    def _unavailable(self, why: str) -> CrmUnavailable:
        return CrmUnavailable(f"{self._where()} {why}; try again later (the watermark has not moved)")
