"""People and pipeline: CRM lead statuses to ChartMogul's four, CRM owner ids to users' emails."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from relay.changes import LEAD_STATUSES
from relay.contract.fields import SUBSCRIPTION_STATUSES
from relay.contract.formats import looks_like_email
from relay.mapping.transforms.base import (
    TransformOptions,
    TransformResult,
    as_text,
    empty,
    is_empty,
    not_text,
    show,
)

# HubSpot `hs_lead_status` (the default property's internal values) -> ChartMogul lead status.
HUBSPOT_LEAD_STATUSES: Mapping[str, str] = {
    "NEW": "New Lead",
    "OPEN": "Working Lead",
    "ATTEMPTED_TO_CONTACT": "Working Lead",
    "CONNECTED": "Working Lead",
    "IN_PROGRESS": "Working Lead",
    "OPEN_DEAL": "Qualified Lead",
    "UNQUALIFIED": "Unqualified Lead",
    "BAD_TIMING": "Unqualified Lead",
}

# Salesforce's default Lead `Status` picklist -> ChartMogul lead status (for mapping files).
SALESFORCE_LEAD_STATUSES: Mapping[str, str] = {
    "Open - Not Contacted": "New Lead",
    "Working - Contacted": "Working Lead",
    "Closed - Converted": "Qualified Lead",
    "Closed - Not Converted": "Unqualified Lead",
}

_STATUS_SEPARATORS = re.compile(r"[\s_\-]+")


@lru_cache(maxsize=4096)  # the table's keys are folded on every look-up: fold each once
def _status_key(name: str) -> str:
    return _STATUS_SEPARATORS.sub(" ", name.casefold()).strip()


_LEAD_STATUS_KEYS: Mapping[str, str] = {_status_key(status): status for status in LEAD_STATUSES}
_SUBSCRIPTION_STATUS_KEYS: frozenset[str] = frozenset(_status_key(s) for s in SUBSCRIPTION_STATUSES)


def _never_written(value: object, status: str) -> TransformResult:
    return TransformResult.drop(
        f"{show(value)} maps to {status!r}, a status ChartMogul sets from subscriptions; it is never written"
    )


def lead_status(value: object, options: TransformOptions) -> TransformResult:
    if is_empty(value):
        return empty(options)
    name = as_text(value)
    if name is None:
        return not_text(value)
    key = _status_key(name)
    if key in _LEAD_STATUS_KEYS:
        return TransformResult.set(_LEAD_STATUS_KEYS[key])
    if key in _SUBSCRIPTION_STATUS_KEYS:
        return TransformResult.drop(
            f"{show(value)} is a status ChartMogul sets from subscriptions; it is never written"
        )
    table = HUBSPOT_LEAD_STATUSES if options.table is None else options.table
    target = next((str(to) for frm, to in table.items() if _status_key(str(frm)) == key), None)
    if target is None:
        return TransformResult.drop(f"lead status {show(value)} is not in the mapping's lead-status table")
    target_key = _status_key(target)
    if target_key in _SUBSCRIPTION_STATUS_KEYS:
        return _never_written(value, target)
    if target_key not in _LEAD_STATUS_KEYS:
        return TransformResult.drop(
            f"the mapping's lead-status table maps {show(value)} to {target!r}, "
            f"which is not one of {', '.join(LEAD_STATUSES)}"
        )
    return TransformResult.set(_LEAD_STATUS_KEYS[target_key])


def owner(value: object, options: TransformOptions) -> TransformResult:
    """A ChartMogul user's email for a CRM owner id (via `table`); an email passes through."""
    if is_empty(value):
        return empty(options)
    owner_id = as_text(value)
    if owner_id is None:
        return not_text(value)
    if looks_like_email(owner_id.lower()):
        return TransformResult.set(owner_id.lower())
    table = options.table or {}
    found = next((str(to) for frm, to in table.items() if str(frm).strip() == owner_id), None)
    if found is None:
        return TransformResult.drop(
            f"owner id {owner_id} has no ChartMogul user in the mapping's owner table"
        )
    found = found.strip().lower()
    if not looks_like_email(found):
        return TransformResult.drop(
            f"the mapping's owner table maps owner id {owner_id} to {found!r}, which is not an email address"
        )
    return TransformResult.set(found)
