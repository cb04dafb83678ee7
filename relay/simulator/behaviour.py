"""Where ChartMogul's docs and its recorded answers disagree: named switches picking one side.

The default of every switch is what the real API was recorded doing (HTTP cassettes kept by
ChartMogul's own clients: chartmogul/chartmogul-ruby `spec/fixtures/vcr_cassettes/**`, Oct 2023,
and `fixtures/vcr_cassettes/**`, 2016-2020; chartmogul/chartmogul-go
`integration_tests/fixtures/customers.yaml`, Aug 2023). The other value is what the docs
promise, so the relay can be tested against both. Set them with `POST /_sim/behaviour`
(`{"unknown_owner": "reject"}`; switches left out keep their value), read them with
`GET /_sim/behaviour`, restore the defaults with `POST /_sim/reset`, or start with
`relay simulator --behaviour unknown_owner=reject` (repeatable).

    switch              default   other     evidence for the default
    unknown_owner       ignore    reject    ruby "updates the customer correctly with the instance
                                            method" (2023): owner "owner@chartmogul.com", not a user
                                            of the account, answered 200 with the owner unchanged.
                                            Docs: 400.
    lenient_values      true      false     ruby 2016 "updates customer" and 2023 instance-method
                                            PATCH: a bare state "NY", timestamps
                                            "2016-01-01 14:30:00 UTC" and a custom value ["lecker"]
                                            all answered 200 (the state dropped to null next to
                                            country DE in 2023). Docs: state `US-XX`, ISO 8601.
    unknown_keys        ignore    reject    the same recordings sent read-only `external_id`,
                                            `data_source_uuid` and `attributes.clearbit`: 200, the
                                            values ignored; no recording shows a 400 for a key.
                                            Docs: only the listed keys.
    omitted_attributes  keep      delete    ruby 2023 class-method PATCH sent `attributes` with
                                            `custom` only and the answer kept the tags (thin: that
                                            cassette was hand-edited in 2024). Docs: tags or custom
                                            left out of `attributes` are deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from relay.simulator.customers import InvalidSetup

# switch -> the values it takes (the first is the default)
CHOICES: dict[str, tuple[Any, ...]] = {
    "unknown_owner": ("ignore", "reject"),
    "lenient_values": (True, False),
    "unknown_keys": ("ignore", "reject"),
    "omitted_attributes": ("keep", "delete"),
}


@dataclass(frozen=True, slots=True)
class Behaviour:
    unknown_owner: Literal["ignore", "reject"] = "ignore"
    lenient_values: bool = True
    unknown_keys: Literal["ignore", "reject"] = "ignore"
    omitted_attributes: Literal["keep", "delete"] = "keep"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, doc: Any) -> Behaviour:
        """A copy with the switches in `doc` set; InvalidSetup naming every unknown name or value."""
        if not isinstance(doc, dict):
            raise InvalidSetup("behaviour must be a JSON object of switches")
        unknown = sorted(set(doc) - set(CHOICES))
        if unknown:
            raise InvalidSetup(
                f"unknown behaviour switches: {', '.join(unknown)} (known: {', '.join(CHOICES)})"
            )
        bad = [
            f"{name}={doc[name]!r} (one of {_shown(CHOICES[name])})"
            for name in doc
            if not _allowed(name, doc[name])
        ]
        if bad:
            raise InvalidSetup(f"invalid behaviour values: {'; '.join(bad)}")
        return replace(self, **doc)

    @classmethod
    def strict(cls) -> Behaviour:
        """Every switch on the side of the docs."""
        return cls(**{f.name: CHOICES[f.name][1] for f in fields(cls)})


def parse_assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (the `--behaviour` option) as a switch document; `true`/`false` are booleans."""
    doc: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise InvalidSetup(f"--behaviour takes KEY=VALUE, got {pair!r}")
        text = value.strip()
        doc[name.strip()] = {"true": True, "false": False}.get(text.lower(), text)
    return doc


def _allowed(name: str, value: Any) -> bool:
    # `True == 1` in Python: compare types too, so 1 is not taken for true.
    return any(type(value) is type(choice) and value == choice for choice in CHOICES[name])


def _shown(choices: tuple[Any, ...]) -> str:
    return " | ".join(str(c).lower() if isinstance(c, bool) else c for c in choices)
