"""Customer resolution: a CRM record, external id or email → a ChartMogul customer uuid.

In order: the event's own uuid, the link table (explicit `relay links import`, link
properties the CRM sent, merges, leads the relay created), the record's parent's link (a
contact reaches its company's customer; its own link wins), cached look-ups, then ChartMogul's
own look-ups by external_id and by email (every page of them). Several customers matching is
ambiguous: the events are dead-lettered with the candidate uuids named, never delivered to
whichever came first. No match says what would let the events through (`waits_for`: the link
fields whose link would resolve them, relay/store/replays.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.changes import CustomerRef
from relay.chartmogul.client import ChartMogulClient
from relay.store import ReplayTrigger
from relay.store.links import Links

# An ambiguous look-up's message names this many candidates at most.
MAX_CANDIDATES_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Resolution:
    uuid: str | None
    link: str | None  # the link-table field to remember, when the link is permanent
    why_not: str = ""
    # Found just now by a look-up, or a lead created: the dead letters that waited for `link`
    # (or for the reference's key) go through too — why, and what happened.
    trigger: ReplayTrigger | None = None
    detail: str = ""
    # Unresolved: the link fields (its record, its key, its parent) a link of which would do.
    waits_for: tuple[str, ...] = ()
    parent: str | None = None  # its record's parent (a contact's company), when known
    ambiguous: bool = False  # several customers match: never one more


class CustomerResolver:
    def __init__(self, links: Links, client: ChartMogulClient, *, lookup_ttl_s: int = 3600) -> None:
        self.links = links
        self.client = client
        self.lookup_ttl_s = lookup_ttl_s

    async def resolve(self, ref: CustomerRef) -> Resolution:
        if ref.uuid:
            return Resolution(ref.uuid, None)
        for link in (ref.crm_record, ref.key):
            if link and (uuid := await self.links.get(link)):
                return Resolution(uuid, None)
        parent = await self.links.parent(ref.crm_record) if ref.crm_record else None
        if parent and (uuid := await self.links.get(parent)):
            # Not remembered as the record's own link: the record may change parent.
            return Resolution(uuid, None)
        if cached := await self.links.cached_lookup(ref.key):
            return Resolution(cached, None)
        candidates: list[str] = []
        if ref.external_id:
            found = await self.client.find_by_external_id(ref.external_id, ref.data_source_uuid)
            candidates = [c["uuid"] for c in found if c.get("uuid")]
        if not candidates and ref.email:
            found = await self.client.search_by_email(ref.email)
            candidates = [c["uuid"] for c in found if c.get("uuid")]
        if len(candidates) == 1:
            await self.links.cache_lookup(ref.key, candidates[0], ttl_s=self.lookup_ttl_s)
            seen = f"{describe(ref)} is {candidates[0]} in ChartMogul"
            return Resolution(candidates[0], None, trigger=ReplayTrigger.LOOKUP, detail=seen)
        waits_for = link_fields(ref, parent)
        if len(candidates) > 1:
            why = ambiguous(ref, candidates)
            return Resolution(None, None, why, waits_for=waits_for, parent=parent, ambiguous=True)
        why = f"no ChartMogul customer matches {describe(ref, parent)}"
        return Resolution(None, None, why, waits_for=waits_for, parent=parent)


def link_fields(ref: CustomerRef, parent: str | None = None) -> tuple[str, ...]:
    """The link-table fields a link of which would resolve `ref`: its CRM record, its key (an
    external id's or email's look-up is cached under it) and its record's parent. None for a
    customer named by uuid: no link changes which customer that is."""
    if ref.uuid:
        return ()
    return tuple(dict.fromkeys(f for f in (ref.crm_record, ref.key, parent) if f))


def ambiguous(ref: CustomerRef, candidates: list[str]) -> str:
    shown = ", ".join(candidates[:MAX_CANDIDATES_SHOWN])
    more = len(candidates) - MAX_CANDIDATES_SHOWN
    return (
        f"ambiguous: {len(candidates)} ChartMogul customers match {describe(ref)}: {shown}"
        + (f" and {more} more" if more > 0 else "")
        + "; link the right one with `relay links import`"
    )


def describe(ref: CustomerRef, parent: str | None = None) -> str:
    parts = []
    if ref.crm_record and parent:
        parts.append(
            f"CRM record {ref.crm_record} (no link, nor has its parent {parent}; "
            "import one with `relay links import`)"
        )
    elif ref.crm_record:
        parts.append(f"CRM record {ref.crm_record} (no link; import one with `relay links import`)")
    if ref.external_id:
        parts.append(
            f"external_id {ref.external_id}" + (f" in {ref.data_source_uuid}" if ref.data_source_uuid else "")
        )
    if ref.email:
        parts.append(f"email {ref.email}")
    return " or ".join(parts) or ref.key
