"""Pure pieces without a server: value checks, the sliding rate window, fault dice."""

from __future__ import annotations

import random

import pytest

from relay.simulator.faults import FaultDice, Faults, RateLimiter
from relay.simulator.values import format_timestamp, is_country, parse_timestamp, us_state, website


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-01 00:00:00", "2023-01-01T00:00:00.000Z"),
        ("2023-01-01T00:00:00Z", "2023-01-01T00:00:00.000Z"),
        ("2023-01-01T05:30:00+05:30", "2023-01-01T00:00:00.000Z"),
        ("2023-06-13T15:45:13.123456", "2023-06-13T15:45:13.123Z"),
        ("2023-01-01", "2023-01-01T00:00:00.000Z"),
    ],
)
def test_iso_times_are_read_as_utc_and_written_chartmogul_style(text: str, expected: str) -> None:
    moment = parse_timestamp(text)

    assert moment is not None
    assert format_timestamp(moment) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2023-13-01", "01/02/2023"])
def test_non_iso_times_are_refused(text: str) -> None:
    assert parse_timestamp(text) is None


@pytest.mark.parametrize(
    ("code", "expected"), [("US-CA", "CA"), ("US-WY", "WY"), ("US-GU", "GU"), ("US-ZZ", None), ("CA", None)]
)
def test_us_states(code: str, expected: str | None) -> None:
    assert us_state(code) == expected


@pytest.mark.parametrize(("code", "expected"), [("US", True), ("GB", True), ("UK", False), ("gb", False)])
def test_countries(code: str, expected: bool) -> None:
    assert is_country(code) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("example.com", "https://example.com"),
        ("HTTP://example.com", "HTTP://example.com"),
        ("mailto://x", None),
        ("exa mple.com", None),
    ],
)
def test_websites(url: str, expected: str | None) -> None:
    assert website(url) == expected


def test_the_rate_window_slides() -> None:
    limiter = RateLimiter(per_s=3)

    first = [limiter.allow("k", now_s) for now_s in (10.0, 10.2, 10.4, 10.6)]
    # 10.0 leaves the window after 11.0, the others later
    later = [limiter.allow("k", now_s) for now_s in (11.05, 11.1, 11.25)]

    assert first == [True, True, True, False]
    assert later == [True, False, True]
    assert limiter.allow("other", 10.6) is True


def test_fault_dice_follow_the_rates() -> None:
    dice = FaultDice(random.Random(7))
    faults = Faults(status=500, rate=0.25, timeout_rate=0.1)

    failures = sum(dice.failure(faults) == 500 for _ in range(4000))
    timeouts = sum(dice.times_out(faults) for _ in range(4000))

    assert 800 < failures < 1200
    assert 250 < timeouts < 550
    assert dice.failure(Faults()) is None
    assert dice.times_out(Faults()) is False


def test_retry_after_header_format() -> None:
    assert Faults(retry_after=2.0).retry_after_header() == {"Retry-After": "2"}
    assert Faults(retry_after=0.5).retry_after_header() == {"Retry-After": "0.5"}
    assert Faults().retry_after_header() == {}
