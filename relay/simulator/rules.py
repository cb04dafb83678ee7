"""The rules of `PATCH /v1/customers/{uuid}`, enforced all-or-nothing.

`apply_update` returns the customer (and its primary contact) as they would be after the PATCH,
or raises `RuleViolation` (answered `{"code", "message", "param"}` with its `status`: 400, or 422
for an invalid email as recorded); the stored customer is never touched here.

How strict it is follows the `Behaviour` switches (behaviour.py: the defaults are what the real
API was recorded doing, the other side what the docs promise):
- `unknown_keys`: keys outside the contract (read-only `external_id`, `data_source_uuid`,
  `attributes.clearbit`, ...) are ignored, or refused with 400.
- `lenient_values`: a bare state `NY`, Ruby-style times `2016-01-01 14:30:00 UTC` and arrays as
  custom values are accepted (a state next to a non-US country is stored as null, as recorded
  in 2023), or only `US-NY`, ISO 8601 and scalars are.
- `unknown_owner`: an owner who is not a user is left unchanged silently, or refused with 400.
- `omitted_attributes`: `attributes` without `tags` (or `custom`) keeps them, or empties them.

Always, as both docs and recordings agree: `status` only a lead status; country alpha-2; times
in the past and a trial not before the lead; custom attributes must exist in the account (their
Timestamp values are normalised to `2016-01-31T00:00:00.000Z`); `""`/null applies empty.
Times more than `FUTURE_TOLERANCE_S` ahead of the simulator's clock count as the future.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES
from relay.simulator.behaviour import Behaviour
from relay.simulator.customers import Customer, chartmogul_url, sync_address
from relay.simulator.store import Store
from relay.simulator.values import (
    format_timestamp,
    is_country,
    is_email,
    parse_timestamp,
    us_state,
    us_state_lenient,
    website,
)

FUTURE_TOLERANCE_S = 5.0

_TOP_LEVEL_KEYS = frozenset((*CUSTOMER_FIELDS, "attributes", "primary_contact"))
_ATTRIBUTE_KEYS = ("tags", "custom")
_SCALARS = (str, int, float, bool, type(None))
INVALID_EMAIL_MESSAGE = "The value provided does not appear to be a valid email address."


class RuleViolation(Exception):
    def __init__(self, message: str, param: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(slots=True)
class Applied:
    customer: Customer
    contact: dict[str, Any] | None  # None: no primary_contact sent


@dataclass(slots=True)
class _Update:
    customer: Customer
    contact: dict[str, Any] | None
    store: Store
    behaviour: Behaviour
    now: datetime


def apply_update(
    current: Customer,
    body: Any,
    store: Store,
    behaviour: Behaviour | None = None,
    *,
    now: datetime | None = None,
) -> Applied:
    """The customer after this PATCH body, or RuleViolation for the first broken rule."""
    behaviour = behaviour or Behaviour()
    if not isinstance(body, dict):
        raise RuleViolation("Request body must be a JSON object", None)
    known = {key: value for key, value in body.items() if key in _TOP_LEVEL_KEYS}
    if behaviour.unknown_keys == "reject":
        for key in body.keys() - known.keys():
            raise RuleViolation(f'Unknown parameter "{key}"', key)
    contact = copy.deepcopy(store.contacts.get(current["uuid"]))
    update = _Update(copy.deepcopy(current), contact, store, behaviour, now or datetime.now(UTC))
    for key, value in known.items():
        _FIELD_RULES[key](update, key, value)
    _check_trial_not_before_lead(update.customer, sent=known.keys())
    if behaviour.lenient_values and "state" in known and update.customer["country"] not in (None, "US"):
        update.customer["state"] = None  # recorded 2023: state "NY" next to country DE -> null
    if current["chartmogul-url"] == chartmogul_url(current):
        update.customer["chartmogul-url"] = chartmogul_url(update.customer)  # recorded: follows a rename
    sync_address(update.customer)
    return Applied(update.customer, update.contact if "primary_contact" in known else None)


# one rule per field: (update, field name, value sent) -> None, raising RuleViolation


def _text(update: _Update, key: str, value: Any) -> None:
    update.customer[key] = _string_or_empty(key, value)


def _email(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if text and not is_email(text):
        raise RuleViolation(INVALID_EMAIL_MESSAGE, key, 422)
    update.customer[key] = text


def _nullable_text(update: _Update, key: str, value: Any) -> None:
    update.customer[key] = _string_or_empty(key, value) or None


def _timestamp(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if not text:
        update.customer[key] = None
        return
    moment = parse_timestamp(text, lenient=update.behaviour.lenient_values)
    if moment is None:
        raise RuleViolation(f'{key} "{text}" is not an ISO 8601 time', key)
    if moment > update.now + timedelta(seconds=FUTURE_TOLERANCE_S):
        raise RuleViolation(f'{key} "{text}" is in the future; it must be in the past', key)
    update.customer[key] = format_timestamp(moment)


def _state(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if not text:
        update.customer[key] = None
        return
    code = us_state_lenient(text) if update.behaviour.lenient_values else us_state(text)
    if code is None:
        raise RuleViolation(f'State "{text}" is not an ISO 3166-2 US state code such as "US-CA"', key)
    update.customer[key] = code


def _country(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if text and not is_country(text):
        raise RuleViolation(f'Country "{text}" is not an ISO 3166 alpha-2 country code', key)
    update.customer[key] = text or None


def _owner(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if not text:
        update.customer[key] = None
        return
    user = update.store.user(text)
    if user is None:
        if update.behaviour.unknown_owner == "ignore":
            return  # recorded 2023: 200, the owner left as it was
        raise RuleViolation(f'Owner "{text}" is not a ChartMogul user', key)
    update.customer[key] = user


def _status(update: _Update, key: str, value: Any) -> None:
    if value not in LEAD_STATUSES:
        raise RuleViolation(f"Status {_quoted(value)} is not a lead status ({', '.join(LEAD_STATUSES)})", key)
    update.customer[key] = value


def _website(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if not text:
        update.customer[key] = None
        return
    url = website(text)
    if url is None:
        raise RuleViolation(f'Website URL "{text}" must be a domain or an http(s) URL', key)
    update.customer[key] = url


def _attributes(update: _Update, key: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise RuleViolation("attributes must be an object", key)
    if update.behaviour.unknown_keys == "reject":
        for sub_key in value:
            if sub_key not in _ATTRIBUTE_KEYS:
                raise RuleViolation(f'Unknown parameter "attributes.{sub_key}"', f"attributes.{sub_key}")
    attributes = update.customer["attributes"]
    delete_omitted = update.behaviour.omitted_attributes == "delete"
    if "tags" in value or delete_omitted:
        attributes["tags"] = _tags(value.get("tags", []))
    if "custom" in value or delete_omitted:
        attributes["custom"] = _custom(value.get("custom", {}), update)


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise RuleViolation("attributes.tags must be an array of strings", "attributes.tags")
    return list(value)


def _custom(value: Any, update: _Update) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleViolation("attributes.custom must be an object", "attributes.custom")
    custom = {}
    for name, given in value.items():
        type_ = update.store.custom_attributes.get(name)
        if type_ is None:
            raise RuleViolation(f'Custom attribute "{name}" does not exist', "attributes.custom")
        custom[name] = custom_value(
            name, given, type_, param="attributes.custom", lenient=update.behaviour.lenient_values
        )
    return custom


def custom_value(name: str, given: Any, type_: str, *, param: str, lenient: bool) -> Any:
    """The plain value of a custom attribute sent plain or as `{"value": ..., "source": ...}`,
    a Timestamp normalised as the real API answers it (`2016-01-31 00:00:00 UTC` ->
    `2016-01-31T00:00:00.000Z`). `lenient` also takes arrays of scalars (recorded 2016)."""
    if isinstance(given, dict):
        if "value" not in given or not set(given) <= {"value", "source"}:
            raise RuleViolation(
                f'Custom attribute "{name}" must be a plain value or {{"value": ..., "source": ...}}', param
            )
        given = given["value"]
    if lenient and isinstance(given, list) and all(isinstance(item, _SCALARS) for item in given):
        return list(given)
    if not isinstance(given, _SCALARS):
        raise RuleViolation(f'Custom attribute "{name}" must be a string, number, boolean or null', param)
    if type_ == "Timestamp" and isinstance(given, str):
        moment = parse_timestamp(given, lenient=True)
        if moment is not None:
            return format_timestamp(moment)
    return given


def _primary_contact(update: _Update, key: str, value: Any) -> None:
    """Kept in the store's contacts, never in the customer object (the real API shows none)."""
    if not isinstance(value, dict):
        raise RuleViolation("primary_contact must be an object", key)
    if update.contact is None:
        update.contact = dict.fromkeys(CONTACT_FIELDS)
    for field, given in value.items():
        param = f"primary_contact.{field}"
        if field not in CONTACT_FIELDS:
            if update.behaviour.unknown_keys == "ignore":
                continue
            raise RuleViolation(f'Unknown parameter "{param}"', param)
        text = _string_or_empty(param, given)
        if field == "email" and text and not is_email(text):
            raise RuleViolation(INVALID_EMAIL_MESSAGE, param, 422)
        update.contact[field] = text or None


