"""Every setting the code reads is documented where operators set it, and nothing else is.

The list comes from the code (`Settings.model_fields` and `env_name`), so a new setting fails
these tests until it is added to:
  - .env.example (described, shown commented out at its default),
  - deploy/k8s/base/config.env (non-secret) or deploy/k8s/overlays/production/secrets.env.example
    (every SecretStr setting; anything else that may carry a password, such as RELAY_REDIS_URL).
docker compose passes .env through (env_file), so .env.example is what compose documents.

Entry format in those files: `NAME=value` sets a setting; `# NAME=value` shows it at its default
(an empty value meaning unset) and must match the code's default. A setting read from a family
of variables (RELAY_SOURCE_<NAME>_SECRET: one per declared source) is documented by one of them.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Set as AbstractSet
from unittest import mock

import pydantic
import pytest
from pydantic import SecretStr

from relay.settings import SOURCE_SECRET_ENV, SOURCE_SECRET_VAR, Settings, env_name
from relay.sources import enabled_sources

from . import K8S, OVERLAYS, REPO, compose_command, env_entries, load_compose, render, settings_data

ENV = {env_name(field): field for field in Settings.model_fields}
SECRETS = {
    env_name(field)
    for field, info in Settings.model_fields.items()
    if info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)
}
ENV_EXAMPLE = REPO / ".env.example"


def setting_of(name: str) -> str:
    """The setting a variable sets, as ENV names it: itself, or its family (`RELAY_SOURCE_ZOHO_SECRET`
    → `RELAY_SOURCE_<NAME>_SECRET`)."""
    return SOURCE_SECRET_ENV if SOURCE_SECRET_VAR.fullmatch(name) else name


CONFIG_ENV = K8S / "base" / "config.env"
SECRETS_EXAMPLE = K8S / "overlays" / "production" / "secrets.env.example"


def load_settings(env: dict[str, str]) -> Settings:
    """Settings as the relay would load them from exactly these environment variables."""
    with mock.patch.dict(os.environ):
        for name in [n for n in os.environ if n.upper() in ENV or n.upper().startswith("RELAY_")]:
            del os.environ[name]
        os.environ.update(env)
        return Settings(_env_file=None)  # type: ignore[call-arg]


def env_file_problems(
    text: str,
    *,
    expected: dict[str, str] = ENV,
    required: AbstractSet[str] = frozenset(),
    forbidden: AbstractSet[str] = frozenset(),
    described: bool = False,
) -> list[str]:
    problems = []
    entries = env_entries(text)
    names = [name for name, *_ in entries]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name} is listed more than once")
    for name in sorted(required - {setting_of(n) for n in names}):
        problems.append(f"{name} (Settings.{expected[name]}) is missing")
    for name, value, active, has_description in entries:
        if setting_of(name) not in expected:
            problems.append(f"{name} is not a setting the relay reads")
            continue
        if setting_of(name) in forbidden:
            problems.append(f"{name} must not be here")
        if described and not has_description:
            problems.append(f"{name} has no description comment above it")
        field = expected[setting_of(name)]
        if active:
            if value == "":
                problems.append(f"{name}= is empty: an empty value is not unset; comment it out")
                continue
            try:
                load_settings({name: value})
            except pydantic.ValidationError as e:
                problems.append(f"{name}={value} is invalid: {e.errors()[0]['msg']}")
        else:
            default = Settings.model_fields[field].get_default(call_default_factory=True)
            try:
                shown = getattr(load_settings({name: value} if value else {}), field)
            except pydantic.ValidationError:
                shown = f"invalid {value!r}"
            if shown != default:
                problems.append(f"# {name}={value} does not show the default ({default!r})")
    return problems


# --- the real files


def test_settings_are_read_from_the_code() -> None:
    assert "RELAY_REDIS_URL" in ENV and "CHARTMOGUL_API_KEY" in ENV
    assert {"CHARTMOGUL_API_KEY", "RELAY_ADMIN_TOKEN"} <= SECRETS
    assert "RELAY_REDIS_URL" not in SECRETS


def test_env_example_documents_every_setting_at_its_default() -> None:
    assert env_file_problems(ENV_EXAMPLE.read_text(), required=set(ENV), described=True) == []


def test_env_example_explains_the_sandbox() -> None:
    text = ENV_EXAMPLE.read_text()
    assert "CHARTMOGUL_API_BASE=http://simulator:8090" in text
    assert "CHARTMOGUL_API_KEY=sandbox_key" in text
    assert "--profile sandbox" in text


def test_kubernetes_config_and_secret_examples_cover_every_setting_once() -> None:
    config, secrets = CONFIG_ENV.read_text(), SECRETS_EXAMPLE.read_text()
    assert env_file_problems(config, forbidden=SECRETS) == []
    assert env_file_problems(secrets, required=SECRETS) == []
    in_config = {setting_of(name) for name, *_ in env_entries(config)}
    in_secrets = {setting_of(name) for name, *_ in env_entries(secrets)}
    assert in_config & in_secrets == set()
    assert in_config | in_secrets == set(ENV)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_config_and_secret_hold_only_settings_and_load(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    config = {setting_of(k) for d in docs if d["kind"] == "ConfigMap" for k in d.get("data", {})}
    secret = {setting_of(k) for d in docs if d["kind"] == "Secret" for k in d.get("data", {})}
    assert (config | secret) - set(ENV) == set()
    assert config & SECRETS == set(), "secrets must not be in a ConfigMap"
    assert config & secret == set(), "one value per setting"

    settings = load_settings(settings_data(docs))
    assert settings.require_api_key().get_secret_value()  # `relay worker` starts
    if overlay == "sandbox":  # `relay serve` starts only with a source; production's are the operator's
        assert enabled_sources(settings)


def test_compose_passes_env_through_and_sets_only_settings() -> None:
    services = load_compose()["services"]
    relay = {
        name: s for name, s in services.items() if compose_command(s)[:1] in (["serve"], ["worker"], ["sync"])
    }
    assert set(relay) == {"web", "worker", "sync"}
    for service in relay.values():
        files = [f if isinstance(f, str) else f["path"] for f in service["env_file"]]
        assert ".env" in files
        environment = {k: str(v) for k, v in service.get("environment", {}).items()}
        assert {setting_of(k) for k in environment} - set(ENV) == set()
        load_settings(environment)


# --- the checks catch real breakage


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("# RELAY_LEASE_S=30.0\n", "", "RELAY_LEASE_S (Settings.lease_s) is missing"),
        (
            "# RELAY_LOG_FORMAT=json",
            "# RELAY_LOG_FORMAT=json\n\n# Gone.\n# RELAY_OLD_KNOB=1",
            "RELAY_OLD_KNOB is not",
        ),
        ("# RELAY_HTTP_TIMEOUT_S=10.0", "# RELAY_HTTP_TIMEOUT_S=5.0", "does not show the default"),
        ("# RELAY_QUEUE_NAME=relay", "# RELAY_QUEUE_NAME=relay\n# RELAY_QUEUE_NAME=relay", "more than once"),
        ("# RELAY_GENERIC_SECRET=", "RELAY_GENERIC_SECRET=", "is empty"),
        ("# RELAY_LOG_FORMAT=json", "RELAY_LOG_FORMAT=text", "is invalid"),
        ("# Timeout of one ChartMogul call, in seconds.\n", "", "no description"),
    ],
)
def test_env_example_check_catches(old: str, new: str, expected: str) -> None:
    text = _edit(ENV_EXAMPLE.read_text(), old, new)
    problems = env_file_problems(text, required=set(ENV), described=True)
    assert any(expected in p for p in problems), problems


def test_a_setting_added_to_the_code_must_be_documented() -> None:
    expected = {**ENV, "RELAY_NEW_KNOB": "new_knob"}
    problems = env_file_problems(
        ENV_EXAMPLE.read_text(), expected=expected, required=set(expected), described=True
    )
    assert "RELAY_NEW_KNOB (Settings.new_knob) is missing" in problems


def test_a_secret_in_the_configmap_is_caught() -> None:
    text = CONFIG_ENV.read_text() + "RELAY_ADMIN_TOKEN=abc\n"
    assert "RELAY_ADMIN_TOKEN must not be here" in env_file_problems(text, forbidden=SECRETS)
