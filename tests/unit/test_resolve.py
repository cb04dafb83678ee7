"""Resolution order (workers/resolve.py): a CRM reference → one ChartMogul customer uuid.

Against the real link table (Redis) and the simulator over HTTP through the real client. Each
row names its customers by label ("acme", "other"); the simulator gives them their uuids.

    1. the event's own uuid            4. ChartMogul by external_id (every page)
    2. the link table: crm_record,     5. ChartMogul by email, when external_id found none
       then the reference's key,       several matches: ambiguous, never the first
       then the record's parent's link
    3. a cached look-up
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from relay.changes import CustomerRef
from relay.chartmogul.client import ChartMogulClient
from relay.simulator.testing import SimulatorHandle
from relay.store import ReplayTrigger, Store, keys
from tests.conftest import SIM_API_KEY
from workers.resolve import MAX_CANDIDATES_SHOWN, CustomerResolver, Resolution

LOOKUP = "/v1/customers"
SEARCH = "/v1/customers/search"


@dataclass(frozen=True)
class Case:
    ref: CustomerRef
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # label → simulator customer
    links: dict[str, str] = field(default_factory=dict)  # link-table field → label
    cached: dict[str, str] = field(default_factory=dict)  # reference key → label
    resolved: str | None = None  # the label it resolves to
    why_not: str = ""  # a regex over the reason, labels in {braces}
    calls: list[str] = field(default_factory=list)  # the ChartMogul look-ups made, in order
    cached_after: str | None = None  # the label the look-up cache holds for ref.key afterwards
    parents: dict[str, str] = field(default_factory=dict)  # CRM record → its parent's record


ACME = {"external_id": "crm-1", "email": "billing@acme.test"}
OTHER = {"external_id": "crm-2", "email": "ops@other.test"}

CASES = [
    pytest.param(
        Case(
            CustomerRef(uuid="cus_given", external_id="crm-1", crm_record="hubspot:company:1"),
            customers={"acme": ACME},
            links={"hubspot:company:1": "acme"},
        ),
        id="1. the event's own uuid: nothing asked",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="hubspot:company:1", external_id="crm-2"),
            customers={"acme": ACME, "other": OTHER},
            links={"hubspot:company:1": "acme", "ext:*:crm-2": "other"},
            resolved="acme",
        ),
        id="2. the link of the CRM record, before the reference's key and any look-up",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-2"),
            customers={"acme": ACME, "other": OTHER},
            links={"ext:*:crm-2": "acme"},
            resolved="acme",
        ),
        id="2. the link of the reference's key, before a look-up",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="hubspot:company:9", email="billing@acme.test"),
            customers={"acme": ACME, "other": OTHER},
            links={"crm:hubspot:company:9": "other"},
            resolved="other",
        ),
        id="2. an unlinked CRM record: the link of its key",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="hubspot:contact:51", email="ops@other.test"),
            customers={"acme": ACME, "other": OTHER},
            links={"hubspot:company:9": "acme"},
            parents={"hubspot:contact:51": "hubspot:company:9"},
            resolved="acme",
        ),
        id="2. an unlinked contact: its company's link, before any look-up",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="hubspot:contact:51"),
            customers={"acme": ACME, "other": OTHER},
            links={"hubspot:company:9": "acme", "hubspot:contact:51": "other"},
            parents={"hubspot:contact:51": "hubspot:company:9"},
            resolved="other",
        ),
        id="2. a contact's own link wins over its company's",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="pipedrive:person:7"),
            customers={"acme": ACME},
            links={"pipedrive:organization:4": "acme"},
            parents={"pipedrive:person:7": ""},
            why_not=r"^no ChartMogul customer matches CRM record pipedrive:person:7 \(no link;",
        ),
        id="2. a person whose organization was taken away: no parent",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="salesforce:contact:003A", email="nobody@x.test"),
            customers={"acme": ACME},
            parents={"salesforce:contact:003A": "salesforce:account:001A"},
            why_not=r"^no ChartMogul customer matches CRM record salesforce:contact:003A \(no link, nor has "
            r"its parent salesforce:account:001A; import one with `relay links import`\) or email "
            r"nobody@x.test$",
            calls=[SEARCH],
        ),
        id="2. an unlinked parent: the look-ups, and both records named",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-1"),
            customers={"acme": ACME, "other": OTHER},
            cached={"ext:*:crm-1": "other"},
            resolved="other",
            cached_after="other",
        ),
        id="3. a cached look-up, before asking ChartMogul",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-1", email="ops@other.test"),
            customers={"acme": ACME, "other": OTHER},
            resolved="acme",
            calls=[LOOKUP],
            cached_after="acme",
        ),
        id="4. external_id, before email; the answer is cached",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-1", data_source_uuid="ds_b"),
            customers={
                "in a": {"external_id": "crm-1", "data_source_uuid": "ds_a"},
                "in b": {"external_id": "crm-1", "data_source_uuid": "ds_b"},
            },
            resolved="in b",
            calls=[LOOKUP],
            cached_after="in b",
        ),
        id="4. external_id within its data source",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-missing", email="OPS@other.test"),
            customers={"acme": ACME, "other": OTHER},
            resolved="other",
            calls=[LOOKUP, SEARCH],
            cached_after="other",
        ),
        id="5. no external_id match: by email (any case)",
    ),
    pytest.param(
        Case(
            CustomerRef(email="billing@acme.test"),
            customers={"acme": ACME, "other": OTHER},
            resolved="acme",
            calls=[SEARCH],
            cached_after="acme",
        ),
        id="5. email alone",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-1"),
            customers={
                "one": {"external_id": "crm-1", "data_source_uuid": "ds_a"},
                "two": {"external_id": "crm-1", "data_source_uuid": "ds_b"},
            },
            why_not=r"^ambiguous: 2 ChartMogul customers match external_id crm-1: "
            r"({one}, {two}|{two}, {one}); link the right one with `relay links import`$",
            calls=[LOOKUP],
        ),
        id="ambiguous external_id: both named, nothing cached",
    ),
    pytest.param(
        Case(
            CustomerRef(external_id="crm-3", email="shared@corp.test"),
            customers={"one": {"email": "shared@corp.test"}, "two": {"email": "shared@corp.test"}},
            why_not=r"^ambiguous: 2 ChartMogul customers match external_id crm-3 or email shared@corp.test: ",
            calls=[LOOKUP, SEARCH],
        ),
        id="ambiguous email",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="hubspot:company:7", external_id="crm-9", email="nobody@x.test"),
            customers={"acme": ACME},
            why_not=r"^no ChartMogul customer matches CRM record hubspot:company:7 \(no link; import one with"
            r" `relay links import`\) or external_id crm-9 or email nobody@x.test$",
            calls=[LOOKUP, SEARCH],
        ),
        id="nothing matches: every way tried is named",
    ),
    pytest.param(
        Case(
            CustomerRef(crm_record="hubspot:company:7"),
            customers={"acme": ACME},
            why_not=r"^no ChartMogul customer matches CRM record hubspot:company:7 ",
        ),
        id="a CRM record alone, unlinked: nothing to look up",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_resolution_order(case: Case, redis_url: str, simulator: SimulatorHandle) -> None:
    uuids = {label: simulator.add_customer(doc)["uuid"] for label, doc in case.customers.items()}

    async def main() -> tuple[Resolution, str | None]:
        store = Store.from_url(redis_url)
        try:
            await store.links.add({name: uuids[label] for name, label in case.links.items()})
            await store.links.add(
                {keys.parent_link(record): parent for record, parent in case.parents.items()}
            )
            for key, label in case.cached.items():
                await store.links.cache_lookup(key, uuids[label], ttl_s=60)
            async with aiohttp.ClientSession() as session:
                client = ChartMogulClient(
                    session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY)
                )
                resolution = await CustomerResolver(store.links, client).resolve(case.ref)
            return resolution, await store.links.cached_lookup(case.ref.key)
        finally:
            await store.aclose()

    resolution, cached = asyncio.run(main())

    if case.ref.uuid:
        assert resolution == Resolution(case.ref.uuid, None)
    elif case.resolved:
        assert (resolution.uuid, resolution.link) == (uuids[case.resolved], None)
        # Found by ChartMogul's look-up just now (not a link, not the cache): whatever waited for
        # this reference may go through too.
        assert (resolution.trigger is ReplayTrigger.LOOKUP) == bool(case.calls)
    else:
        assert resolution.uuid is None
        pattern = case.why_not.format(**{label: re.escape(uuid) for label, uuid in uuids.items()})
        assert re.search(pattern, resolution.why_not), resolution.why_not
        # What would let it through: a link of its record (or its parent), or of its key.
        assert resolution.waits_for[0] == (case.ref.crm_record or case.ref.key)
        assert case.ref.key in resolution.waits_for
    assert [r["path"] for r in simulator.requests()] == case.calls
    assert cached == (uuids[case.cached_after] if case.cached_after else None)


def test_an_ambiguous_answer_names_at_most_ten_candidates(redis_url: str, simulator: SimulatorHandle) -> None:
    made = [
        simulator.add_customer({"external_id": "crm-many", "data_source_uuid": f"ds_{i}"})["uuid"]
        for i in range(MAX_CANDIDATES_SHOWN + 3)
    ]

    async def main() -> Resolution:
        store = Store.from_url(redis_url)
        try:
            async with aiohttp.ClientSession() as session:
                client = ChartMogulClient(
                    session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY)
                )
                return await CustomerResolver(store.links, client).resolve(
                    CustomerRef(external_id="crm-many")
                )
        finally:
            await store.aclose()

    resolution = asyncio.run(main())

    assert resolution.uuid is None
    assert resolution.why_not.startswith(f"ambiguous: {len(made)} ChartMogul customers match")
    assert sum(uuid in resolution.why_not for uuid in made) == MAX_CANDIDATES_SHOWN
    assert " and 3 more; " in resolution.why_not
