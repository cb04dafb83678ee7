"""Seed files: `{"customers": [...], "users": [...], "custom_attributes": [...],
"data_sources": [...]}`, each entry in the shape its control endpoint takes (a user may also be a
bare email string)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from relay.simulator.customers import InvalidSetup
from relay.simulator.store import Store

SEED_KEYS = ("customers", "users", "custom_attributes", "data_sources")

DEMO_SEED_PATH = Path(__file__).with_name("demo_seed.json")


def load_seed(path: str | Path) -> dict[str, Any]:
    """Read and shape-check a seed file; raises InvalidSetup (a ValueError) when it is malformed."""
    try:
        seed = orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidSetup(f"seed {path} is not valid JSON: {exc}") from exc
    check_seed(seed)
    return dict(seed)


def check_seed(seed: Any) -> None:
    if not isinstance(seed, dict):
        raise InvalidSetup("a seed must be a JSON object")
    unknown = set(seed) - set(SEED_KEYS)
    if unknown:
        raise InvalidSetup(f"unknown seed keys: {', '.join(sorted(unknown))}")
    for key in SEED_KEYS:
        if not isinstance(seed.get(key, []), list):
            raise InvalidSetup(f"seed {key} must be a list")


def apply_seed(store: Store, seed: dict[str, Any]) -> None:
    """Data sources, users and custom attribute definitions first, then customers."""
    check_seed(seed)
    for source in seed.get("data_sources", []):
        if not isinstance(source, dict) or not isinstance(source.get("name"), str):
            raise InvalidSetup(f"a seed data source needs a name: {source!r}")
        uuid = source.get("uuid")
        store.add_data_source(source["name"], uuid=uuid if isinstance(uuid, str) else None)
    for user in seed.get("users", []):
        email = user if isinstance(user, str) else user.get("email") if isinstance(user, dict) else None
        if not isinstance(email, str) or not email:
            raise InvalidSetup(f"a seed user needs an email: {user!r}")
        store.add_user(email)
    for attribute in seed.get("custom_attributes", []):
        if not isinstance(attribute, dict) or not isinstance(attribute.get("key"), str):
            raise InvalidSetup(f"a seed custom attribute needs a key: {attribute!r}")
        store.add_custom_attribute(attribute["key"], attribute.get("type", "String"))
    for customer in seed.get("customers", []):
        store.add_customer(customer)
