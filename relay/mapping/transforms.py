"""Named transforms: a CRM's free text in, a value ChartMogul accepts out.

A mapping file names one per field (`transform = "country"`); `apply_transform("country",
"United States")` runs it. Every transform is `(value, TransformOptions) -> TransformResult`
and keeps three promises:

- it never raises, whatever the value (None, numbers, lists, garbage text);
- it is idempotent: run on its own output (with the same options) it returns that output;
- an unusable value is DROPPED with a note saying why (the note names the value, not the CRM
  field: the caller prefixes it), an empty value (None, "", blanks, [], {}) is SKIPPED silently,
  and only with `clear_on_empty=True` does an empty value become CLEAR (the value "").

    name         output                      accepts
    -----------  --------------------------  ----------------------------------------------------
    text         str, stripped               text, numbers
    tag          str, stripped               text, numbers
    email        str, lower-cased            `Anna@Example.com`, `mailto:anna@example.com`
    phone        str, blanks collapsed       digits with + ( ) - . / and an `ext`/`x` suffix
    country      ISO 3166 alpha-2            names, official and common names, alpha-2/-3 and
                                             numeric codes in any case, accents and punctuation
                                             optional (`U.S.A.` is `USA`); plus
                                             _COUNTRY_ALIASES (`UK`, `Russia`, `Deutschland`, …)
    us_state     ISO 3166-2 (`US-CA`)        `California`, `ca`, `US-CA`, `us ca`, `Washington DC`
    datetime     `2024-03-01T10:00:00Z`      epochs (see below), ISO 8601 with or without offset,
                                             `2024-03-01 10:00:00`, `2024-03-01`, `20240301`
    website      `https://…`                 `example.com`, `HTTP://example.com`, `//example.com`
    url          `https://…`                 as website; with `handle_prefix`, `@handle` too
    lead_status  one of LEAD_STATUSES        keys of `table` (default HUBSPOT_LEAD_STATUSES)
    owner        email of a ChartMogul user  keys of `table` (owner id -> email), or an email
    integer      int (64-bit)                42, 42.0, "42", "+42", "1,234", "42.0"
    decimal      float (finite)              1.5, "1.5", "1,234.50", "-2e3"
    boolean      bool                        true/false, yes/no, y/n, on/off, 1/0, t/f, checked

Timestamps: the canonical output is UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ` (fractions are
cut, not rounded), which ChartMogul takes as ISO 8601. A naive time is UTC. A number (or a
string of digits) is an epoch whose unit follows from its size: below 1e11 seconds, below 1e14
milliseconds (HubSpot), below 1e17 microseconds, else nanoseconds — so milliseconds before
1973-03-03 read as seconds. Exactly 8 digits that form a date are `YYYYMMDD`. Epoch 0 is
dropped: CRMs send it for "unset". Whether the time is in the past is the contract's business.

Lead statuses: the four ChartMogul lead statuses pass through in any case and spelling of
blanks (they are fixed points, so the table cannot remap them); other values are looked up in
`table`, comparing keys case-insensitively with `_`, `-` and blanks alike (`OPEN_DEAL` ==
`open deal`). `Active`, `Past Due` and `Cancelled` are ChartMogul's own and are never sent,
even when a table maps to them.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pycountry

from relay.changes import LEAD_STATUSES
from relay.contract import (
    SUBSCRIPTION_STATUSES,
    format_timestamp,
    is_country_code,
    looks_like_email,
    normalize_website_url,
    us_state_codes,
    us_states,
    website_url_problem,
)

Value = str | int | float | bool

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

# Country names CRMs hold that are none of pycountry's names or codes. Keys are compared folded
# (case, accents, dots, punctuation and a leading "the" ignored; "&" = "and"; "st" = "saint"),
# so "U.S.A.", "u.k." and "Republic of the Congo" need no entry: they fold onto a pycountry code
# or name ("usa", "uk" is not one, hence its entry).
_COUNTRY_ALIASES: Mapping[str, str] = {
    # abbreviations
    "UK": "GB",
    "UAE": "AE",
    "DRC": "CD",
    "DR Congo": "CD",
    "PRC": "CN",
    "ROK": "KR",
    # constituent countries and everyday names
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "Holland": "NL",
    "Russia": "RU",
    "Korea": "KR",
    "Republic of Korea": "KR",
    "Turkey": "TR",
    "Macedonia": "MK",
    "Ivory Coast": "CI",
    "Swaziland": "SZ",
    "Burma": "MM",
    "Cape Verde": "CV",
    "Vatican": "VA",
    "Vatican City": "VA",
    "Palestine": "PS",
    "Macau": "MO",
    "Brunei": "BN",
    "Micronesia": "FM",
    "East Timor": "TL",
    "Democratic Republic of the Congo": "CD",
    "Congo-Kinshasa": "CD",
    "Congo-Brazzaville": "CG",
    "Hong Kong SAR": "HK",
    "Mainland China": "CN",
    "US Virgin Islands": "VI",
    # names in the country's own language, as CRMs fed by local teams hold them
    "Deutschland": "DE",
    "España": "ES",
    "Österreich": "AT",
    "Schweiz": "CH",
    "Suisse": "CH",
    "Svizzera": "CH",
    "Italia": "IT",
    "Nederland": "NL",
    "Belgique": "BE",
    "België": "BE",
    "Brasil": "BR",
    "Sverige": "SE",
    "Norge": "NO",
    "Danmark": "DK",
    "Suomi": "FI",
    "Polska": "PL",
    "Česko": "CZ",
    "Éire": "IE",
    "Hrvatska": "HR",
    "Magyarország": "HU",
    "Nihon": "JP",
    "Nippon": "JP",
}

_US_STATE_ALIASES: Mapping[str, str] = {
    "Washington DC": "US-DC",
    "Washington D.C.": "US-DC",
    "US Virgin Islands": "US-VI",
    "U.S. Virgin Islands": "US-VI",
    "United States Virgin Islands": "US-VI",
    "Virgin Islands": "US-VI",
    "USVI": "US-VI",
    "Northern Marianas": "US-MP",
}

_BOOLEAN_WORDS: Mapping[str, bool] = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "on", "checked"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0", "off", "unchecked"), False),
}

_SHOWN_CHARS = 60
_MAX_NUMBER_CHARS = 40  # longer "numbers" are garbage, and int() refuses > 4300 digits anyway
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_UNITS: tuple[tuple[float, int], ...] = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000))
_NANOSECONDS = 1_000_000_000

_DIGITS = re.compile(r"[+-]?\d+", re.ASCII)
_EPOCH_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_INTEGER_TEXT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?", re.ASCII)
_DECIMAL_TEXT = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NAMED_UTC = re.compile(r"\s*(?:UTC|GMT)$", re.IGNORECASE)
_PHONE = re.compile(r"\+?[\d ().\-/]+(?:\s*(?:ext\.?|x|#)\s*\d+)?", re.ASCII | re.IGNORECASE)
_MIN_PHONE_DIGITS = 4
_HANDLE = re.compile(r"@([A-Za-z0-9_.\-]+)", re.ASCII)
_STATUS_SEPARATORS = re.compile(r"[\s_\-]+")


class Outcome(enum.Enum):
    SET = "set"  # send `value`
    CLEAR = "clear"  # send "" (the CRM emptied the field and clearing was asked for)
    SKIP = "skip"  # the CRM value was empty: send nothing, report nothing
    DROP = "drop"  # the CRM value is unusable: send nothing; `note` says why


@dataclass(frozen=True, slots=True)
class TransformResult:
    outcome: Outcome
    value: Value | None = None
    note: str | None = None

    @classmethod
    def set(cls, value: Value) -> TransformResult:
        return cls(Outcome.SET, value)

    @classmethod
    def clear(cls) -> TransformResult:
        return cls(Outcome.CLEAR, "")

    @classmethod
    def skip(cls) -> TransformResult:
        return cls(Outcome.SKIP)

    @classmethod
    def drop(cls, note: str) -> TransformResult:
        return cls(Outcome.DROP, None, note)

    @property
    def sends(self) -> bool:
        """True when the field goes into the change (`value`: the new value, "" to clear)."""
        return self.outcome in (Outcome.SET, Outcome.CLEAR)


@dataclass(frozen=True, slots=True)
class TransformOptions:
    """What a mapping file may say next to a transform's name.

    clear_on_empty  an empty CRM value clears the ChartMogul field (CLEAR, value "") instead
                    of being skipped
    table           lead_status: CRM status -> lead status (default HUBSPOT_LEAD_STATUSES);
                    owner: CRM owner id -> ChartMogul user email (keys compared as strings)
    handle_prefix   url: turns "@handle" into handle_prefix + "handle"
                    (e.g. "https://twitter.com/")
    """

    clear_on_empty: bool = False
    table: Mapping[str, str] | None = None
    handle_prefix: str | None = None


Transform = Callable[[object, TransformOptions], TransformResult]


# --- helpers --------------------------------------------------------------------------------


def _show(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits refuses to become text
        return "a number too long to show"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | Mapping):
        return len(value) == 0
    return False


def _empty(options: TransformOptions) -> TransformResult:
    return TransformResult.clear() if options.clear_on_empty else TransformResult.skip()


def _as_text(value: object) -> str | None:
    """Text for text-like transforms: strings (stripped) and plain numbers; None for the rest."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < 10**_MAX_NUMBER_CHARS else None
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


