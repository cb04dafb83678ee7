"""`relay sync --from-api`: what a CRM changed since a time, read from the CRM's own API into the
same planning, diff and enqueueing as an export file.

    since      --since, else the source's watermark less WATERMARK_OVERLAP_MS, else (a first
               run) --first-since
    read       the CRM's reader (relay/sources/<crm>/api.py), spooled to a temporary file of
               JSON lines, so a run counts first and enqueues second, as for a file, without
               asking the CRM twice
    plan       relay/sync/readers.py `read_changes`: each record as of when the CRM changed it
    watermark  after a run whose changes were all enqueued: the newest modification time read
               (never later than this machine's clock when the read began). A dry run, a run
               declined at the prompt and a failed run leave it where it was.

The overlap re-reads the last minutes before the watermark: HubSpot's search index shows a
change some seconds after it is made, and a re-read record makes the same event ids (enqueued
once), so the overlap costs requests, never duplicates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any, Final, Protocol

import orjson
from pydantic import SecretStr

from relay.mapping.rules import SourceMapping
from relay.settings import MissingSetting, Settings
from relay.sources.crmapi import Changed, CrmApi
from relay.sources.hubspot import api as hubspot_api
from relay.sources.pipedrive import api as pipedrive_api
from relay.sources.records import CrmRecords
from relay.times import iso

READABLE: Final = ("hubspot", "pipedrive")
WATERMARK_OVERLAP_MS: Final = 5 * 60_000


class CrmReader(Protocol):
    what: str  # "HubSpot companies"
    restarts: int  # queries started over at a result cap

    def changed_since(self, since_ms: int) -> AsyncIterator[Changed]: ...


def _token(secret: SecretStr | None, env_name: str, source: str) -> str:
    if secret is None or not secret.get_secret_value():
        raise MissingSetting(env_name, f"relay sync --from-api --source {source} reads the CRM's API with it")
    return secret.get_secret_value()


@asynccontextmanager
async def crm_reader(
    source: str, settings: Settings, shape: CrmRecords, mapping: SourceMapping
) -> AsyncIterator[tuple[CrmReader, CrmApi]]:
    """The reader of `source`'s changed records (one of READABLE), and its API client (for the
    counts of requests). MissingSetting when its token is not set."""
    if source == "hubspot":
        token = _token(settings.hubspot_access_token, hubspot_api.API.token_env, source)
        rules = [rule.property for rule in mapping.rules(shape.object_type)]
        properties = hubspot_api.properties_to_read(shape, rules, mapping.link_property)
        async with CrmApi.open(hubspot_api.API.config(settings.hubspot_api_base, token)) as api:
            yield hubspot_api.HubSpotCompanies(api, properties), api
    elif source == "pipedrive":
        token = _token(settings.pipedrive_api_token, pipedrive_api.API.token_env, source)
        async with CrmApi.open(pipedrive_api.API.config(settings.pipedrive_api_base, token)) as api:
            yield pipedrive_api.PipedriveOrganizations(api), api
    else:
        raise ValueError(f"no API reader for {source!r}: one of {', '.join(READABLE)}")


@dataclass(slots=True)
class ApiRead:
    """What a run read from the CRM: from when, how much, at what cost."""

    source: str
    crm: str  # "HubSpot"
    what: str  # "HubSpot companies"
    since_ms: int
    since_from: str  # how the start was chosen: "--since 24h", "the watermark …"
    started_ms: int  # this machine's clock when the read began
    records: int = 0
    newest_ms: int | None = None
    requests: int = 0
    restarts: int = 0
    waited_s: float = 0.0

    @property
    def watermark_ms(self) -> int | None:
        """Where the watermark goes after this run, if all its changes are enqueued."""
        return None if self.newest_ms is None else min(self.newest_ms, self.started_ms)

    def line(self) -> str:
        restarts = (
            f"; the 10,000-result cap was reached {self.restarts} time(s), each time the query started "
            "again from the last change read"
            if self.restarts
            else ""
        )
        waited = f"; {self.waited_s:.0f} s waiting out rate limits" if self.waited_s else ""
        return (
            f"Read {self.records} {self.what} changed since {iso(self.since_ms)} ({self.since_from}) "
            f"in {self.requests} request(s){restarts}{waited}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "since": iso(self.since_ms),
            "since_from": self.since_from,
            "records": self.records,
            "newest_change": iso(self.newest_ms),
            "requests": self.requests,
            "cap_restarts": self.restarts,
            "waited_s": round(self.waited_s, 1),
        }


class NoWatermark(Exception):
    """No --since and no watermark yet: the first run says how far back to read."""


@dataclass(frozen=True)
class Since:
    """A time given on the command line: its ms and how the operator wrote it."""

    ms: int
    text: str


def start_of_read(
    since: Since | None, first_since: Since | None, watermark_ms: int | None
) -> tuple[int, str]:
    """(the time to read from, how it was chosen): --since, else the watermark less the
    overlap, else --first-since (a first run); NoWatermark when there is none of them."""
    if since is not None:
        return since.ms, f"--since {since.text}"
    if watermark_ms is not None:
        return watermark_ms - WATERMARK_OVERLAP_MS, f"the watermark {iso(watermark_ms)} less 5 min"
    if first_since is not None:
        return first_since.ms, f"no watermark yet: --first-since {first_since.text}"
    raise NoWatermark()


async def spool(reader: CrmReader, api: CrmApi, read: ApiRead, handle: IO[bytes]) -> None:
    """Every record the reader gives, one JSON line each, counted into `read`."""
    async for change in reader.changed_since(read.since_ms):
        handle.write(orjson.dumps({"modified_ms": change.modified_ms, "record": change.doc}) + b"\n")
        read.records += 1
        if change.modified_ms is not None:
            read.newest_ms = max(read.newest_ms or change.modified_ms, change.modified_ms)
    handle.flush()
    read.requests, read.restarts, read.waited_s = api.requests, reader.restarts, api.waited_s
