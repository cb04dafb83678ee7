"""relay/crms.py declares every source once; the settings, the classes and the mapping files agree."""

from __future__ import annotations

import typing

import pytest
from pydantic import SecretStr

from relay.crms import CRMS, KNOWN_SOURCES, MAPPED_SOURCES
from relay.mapping.config import DEFAULTS_DIR
from relay.settings import Settings
from relay.sources import CrmSource, source_class

# SecretStr settings that enable no built-in source: the console's viewer token (it opens pages
# read-only), the path token (the org id enables Salesforce; the token only moves its endpoint),
# the secrets of sources declared by a file, and the CRMs' API tokens (`relay sync --from-api`
# reads with them; webhooks are verified with the sources' own secrets).
NOT_SOURCE_SECRETS = {
    "chartmogul_api_key",
    "admin_token",
    "console_viewer_token",
    "salesforce_path_token",
    "source_secrets",
    "hubspot_access_token",
    "pipedrive_api_token",
}


def test_every_source_secret_setting_is_a_secret_and_every_secret_is_declared() -> None:
    secrets = {
        name
        for name, info in Settings.model_fields.items()
        if SecretStr in (info.annotation, *typing.get_args(info.annotation))
    }
    declared = [crm.secret_setting for crm in CRMS]
    assert set(declared) == secrets - NOT_SOURCE_SECRETS
    assert len(set(declared)) == len(CRMS)


@pytest.mark.parametrize("crm", CRMS, ids=KNOWN_SOURCES)
def test_each_declared_class_is_that_source_and_has_a_mapping_file_if_declared(crm: typing.Any) -> None:
    cls = source_class(crm.name)
    assert cls.name == crm.name
    assert issubclass(cls, CrmSource) == crm.has_mapping
    assert (DEFAULTS_DIR / f"{crm.name}.toml").is_file() == crm.has_mapping


def test_shipped_mapping_files_are_exactly_the_mapped_sources() -> None:
    assert sorted(p.stem for p in DEFAULTS_DIR.glob("*.toml")) == sorted(MAPPED_SOURCES)