def _not_text(value: object) -> TransformResult:
    return TransformResult.drop(f"{_show(value)} is {_kind(value)}, not text")


def _fold(text: str) -> str:
    """A name reduced for comparison: no case, accents, dots or apostrophes; "&" = "and"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"['\u2019`.]", "", text.replace("&", " and "))
    words = re.sub(r"[\s,()/_\-]+", " ", text).split()
    words = ["saint" if word == "st" else word for word in words]
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


# --- text-like ------------------------------------------------------------------------------


def text(value: object, options: TransformOptions) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    result = _as_text(value)
    if result is None:
        return _not_text(value)
    return TransformResult.set(result)


def tag(value: object, options: TransformOptions) -> TransformResult:
    """A tag, used as given apart from surrounding blanks."""
    return text(value, options)


def email(value: object, options: TransformOptions) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    if not isinstance(value, str):
        return _not_text(value)
    address = value.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:].strip()
    address = address.lower()
    if not address:
        return _empty(options)
    if not looks_like_email(address):
        return TransformResult.drop(f"{_show(value)} is not an email address")
    return TransformResult.set(address)


def phone(value: object, options: TransformOptions) -> TransformResult:
    """A phone number kept as written (not reformatted), runs of blanks made one space."""
    if _is_empty(value):
        return _empty(options)
    number = _as_text(value)
    if number is None:
        return _not_text(value)
    number = " ".join(number.split())
    digits = sum(ch.isascii() and ch.isdigit() for ch in number)
    if _PHONE.fullmatch(number) is None or digits < _MIN_PHONE_DIGITS:
        return TransformResult.drop(f"{_show(value)} is not a phone number")
    return TransformResult.set(number)


# --- places ---------------------------------------------------------------------------------


@cache
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if isinstance(name, str):
                index.setdefault(_fold(name), country.alpha_2)
    for alias, code in _COUNTRY_ALIASES.items():
        index[_fold(alias)] = code
    return index


def country(value: object, options: TransformOptions) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    if not isinstance(value, str):
        return _not_text(value)
    code = _country_index().get(_fold(value))
    if code is None or not is_country_code(code):
        return TransformResult.drop(f"{_show(value)} is not a country name or ISO 3166 code")
    return TransformResult.set(code)


@cache
def _us_state_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, name in us_states().items():
        for key in (code, code.removeprefix("US-"), name):
            index.setdefault(_fold(key), code)
    for alias, code in _US_STATE_ALIASES.items():
        index[_fold(alias)] = code
    return index


def us_state(value: object, options: TransformOptions) -> TransformResult:
    """A US state (or DC, or a territory) as `US-XX`.

    Only for US addresses: a two-letter code is read as a US one, so Western Australia's `WA`
    would become `US-WA`.
    """
    if _is_empty(value):
        return _empty(options)
    if not isinstance(value, str):
        return _not_text(value)
    code = _us_state_index().get(_fold(value))
    if code is None or code not in us_state_codes():
        return TransformResult.drop(f"{_show(value)} is not a US state name or code")
    return TransformResult.set(code)


# --- time -----------------------------------------------------------------------------------


def _from_epoch(number: int | float) -> datetime | None:
    """The moment an epoch number stands for, its unit read from its size; None if out of range."""
    if isinstance(number, float) and not math.isfinite(number):
        return None
    per_second = _NANOSECONDS
    for bound, units in _EPOCH_UNITS:
        if abs(number) < bound:
            per_second = units
            break
    try:
        seconds = number // per_second if isinstance(number, int) else math.floor(number / per_second)
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _parse_time_text(raw: str) -> datetime | None:
    if len(raw) == 8 and raw.isascii() and raw.isdigit():
        try:
            return datetime.strptime(raw, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            pass  # not a date: an epoch in seconds
    if len(raw) <= _MAX_NUMBER_CHARS and _EPOCH_TEXT.fullmatch(raw):
        return _from_epoch(int(raw) if _DIGITS.fullmatch(raw) else float(raw))
    candidate = _NAMED_UTC.sub("+00:00", raw).upper() if raw.isascii() else ""
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def datetime_(value: object, options: TransformOptions) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    moment: datetime | None
    if isinstance(value, bool):
        return TransformResult.drop(f"{_show(value)} is a boolean, not a time")
    if isinstance(value, int | float):
        moment = _from_epoch(value)
    elif isinstance(value, str):
        moment = _parse_time_text(value.strip())
    else:
        return TransformResult.drop(f"{_show(value)} is {_kind(value)}, not a time")
    if moment is None:
        return TransformResult.drop(f"{_show(value)} is not a time (ISO 8601 or an epoch number)")
    if moment == _EPOCH:
        return TransformResult.drop(f"{_show(value)} is epoch 0, which CRMs send for 'no date'")
    try:
        return TransformResult.set(format_timestamp(moment))
    except OverflowError:
        return TransformResult.drop(f"{_show(value)} is outside the range of dates")


# --- web ------------------------------------------------------------------------------------


def _http_url(value: object, options: TransformOptions, *, handle_prefix: str | None) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    if not isinstance(value, str):
        return _not_text(value)
    url = value.strip()
    handle = _HANDLE.fullmatch(url)
    if handle is not None and handle_prefix:
        url = handle_prefix.rstrip("/") + "/" + handle.group(1)
    if url.startswith("//"):
        url = "https:" + url
    url = normalize_website_url(url)
    problem = website_url_problem(url)
    if problem is not None:
        return TransformResult.drop(f"{_show(value)} is not a web address: it {problem}")
    return TransformResult.set(url)


def website(value: object, options: TransformOptions) -> TransformResult:
    """A website: `https://` before a bare domain, the scheme lower-cased, the rest as given."""
    return _http_url(value, options, handle_prefix=None)


def url(value: object, options: TransformOptions) -> TransformResult:
    """A profile URL (linked_in, twitter): as `website`, and `@handle` with a `handle_prefix`."""
    return _http_url(value, options, handle_prefix=options.handle_prefix)


# --- people and pipeline --------------------------------------------------------------------


def _status_key(name: str) -> str:
    return _STATUS_SEPARATORS.sub(" ", name.casefold()).strip()


_LEAD_STATUS_KEYS: Mapping[str, str] = {_status_key(status): status for status in LEAD_STATUSES}
_SUBSCRIPTION_STATUS_KEYS: frozenset[str] = frozenset(_status_key(s) for s in SUBSCRIPTION_STATUSES)


def _never_written(value: object, status: str) -> TransformResult:
    return TransformResult.drop(
        f"{_show(value)} maps to {status!r}, a status ChartMogul sets from subscriptions; it is never written"
    )


def lead_status(value: object, options: TransformOptions) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    name = _as_text(value)
    if name is None:
        return _not_text(value)
    key = _status_key(name)
    if key in _LEAD_STATUS_KEYS:
        return TransformResult.set(_LEAD_STATUS_KEYS[key])
    if key in _SUBSCRIPTION_STATUS_KEYS:
        return TransformResult.drop(
            f"{_show(value)} is a status ChartMogul sets from subscriptions; it is never written"
        )
    table = HUBSPOT_LEAD_STATUSES if options.table is None else options.table
    target = next((str(to) for frm, to in table.items() if _status_key(str(frm)) == key), None)
    if target is None:
        return TransformResult.drop(f"lead status {_show(value)} is not in the mapping's lead-status table")
    target_key = _status_key(target)
    if target_key in _SUBSCRIPTION_STATUS_KEYS:
        return _never_written(value, target)
    if target_key not in _LEAD_STATUS_KEYS:
        return TransformResult.drop(
            f"the mapping's lead-status table maps {_show(value)} to {target!r}, "
            f"which is not one of {', '.join(LEAD_STATUSES)}"
        )
    return TransformResult.set(_LEAD_STATUS_KEYS[target_key])


def owner(value: object, options: TransformOptions) -> TransformResult:
    """A ChartMogul user's email for a CRM owner id (via `table`); an email passes through."""
    if _is_empty(value):
        return _empty(options)
    owner_id = _as_text(value)
    if owner_id is None:
        return _not_text(value)
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