_Rule = Callable[[_Update, str, Any], None]

_FIELD_RULES: dict[str, _Rule] = {
    "name": _text,
    "email": _email,
    "company": _text,
    "lead_created_at": _timestamp,
    "free_trial_started_at": _timestamp,
    "zip": _nullable_text,
    "city": _nullable_text,
    "state": _state,
    "country": _country,
    "owner": _owner,
    "status": _status,
    "website_url": _website,
    "attributes": _attributes,
    "primary_contact": _primary_contact,
}


def _check_trial_not_before_lead(customer: Customer, sent: Any) -> None:
    """Compares the values after the update: one field sent is checked against the other's current value."""
    lead, trial = customer["lead_created_at"], customer["free_trial_started_at"]
    if lead is None or trial is None:
        return
    lead_at, trial_at = parse_timestamp(lead), parse_timestamp(trial)
    if lead_at is None or trial_at is None or trial_at >= lead_at:
        return
    param = "free_trial_started_at" if "free_trial_started_at" in sent else "lead_created_at"
    raise RuleViolation(
        f'free_trial_started_at "{trial}" is before lead_created_at "{lead}"; '
        "a trial starts at or after the lead is created",
        param,
    )


def _string_or_empty(param: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RuleViolation(f"{param} must be a string", param)
    return value


def _quoted(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)
