"""Places: country names and codes to ISO 3166 alpha-2, US states to ISO 3166-2 (`US-CA`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache, lru_cache

import pycountry

from relay.contract.formats import is_country_code, us_state_codes, us_states
from relay.mapping.transforms.base import TransformOptions, TransformResult, empty, is_empty, not_text, show

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


@lru_cache(maxsize=4096)  # a batch names the same few countries and states again and again
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
    if is_empty(value):
        return empty(options)
    if not isinstance(value, str):
        return not_text(value)
    code = _country_index().get(_fold(value))
    if code is None or not is_country_code(code):
        return TransformResult.drop(f"{show(value)} is not a country name or ISO 3166 code")
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
    if is_empty(value):
        return empty(options)
    if not isinstance(value, str):
        return not_text(value)
    code = _us_state_index().get(_fold(value))
    if code is None or code not in us_state_codes():
        return TransformResult.drop(f"{show(value)} is not a US state name or code")
    return TransformResult.set(code)
