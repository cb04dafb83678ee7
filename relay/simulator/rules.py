"""The rules of `PATCH /v1/customers/{uuid}`, enforced all-or-nothing.

`apply_update` returns an updated copy of the customer or raises `RuleViolation` (answered as
400 `{"code": 400, "message": ..., "param": ...}`); the stored customer is never touched here.

Interpretations of the contract (the seed page wins where the two differ):
- `attributes` present: its `tags` replace all tags and its `custom` replaces all custom
  attributes; a sub-key left out of `attributes` is emptied too ("any tags and custom attributes
  not specified in this object will be deleted"). `attributes` absent: both are unchanged.
- A field sent as `""` or null is applied empty (timestamps, state, country, owner and
  website_url become null; status must always be a lead status).
- Times more than `FUTURE_TOLERANCE_S` ahead of the simulator's clock count as the future.
- Custom attribute values must be JSON scalars; their type is not checked against the definition.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES
from relay.simulator.customers import Customer, sync_address
from relay.simulator.store import Store
from relay.simulator.values import format_timestamp, is_country, is_email, parse_timestamp, us_state, website

FUTURE_TOLERANCE_S = 5.0

_TOP_LEVEL_KEYS = frozenset((*CUSTOMER_FIELDS, "attributes", "primary_contact"))
_ATTRIBUTE_KEYS = ("tags", "custom")
_SCALARS = (str, int, float, bool, type(None))


class RuleViolation(Exception):
    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True)
class _Update:
    customer: Customer
    store: Store
    now: datetime


def apply_update(current: Customer, body: Any, store: Store, *, now: datetime | None = None) -> Customer:
    """The customer as it would be after this PATCH body, or RuleViolation for the first broken rule."""
    if not isinstance(body, dict):
        raise RuleViolation("Request body must be a JSON object", None)
    for key in body:
        if key not in _TOP_LEVEL_KEYS:
            raise RuleViolation(f'Unknown parameter "{key}"', key)
    update = _Update(copy.deepcopy(current), store, now or datetime.now(UTC))
    for key, value in body.items():
        _FIELD_RULES[key](update, key, value)
    _check_trial_not_before_lead(update.customer, sent=body.keys())
    sync_address(update.customer)
    return update.customer


# one rule per field: (update, field name, value sent) -> None, raising RuleViolation


def _text(update: _Update, key: str, value: Any) -> None:
    update.customer[key] = _string_or_empty(key, value)


def _email(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if text and not is_email(text):
        raise RuleViolation(f'Email "{text}" is not a valid email address', key)
    update.customer[key] = text


def _nullable_text(update: _Update, key: str, value: Any) -> None:
    update.customer[key] = _string_or_empty(key, value) or None


def _timestamp(update: _Update, key: str, value: Any) -> None:
    text = _string_or_empty(key, value)
    if not text:
        update.customer[key] = None
        return
    moment = parse_timestamp(text)
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
    code = us_state(text)
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
    for sub_key in value:
        if sub_key not in _ATTRIBUTE_KEYS:
            raise RuleViolation(f'Unknown parameter "attributes.{sub_key}"', f"attributes.{sub_key}")
    attributes = update.customer["attributes"]
    attributes["tags"] = _tags(value.get("tags", []))
    attributes["custom"] = _custom(value.get("custom", {}), update.store)


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise RuleViolation("attributes.tags must be an array of strings", "attributes.tags")
    return list(value)


def _custom(value: Any, store: Store) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleViolation("attributes.custom must be an object", "attributes.custom")
    custom = {}
    for name, given in value.items():
        if name not in store.custom_attributes:
            raise RuleViolation(f'Custom attribute "{name}" does not exist', "attributes.custom")
        custom[name] = custom_value(name, given, param="attributes.custom")
    return custom


def custom_value(name: str, given: Any, *, param: str) -> Any:
    """The plain value of a custom attribute sent plain or as `{"value": ..., "source": ...}`."""
    if isinstance(given, dict):
        if "value" not in given or not set(given) <= {"value", "source"}:
            raise RuleViolation(
                f'Custom attribute "{name}" must be a plain value or {{"value": ..., "source": ...}}', param
            )
        given = given["value"]
    if not isinstance(given, _SCALARS):
        raise RuleViolation(f'Custom attribute "{name}" must be a string, number, boolean or null', param)
    return given


def _primary_contact(update: _Update, key: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise RuleViolation("primary_contact must be an object", key)
    contact = update.customer["primary_contact"]
    for field, given in value.items():
        param = f"primary_contact.{field}"
        if field not in CONTACT_FIELDS:
            raise RuleViolation(f'Unknown parameter "{param}"', param)
        text = _string_or_empty(param, given)
        if field == "email" and text and not is_email(text):
            raise RuleViolation(f'Email "{text}" is not a valid email address', param)
        contact[field] = text or None


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