# --- custom attribute values ----------------------------------------------------------------


def integer(value: object, options: TransformOptions) -> TransformResult:
    """A whole number within 64 bits (what JSON encoders and ChartMogul's Integer type hold)."""
    if _is_empty(value):
        return _empty(options)
    number: int | None = None
    if isinstance(value, bool):
        return TransformResult.drop(f"{_show(value)} is a boolean, not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, str):
        raw = value.strip()
        if len(raw) <= _MAX_NUMBER_CHARS and _INTEGER_TEXT.fullmatch(raw):
            number = int(raw.split(".")[0].replace(",", ""))
    else:
        return TransformResult.drop(f"{_show(value)} is {_kind(value)}, not a whole number")
    if number is None:
        return TransformResult.drop(f"{_show(value)} is not a whole number")
    if not _INT64_MIN <= number <= _INT64_MAX:
        return TransformResult.drop(f"{_show(value)} is too large a number")
    return TransformResult.set(number)


def decimal(value: object, options: TransformOptions) -> TransformResult:
    """A finite number as a float; `1,234.50` reads with thousands separators (not `1.234,50`)."""
    if _is_empty(value):
        return _empty(options)
    number: float | None = None
    if isinstance(value, bool):
        return TransformResult.drop(f"{_show(value)} is a boolean, not a number")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = None
    elif isinstance(value, str):
        raw = value.strip()
        if len(raw) <= _MAX_NUMBER_CHARS and _DECIMAL_TEXT.fullmatch(raw):
            number = float(raw.replace(",", ""))
    else:
        return TransformResult.drop(f"{_show(value)} is {_kind(value)}, not a number")
    if number is None or not math.isfinite(number):
        return TransformResult.drop(f"{_show(value)} is not a finite number")
    return TransformResult.set(number)


def boolean(value: object, options: TransformOptions) -> TransformResult:
    if _is_empty(value):
        return _empty(options)
    if isinstance(value, bool):
        return TransformResult.set(value)
    if isinstance(value, int | float) and value in (0, 1):
        return TransformResult.set(bool(value))
    if isinstance(value, str) and value.strip().casefold() in _BOOLEAN_WORDS:
        return TransformResult.set(_BOOLEAN_WORDS[value.strip().casefold()])
    return TransformResult.drop(f"{_show(value)} is not a yes/no value")


# --- registry -------------------------------------------------------------------------------

TRANSFORMS: dict[str, Transform] = {
    "text": text,
    "tag": tag,
    "email": email,
    "phone": phone,
    "country": country,
    "us_state": us_state,
    "datetime": datetime_,
    "website": website,
    "url": url,
    "lead_status": lead_status,
    "owner": owner,
    "integer": integer,
    "decimal": decimal,
    "boolean": boolean,
}

TRANSFORM_NAMES: tuple[str, ...] = tuple(TRANSFORMS)


def apply_transform(name: str, value: object, **options: Any) -> TransformResult:
    """Run the transform called `name` on `value`.

    Raises ValueError for an unknown transform name and TypeError for an unknown option: both
    are mistakes in a mapping file, to be caught when it loads, never by a CRM value.
    """
    transform = TRANSFORMS.get(name)
    if transform is None:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(TRANSFORM_NAMES)}")
    return transform(value, TransformOptions(**options))
