"""A CRM source is served only when its secret is set; a broken mapping stops start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relay.mapping.config import MappingError
from relay.sources import enabled_sources
from tests.sources.conftest import CRM_SECRETS, settings_from_env
from tests.webhooks import post

SECRETS = {
    "hubspot": "RELAY_HUBSPOT_CLIENT_SECRET",
    "pipedrive": "RELAY_PIPEDRIVE_BASIC_AUTH",
    "salesforce": "RELAY_SALESFORCE_ORG_ID",
    "close": "RELAY_CLOSE_SIGNATURE_KEY",
}


@pytest.mark.parametrize("source", sorted(SECRETS))
def test_source_without_its_secret_answers_404(start_web: Any, source: str) -> None:
    web = start_web(**{SECRETS[source]: None})

    answer = post(f"{web}/webhooks/{source}", b"[]")

    assert answer.status == 404
    assert "not configured" in answer.body["error"]


def test_every_source_is_enabled_by_its_secret(relay_env: dict[str, str]) -> None:
    assert set(enabled_sources(settings_from_env(relay_env))) == {"generic", *SECRETS}
    assert set(enabled_sources(settings_from_env({"RELAY_CLOSE_SIGNATURE_KEY": "ab"}))) == {"close"}


def test_a_broken_mapping_stops_start_up_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "hubspot.toml").write_text('[objects.company]\nname = { field = "compnay" }\n')
    settings = settings_from_env({**CRM_SECRETS, "RELAY_MAPPING_DIR": str(tmp_path)})

    with pytest.raises(MappingError, match=r"hubspot\.toml: objects\.company\.name\.field"):
        enabled_sources(settings)
