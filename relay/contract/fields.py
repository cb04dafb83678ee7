"""The contract's rules for top-level fields and `primary_contact`: text, status, dates, places
and email addresses, and a trial that cannot start before the lead was created."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pycountry

from relay.changes import CONTACT_FIELDS, LEAD_STATUSES
from relay.contract.formats import (
    format_timestamp,
    is_country_code,
    is_us_state_code,
    looks_like_email,
    parse_timestamp,
    website_url_problem,
)
from relay.contract.violation import ContractViolation, kind, not_an_object, show

# Statuses ChartMogul derives from subscriptions; a client can never write them.
SUBSCRIPTION_STATUSES: tuple[str, ...] = ("Active", "Past Due", "Cancelled")
TIMESTAMP_FIELDS: tuple[str, ...] = ("lead_created_at", "free_trial_started_at")
EMAIL_FIELDS: tuple[str, ...] = ("email", "owner")


def check_field(key: str, value: Any, now: datetime) -> list[ContractViolation]:
    if key == "status":
        return _check_status(value)
    if value is None or value == "":
        return []  # clears the field
    if not isinstance(value, str):
        return [ContractViolation(key, f'{key} must be a string (send "" to clear it), not {kind(value)}')]
    problem: str | None = None
    if key in TIMESTAMP_FIELDS:
        problem = _timestamp_problem(key, value, now)
    elif key in EMAIL_FIELDS:
        if not looks_like_email(value):
            problem = f"{key} {show(value)} is not an email address"
    elif key == "state":
        problem = _state_problem(value)
    elif key == "country":
        problem = _country_problem(value)
    elif key == "website_url":
        reason = website_url_problem(value)
        if reason is not None:
            problem = f"website_url {show(value)} {reason}"
    return [] if problem is None else [ContractViolation(key, problem)]


def _check_status(value: Any) -> list[ContractViolation]:
    allowed = ", ".join(LEAD_STATUSES)
    if value in LEAD_STATUSES:
        return []
    if value is None or value == "":
        message = f"status cannot be cleared; send one of {allowed}"
    elif not isinstance(value, str):
        message = f"status must be one of {allowed}, not {kind(value)}"
    elif value.strip().casefold() in {s.casefold() for s in SUBSCRIPTION_STATUSES}:
        message = (
            f"status {show(value)} is set by ChartMogul from the customer's subscriptions "
            f"and cannot be written; send one of {allowed}"
        )
    else:
        close = [s for s in LEAD_STATUSES if s.casefold() == value.strip().casefold()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"status {show(value)} is not a lead status{hint}; send one of {allowed}"
    return [ContractViolation("status", message)]


def _timestamp_problem(key: str, value: str, now: datetime) -> str | None:
    moment = parse_timestamp(value)
    if moment is None:
        return f"{key} {show(value)} is not an ISO 8601 time such as 2024-03-01T10:00:00Z"
    if moment > now:
        return f"{key} {value} is in the future (now is {format_timestamp(now)}); it must be in the past"
    return None


def _state_problem(value: str) -> str | None:
    if is_us_state_code(value):
        return None
    guess = "US-" + value.strip().upper()
    hint = f" (did you mean {guess!r}?)" if is_us_state_code(guess) else ""
    return f"state {show(value)} is not an ISO 3166-2 US state code such as 'US-CA'{hint}"


def _country_problem(value: str) -> str | None:
    if is_country_code(value):
        return None
    guess = value.strip().upper()
    if len(guess) == 3:
        country = pycountry.countries.get(alpha_3=guess)
        guess = country.alpha_2 if country is not None else ""
    hint = f" (did you mean {guess!r}?)" if is_country_code(guess) else ""
    return f"country {show(value)} is not an ISO 3166 alpha-2 country code such as 'US'{hint}"


def check_contact(value: Any) -> list[ContractViolation]:
    if not isinstance(value, Mapping):
        return [not_an_object("primary_contact", value)]
    violations: list[ContractViolation] = []
    for key, given in value.items():
        path = f"primary_contact.{key}"
        if key not in CONTACT_FIELDS:
            violations.append(
                ContractViolation(
                    path, f"{show(key)} is not a primary_contact field ({', '.join(CONTACT_FIELDS)})"
                )
            )
        elif given is None or given == "":
            continue
        elif not isinstance(given, str):
            violations.append(
                ContractViolation(path, f'{path} must be a string (send "" to clear it), not {kind(given)}')
            )
        elif key == "email" and not looks_like_email(given):
            violations.append(ContractViolation(path, f"{path} {show(given)} is not an email address"))
    return violations


def check_trial_after_lead(
    body: Mapping[str, Any], current: Mapping[str, Any] | None
) -> list[ContractViolation]:
    """free_trial_started_at >= lead_created_at, checked when the body changes either one."""
    lead_sent, trial_sent = "lead_created_at" in body, "free_trial_started_at" in body
    if not (lead_sent or trial_sent):
        return []
    known: Mapping[Any, Any] = current if isinstance(current, Mapping) else {}
    lead = body["lead_created_at"] if lead_sent else known.get("lead_created_at")
    trial = body["free_trial_started_at"] if trial_sent else known.get("free_trial_started_at")
    if not (isinstance(lead, str) and isinstance(trial, str)):
        return []
    lead_at, trial_at = parse_timestamp(lead), parse_timestamp(trial)
    if lead_at is None or trial_at is None or trial_at >= lead_at:
        return []
    if lead_sent and trial_sent:
        return [
            ContractViolation(
                "free_trial_started_at", f"free_trial_started_at {trial} is before lead_created_at {lead}"
            )
        ]
    if trial_sent:
        return [
            ContractViolation(
                "free_trial_started_at",
                f"free_trial_started_at {trial} is before the customer's current lead_created_at {lead}",
            )
        ]
    return [
        ContractViolation(
            "lead_created_at",
            f"lead_created_at {lead} is after the customer's current free_trial_started_at {trial}",
        )
    ]
