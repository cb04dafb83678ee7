"""Issue 21: the files that declare sources, read and checked as an operator meets them — at
start-up, in `relay map check` and in `relay map explain`.

    names         a file's name is its source's: never a built-in source's or a reserved word
    problems      named by file and key; a source whose secret is set starts only when its file is right
    the CLI       map check lists each declared source, its endpoint and its secret's variable
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from relay.admin.redaction import Redactor
from relay.changes import CustomerRef
from relay.crms import RESERVED_NAMES
from relay.mapping.config import MappingError
from relay.settings import Settings
from relay.simulator.testing import SimulatorHandle
from relay.sources import enabled_sources, source_catalog
from relay.sources.declared import load_declaration, scan
from relay.store import keys
from tests.cli import Ran, relay_cli
from tests.sources.conftest import settings_from_env
from tests.sources.senders import DECLARED_SECRETS, EXAMPLES, declared_env

MINIMAL = """
[source]
auth = "bearer"
event_id = "id"
occurred_at = "time"
record_id = "record"
object = "Account"

[objects.Account]
city = { field = "city" }
"""


def declare(directory: Path, name: str, text: str = MINIMAL) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_declaration(path)
    return caught.value.problems


@pytest.mark.parametrize("name", ["hubspot", "generic", "sync", "unknown", "crm", "ext", "email", "parent"])
def test_a_declared_source_cannot_take_a_built_in_or_reserved_name(tmp_path: Path, name: str) -> None:
    path = declare(tmp_path, name)

    if name in ("hubspot",):  # a built-in CRM's file is that CRM's mapping, never a declaration
        assert scan(tmp_path).declarations == {} and scan(tmp_path).problems == {}
        return
    reserved = ", ".join(sorted(RESERVED_NAMES))
    assert problems_of(path) == [
        f"{path}: {name!r} is taken (built-in sources and reserved words: {reserved}) "
        "(the file's name is the source's)"
    ]


@pytest.mark.parametrize("name", ["Zoho", "my crm", "9crm", "a" * 41, "crm.v2"])
def test_a_name_fit_for_paths_labels_and_keys(tmp_path: Path, name: str) -> None:
    assert "cannot name a source" in problems_of(declare(tmp_path, name))[0]


def test_every_customer_key_prefix_and_the_parent_entries_are_reserved() -> None:
    """Record keys share the links hash with customer keys and parent entries: a source named
    like one of their prefixes could write a record key that reads as one of them."""
    prefixes = {
        CustomerRef(uuid="cus_a:b").key.partition(":")[0],
        CustomerRef(crm_record="x").key.partition(":")[0],
        CustomerRef(external_id="x").key.partition(":")[0],
        CustomerRef(external_id="x", data_source_uuid="ds:1").key.partition(":")[0],
        CustomerRef(email="a@b.c").key.partition(":")[0],
        keys.PARENT_FIELD.rstrip(":"),
    }
    assert prefixes <= RESERVED_NAMES


def test_two_names_that_share_a_secret_variable_are_both_refused(tmp_path: Path) -> None:
    declare(tmp_path, "my-crm")
    declare(tmp_path, "my_crm")

    found = scan(tmp_path)

    assert found.declarations == {}
    assert all("would share RELAY_SOURCE_MY_CRM_SECRET" in p[-1] for p in found.problems.values())


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            ('auth = "bearer"', 'auth = "token"'),
            "source.auth: must be one of bearer, header, basic, hmac-sha256",
        ),
        (('auth = "bearer"', 'auth = "hmac-sha256"'), "source.signature_header: auth = 'hmac-sha256' needs"),
        (
            ('auth = "bearer"', 'auth = "bearer"\nsignature_header = "X-Sig"'),
            "source.signature_header: only auth = 'hmac-sha256' reads it",
        ),
        (
            ('auth = "bearer"', 'auth = "header"\nsecret_header = "Content-Type"'),
            "source.secret_header: 'Content-Type' cannot carry a secret",
        ),
        (('event_id = "id"\n', ""), "source.event_id: missing"),
        (('event_id = "id"', "event_id = []"), "source.event_id: one to four paths"),
        (('object = "Account"', 'object = "Lead"'), "source.object: 'Lead' has no [objects.Lead] table"),
        (
            ('object = "Account"', 'object = "Account"\nobject_path = "type"'),
            "source: needs exactly one of object",
        ),
        (
            ('object = "Account"', 'object = "Account"\nlink_property = "uuid"'),
            "source.link_property: a mapping file's key: write it above [source]",
        ),
        (('object = "Account"', 'object = "Account"\ncolour = "red"'), "source.colour: unknown key"),
        (
            ('city = { field = "city" }', 'city = { field = "town" }'),
            "objects.Account.city.field: 'town' is not a ChartMogul field",
        ),
    ],
)
def test_a_problem_is_named_by_file_and_key(tmp_path: Path, edit: tuple[str, str], problem: str) -> None:
    path = declare(tmp_path, "acme-crm", MINIMAL.replace(*edit))

    problems = problems_of(path)

    assert any(p.startswith(f"{path}: {problem}") for p in problems), problems


def test_parents_name_a_mapped_object_and_a_path(tmp_path: Path) -> None:
    text = MINIMAL.replace('object = "Account"', 'object_path = "type"') + (
        '\n[objects.Contact]\nname = { field = "primary_contact.first_name" }\n'
    )
    parents = '[source.parents]\nLead = { object = "Account", id = "x" }\nContact = { object = "Account" }\n'
    broken = text.replace("[objects.Account]", parents + "\n[objects.Account]")
    path = declare(tmp_path, "acme-crm", broken)

    problems = problems_of(path)

    assert f"{path}: source.parents.Lead: 'Lead' has no [objects.Lead] table" in problems
    assert (
        f'{path}: source.parents.Contact: must be {{ object = "<parent type>", id = "<path of its id>" }}'
        in problems
    )


def test_a_source_whose_secret_is_set_does_not_start_with_a_broken_file(tmp_path: Path) -> None:
    declare(tmp_path, "acme-crm", MINIMAL.replace('auth = "bearer"', 'auth = "token"'))
    env = {"RELAY_MAPPING_DIR": str(tmp_path), "RELAY_SOURCE_ACME_CRM_SECRET": "crm-secret-0123456789abcdef"}

    with pytest.raises(MappingError, match=r"acme-crm\.toml: source\.auth: must be one of"):
        enabled_sources(settings_from_env(env))
    # Without its secret the source is not served: start-up goes on, and says why.
    catalog = source_catalog(settings_from_env({"RELAY_MAPPING_DIR": str(tmp_path)}))
    assert "acme-crm" not in catalog.enabled and list(catalog.problems) == [str(tmp_path / "acme-crm.toml")]


@pytest.mark.parametrize(
    ("auth", "secret", "problem"),
    [
        ("bearer", "short-secret", "RELAY_SOURCE_ACME_CRM_SECRET is shorter than 16 characters"),
        ("basic", "no-colon-in-this-secret", "RELAY_SOURCE_ACME_CRM_SECRET must be user:password"),
    ],
)
def test_a_weak_or_misshaped_secret_stops_start_up(
    tmp_path: Path, auth: str, secret: str, problem: str
) -> None:
    declare(tmp_path, "acme-crm", MINIMAL.replace('auth = "bearer"', f'auth = "{auth}"'))
    env = {"RELAY_MAPPING_DIR": str(tmp_path), "RELAY_SOURCE_ACME_CRM_SECRET": secret}

    with pytest.raises(MappingError, match=problem):
        enabled_sources(settings_from_env(env))


def test_every_shipped_example_loads_and_its_secret_enables_it(tmp_path: Path) -> None:
    env = declared_env(tmp_path, *DECLARED_SECRETS)

    sources = enabled_sources(settings_from_env(env))

    assert set(DECLARED_SECRETS) <= set(sources)
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml")) == sorted(DECLARED_SECRETS)
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == sorted(DECLARED_SECRETS)


def relay(*args: str, env: dict[str, str]) -> Ran:
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RELAY_")}
    return relay_cli({**clean, "RELAY_LOG_FORMAT": "console", **env}, *args)


def test_map_check_lists_declared_sources_their_endpoints_and_secrets(tmp_path: Path) -> None:
    env = declared_env(tmp_path, "zoho", "make")
    del env["RELAY_SOURCE_MAKE_SECRET"]
    declare(tmp_path, "broken", MINIMAL.replace("record_id", "record_key"))

    result = relay("map", "check", env=env)

    assert result.returncode == 1
    assert f"ok   {tmp_path / 'zoho.toml'}" in result.stdout
    assert f"FAIL {tmp_path / 'broken.toml'}" in result.stdout
    assert "source.record_key: unknown key" in result.stderr
    assert "zoho: POST /webhooks/zoho (header); RELAY_SOURCE_ZOHO_SECRET is set" in result.stdout
    assert "make: POST /webhooks/make (hmac-sha256); RELAY_SOURCE_MAKE_SECRET is not set" in result.stdout


def test_map_explain_shows_what_a_declared_sources_body_becomes(tmp_path: Path) -> None:
    env = declared_env(tmp_path, "make")

    result = relay("map", "explain", "--source", "make", "--json", str(EXAMPLES / "make.json"), env=env)

    assert result.returncode == 0, result.stderr
    company, person = (orjson.loads(line) for line in result.stdout.splitlines())
    assert company["customer"] == {"crm_record": "make:companies:b3c1e9a2-4f6d-4c8b-9e2a-7d5f1c3b8a60"}
    assert company["patch_body"] == {
        "company": "Acme Corp",
        "website_url": "https://acme.example",
        "city": "Boston",
        "country": "US",
    }
    assert company["custom"]["set"] == {"employees": {"value": 250, "type": "Integer"}}
    person_record, company_record = (
        "make:people:e7a4d2c9-1b3f-4e6a-8c5d-2f9b0a1e3c47",
        company["customer"]["crm_record"],
    )
    assert person["parents"] == {person_record: company_record}


def test_map_explain_names_an_undeclared_source(tmp_path: Path) -> None:
    result = relay(
        "map",
        "explain",
        "--source",
        "zoho",
        str(EXAMPLES / "zoho.json"),
        env={"RELAY_MAPPING_DIR": str(tmp_path)},
    )

    assert result.returncode == 2
    assert "'zoho' is not one of hubspot, pipedrive, salesforce, close (a source declared" in result.stderr


ZOHO_EXPORT = (
    "Record Id,Account Name,Website,Billing City,Billing Code,Billing State,Billing Country\n"
    "4876876000000345001,Acme Corp,www.acme.example,Boston,02110,Massachusetts,United States\n"
    "4876876000000345002,Globex,globex.example,Berlin,10115,,Germany\n"
)


def test_sync_and_links_suggest_read_a_declared_sources_export_by_its_labels(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    mapping_dir = tmp_path / "mapping"
    mapping_dir.mkdir()
    env = {**relay_env, **declared_env(mapping_dir, "zoho")}
    acme = simulator.add_customer(
        {"company": "Acme Corp", "city": "Albany", "website_url": "https://www.acme.example"}
    )
    export = tmp_path / "accounts.csv"
    export.write_text(ZOHO_EXPORT)
    suggestions = tmp_path / "links.csv"

    suggested = relay("links", "suggest", "--source", "zoho", str(export), "--out", str(suggestions), env=env)
    imported = relay("links", "import", str(suggestions), env=env)
    synced = relay("sync", "--source", "zoho", str(export), "--dry-run", "--json", env=env)

    assert suggested.returncode == 0, suggested.stderr
    assert f"zoho,4876876000000345001,{acme['uuid']}," in suggestions.read_text()
    assert imported.returncode == 0, imported.stderr
    assert synced.returncode == 0, synced.stderr
    [customer] = orjson.loads(synced.stdout)["customers"]
    assert customer["customer_uuid"] == acme["uuid"]
    assert {"field": "city", "current": "Albany", "new": "Boston"} in customer["changes"]
    listed = relay("links", "list", "--source", "zoho", env=env)
    assert listed.stdout.splitlines()[1:] == [f"zoho,accounts:4876876000000345001,{acme['uuid']}"]


def test_a_declared_secret_comes_from_the_environment_before_dot_env_and_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dot_env = tmp_path / ".env"
    dot_env.write_text(
        "RELAY_SOURCE_ZOHO_SECRET=from-dot-env-0123456789\nRELAY_SOURCE_ACME_CRM_SECRET=acme-dot-env-0123456789\n"
    )
    monkeypatch.setenv("RELAY_SOURCE_ZOHO_SECRET", "from-environment-0123456789")

    settings = Settings(_env_file=str(dot_env))  # type: ignore[call-arg]

    assert settings.declared_secret("zoho") == SecretStr("from-environment-0123456789")
    assert settings.declared_secret("acme-crm") == SecretStr("acme-dot-env-0123456789")
    assert settings.declared_secret("make") is None
    assert "0123456789" not in repr(settings)
    redact = Redactor.from_settings(settings).text
    assert (
        redact("token from-environment-0123456789, acme-dot-env-0123456789") == "token [redacted], [redacted]"
    )


def test_a_declared_source_creates_its_records_but_not_those_with_a_parent(tmp_path: Path) -> None:
    text = (
        'unmatched = "create"\n'
        + MINIMAL.replace('object = "Account"', 'object_path = "type"')
        + ('\n[objects.Contact]\nname = { field = "primary_contact.first_name" }\n')
    )
    with_parents = text.replace(
        "[objects.Account]",
        '[source.parents]\nContact = { object = "Account", id = "account" }\n\n[objects.Account]',
    )
    declaration = load_declaration(declare(tmp_path, "acme-crm", with_parents))

    assert declaration.mapping.unmatched == "create"
    assert declaration.mapping.lead_objects == ("Account",)
    assert declaration.mapping.unmatched_for("Contact") == "await_parent"
