"""Text-like transforms: text, tags, email addresses, phone numbers and web addresses."""

from __future__ import annotations

import re

from relay.contract.formats import looks_like_email, normalize_website_url, website_url_problem
from relay.mapping.transforms.base import (
    TransformOptions,
    TransformResult,
    as_text,
    empty,
    is_empty,
    not_text,
    show,
)

_PHONE = re.compile(r"\+?[\d ().\-/]+(?:\s*(?:ext\.?|x|#)\s*\d+)?", re.ASCII | re.IGNORECASE)
_MIN_PHONE_DIGITS = 4
_HANDLE = re.compile(r"@([A-Za-z0-9_.\-]+)", re.ASCII)


def text(value: object, options: TransformOptions) -> TransformResult:
    if is_empty(value):
        return empty(options)
    result = as_text(value)
    if result is None:
        return not_text(value)
    return TransformResult.set(result)


def tag(value: object, options: TransformOptions) -> TransformResult:
    """A tag, used as given apart from surrounding blanks."""
    return text(value, options)


def email(value: object, options: TransformOptions) -> TransformResult:
    if is_empty(value):
        return empty(options)
    if not isinstance(value, str):
        return not_text(value)
    address = value.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:].strip()
    address = address.lower()
    if not address:
        return empty(options)
    if not looks_like_email(address):
        return TransformResult.drop(f"{show(value)} is not an email address")
    return TransformResult.set(address)


def phone(value: object, options: TransformOptions) -> TransformResult:
    """A phone number kept as written (not reformatted), runs of blanks made one space."""
    if is_empty(value):
        return empty(options)
    number = as_text(value)
    if number is None:
        return not_text(value)
    number = " ".join(number.split())
    digits = sum(ch.isascii() and ch.isdigit() for ch in number)
    if _PHONE.fullmatch(number) is None or digits < _MIN_PHONE_DIGITS:
        return TransformResult.drop(f"{show(value)} is not a phone number")
    return TransformResult.set(number)


def _http_url(value: object, options: TransformOptions, *, handle_prefix: str | None) -> TransformResult:
    if is_empty(value):
        return empty(options)
    if not isinstance(value, str):
        return not_text(value)
    url = value.strip()
    handle = _HANDLE.fullmatch(url)
    if handle is not None and handle_prefix:
        url = handle_prefix.rstrip("/") + "/" + handle.group(1)
    if url.startswith("//"):
        url = "https:" + url
    url = normalize_website_url(url)
    problem = website_url_problem(url)
    if problem is not None:
        return TransformResult.drop(f"{show(value)} is not a web address: it {problem}")
    return TransformResult.set(url)


def website(value: object, options: TransformOptions) -> TransformResult:
    """A website: `https://` before a bare domain, the scheme lower-cased, the rest as given."""
    return _http_url(value, options, handle_prefix=None)


def url(value: object, options: TransformOptions) -> TransformResult:
    """A profile URL (linked_in, twitter): as `website`, and `@handle` with a `handle_prefix`."""
    return _http_url(value, options, handle_prefix=options.handle_prefix)
