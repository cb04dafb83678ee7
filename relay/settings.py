"""Settings, read once from the environment (and `.env`) into one typed object.

Every secret is a `SecretStr`, so no repr, log line or error message can show it.
Durations carry their unit in their name. A value the relay cannot use (a number that is not
one, a negative size, a log level it does not know, a secret in the wrong shape) is refused when
the settings are read: `get_settings` raises `InvalidSettings`, one line per setting, naming it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from relay.crms import BY_NAME

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A declared source's secret (RELAY_MAPPING_DIR/<name>.toml holding a [source] table): one
# variable per source, named after its file, so no field can list them.
SOURCE_SECRET_ENV = "RELAY_SOURCE_<NAME>_SECRET"
SOURCE_SECRET_VAR = re.compile(r"RELAY_SOURCE_([A-Z0-9_]+)_SECRET")
# The same variable as `.env` lines and keyword arguments reach the model (prefix stripped).
_SOURCE_SECRET_FIELD = re.compile(r"source_([a-z0-9_]+)_secret")


def source_secret_key(name: str) -> str:
    """How `name`'s secret is keyed: `my-crm` → `MY_CRM` (RELAY_SOURCE_MY_CRM_SECRET)."""
    return name.upper().replace("-", "_")


def source_secret_env(name: str) -> str:
    """The variable holding the secret of declared source `name`."""
    return f"RELAY_SOURCE_{source_secret_key(name)}_SECRET"


class MissingSetting(Exception):
    """A command needs a setting that is not configured."""

    def __init__(self, env_name: str, why: str) -> None:
        super().__init__(f"{env_name} is not set: {why}")
        self.env_name = env_name


class InvalidSettings(Exception):
    """Settings the relay cannot start with; the message has one line per setting, naming it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]
Positive = Annotated[int, Field(gt=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_SALESFORCE_ORG_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        # `RELAY_GENERIC_SECRET=` must mean "not set", not "an empty secret".
        env_ignore_empty=True,
    )

    # --- Redis and queues
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = Field(default="relay", min_length=1)
    # Answer 2xx only once this many replicas hold the write (Redis WAIT); 0: the primary alone.
    redis_replica_acks: int = Field(default=0, ge=0)
    redis_replica_ack_timeout_ms: int = Field(default=1000, gt=0)

    # --- ChartMogul (the target)
    chartmogul_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CHARTMOGUL_API_KEY", "chartmogul_api_key")
    )
    chartmogul_api_base: str = Field(
        default="https://api.chartmogul.com",
        validation_alias=AliasChoices("CHARTMOGUL_API_BASE", "chartmogul_api_base"),
    )
    # The data source leads are created under (a mapping file's `unmatched = "create"`).
    chartmogul_data_source_uuid: str | None = None

    # --- Sources: a source without its secret answers 404. One field per source, the one
    # relay/crms.py names as its `secret_setting` (tests/sources/test_registry.py holds them equal).
    generic_secret: SecretStr | None = None
    hubspot_client_secret: SecretStr | None = None
    pipedrive_basic_auth: SecretStr | None = None
    salesforce_org_id: SecretStr | None = None
    # Salesforce signs nothing: with a token its endpoint is /webhooks/salesforce/<token> only.
    salesforce_path_token: SecretStr | None = None
    close_signature_key: SecretStr | None = None
    # Declared sources' secrets, by source_secret_key(name): RELAY_SOURCE_<NAME>_SECRET.
    source_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, json_schema_extra={"env": SOURCE_SECRET_ENV}
    )
    public_base_url: str | None = None
    mapping_dir: str | None = None

    # --- Reading the CRMs' own APIs (`relay sync --from-api`): tokens with read access only
    hubspot_access_token: SecretStr | None = None
    hubspot_api_base: str = "https://api.hubapi.com"
    pipedrive_api_token: SecretStr | None = None
    pipedrive_api_base: str = "https://api.pipedrive.com"

    # --- Admin surface: no token, no admin surface (404)
    admin_token: SecretStr | None = None
    # The console (/console) read-only: this token sees every page but changes nothing.
    console_viewer_token: SecretStr | None = None
    # /metrics asks for the admin token too (off: scrapers need no token; keep /metrics internal).
    metrics_require_auth: bool = False

    # --- Ingest
    max_body_bytes: Positive = 1024 * 1024
    # The whole body must arrive within this, else 408 (slow or stalled uploads hold connections).
    body_timeout_s: PositiveSeconds = 10.0
    event_ttl_s: Positive = 7 * 24 * 3600
    # Dead letters wait for an operator: kept this long (or until replayed or purged), not the
    # event TTL; relay_dlq_oldest_age_seconds and its alert warn well before it runs out.
    dlq_ttl_s: Positive = 90 * 24 * 3600
    signature_tolerance_s: Positive = 300
    # How far ahead of the relay's clock a CRM's time (an event's occurred_at, a signed
    # timestamp) may be before it is refused (422 / 401): clocks drift, a year 9999 is a mistake.
    max_clock_skew_s: int = Field(default=300, ge=0)

    # --- Delivery
    delivery_concurrency: Positive = 8
    rate_limit_per_s: PositiveSeconds = 40.0
    max_connections: Positive = 20
    http_timeout_s: PositiveSeconds = 10.0
    retry_base_s: PositiveSeconds = 1.0
    retry_cap_s: PositiveSeconds = 3600.0
    retry_deadline_s: PositiveSeconds = 12 * 3600.0
    lease_s: PositiveSeconds = 30.0
    job_budget_s: PositiveSeconds = 20.0
    lookup_ttl_s: Positive = 3600
    maintenance_interval_s: PositiveSeconds = 1.0
    # Dead letters re-queued by themselves when their cause goes away (workers/replays.py).
    auto_replay: bool = True
    # `retries_exhausted` ones: once the circuit is closed and deliveries succeed this long.
    auto_replay_healthy_s: PositiveSeconds = 300.0

    # --- Logs
    log_level: LogLevel = "INFO"
    log_format: Literal["json", "console"] = "json"

    # --- values in the shape the relay can use (each message names what is expected)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"a Redis URL starts with {', '.join(REDIS_SCHEMES)} (redis://HOST:6379/0)")
        return value

    @field_validator("chartmogul_api_base", "public_base_url", "hubspot_api_base", "pipedrive_api_base")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            example = cls.model_fields[str(info.field_name)].default or "https://relay.example.com"
            raise ValueError(f"an http:// or https:// address ({example})")
        return value

    @field_validator("chartmogul_data_source_uuid")
    @classmethod
    def _data_source_uuid(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"ds_[A-Za-z0-9\-]{1,64}", value.strip()):
            raise ValueError("a ChartMogul data source uuid (ds_…; GET /v1/data_sources lists them)")
        return value.strip() if value is not None else None

    @field_validator("generic_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if not text.startswith("whsec_"):
            raise ValueError("a Standard Webhooks secret starts with whsec_ (whsec_<base64>)")
        try:
            encoded = text.removeprefix("whsec_").rstrip("=")
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise ValueError("whsec_ must be followed by the key in base64 (openssl rand -base64 24)")
        return value

    @field_validator("close_signature_key")
    @classmethod
    def _hex_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _HEX.match(value.get_secret_value().strip()):
            raise ValueError("the hex signature_key Close returned for the webhook subscription")
        return value

    @field_validator("pipedrive_basic_auth")
    @classmethod
    def _user_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("user:password, the HTTP Basic credentials set on the Pipedrive webhook")
        return value

    @field_validator("salesforce_org_id")
    @classmethod
    def _org_id(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SALESFORCE_ORG_ID.match(value.get_secret_value().strip()):
            raise ValueError("a Salesforce organization id: 15 or 18 letters and digits (00D…)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments, then the environment, then `.env`: as for every other setting.
        return (
            _Folded(init_settings),
            _SourceSecrets(settings_cls),
            env_settings,
            _Folded(dotenv_settings),
            file_secret_settings,
        )

    def declared_secret(self, name: str) -> SecretStr | None:
        """The secret that enables declared source `name` (RELAY_SOURCE_<NAME>_SECRET)."""
        secret = self.source_secrets.get(source_secret_key(name))
        return secret if secret is not None and secret.get_secret_value() else None

    def source_secret(self, source: str) -> SecretStr | None:
        """The secret that enables `source` (relay/crms.py says which setting holds it)."""
        secret = getattr(self, BY_NAME[source].secret_setting)
        return secret if isinstance(secret, SecretStr) else None

    def require_api_key(
        self, needed_for: str = "the worker needs your ChartMogul API key to deliver changes"
    ) -> SecretStr:
        """The API key; `needed_for` says who asks, in the one line a missing key gets."""
        if self.chartmogul_api_key is None or not self.chartmogul_api_key.get_secret_value():
            raise MissingSetting("CHARTMOGUL_API_KEY", needed_for)
        return self.chartmogul_api_key


class _SourceSecrets(PydanticBaseSettingsSource):
    """RELAY_SOURCE_<NAME>_SECRET variables of the environment, as `source_secrets`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {
            match.group(1): value
            for name, value in os.environ.items()
            if value and (match := SOURCE_SECRET_VAR.fullmatch(name.upper()))
        }
        return {"source_secrets": found} if found else {}


class _Folded(PydanticBaseSettingsSource):
    """Another source whose `source_<name>_secret` keys (a `.env` line, a keyword argument) are
    moved into `source_secrets`, so the sources' order decides between them."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = dict(self.inner())
        found = {
            match.group(1).upper(): data.pop(key)
            for key in list(data)
            if (match := _SOURCE_SECRET_FIELD.fullmatch(key.lower())) and data[key]
        }
        if found:
            data["source_secrets"] = {**found, **(data.get("source_secrets") or {})}
        return data


def env_name(field: str) -> str:
    """The environment variable that sets `field` (what operators see in docs and errors)."""
    info = Settings.model_fields[field]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("env"), str):
        return str(extra["env"])
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return f"RELAY_{field.upper()}"


def redacted_url(url: str) -> str:
    """A URL safe to print: any password replaced (RELAY_REDIS_URL may carry one)."""
    try:
        parts = urlsplit(url)
        if not parts.password:
            return url
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    except ValueError:  # not a URL at all (a port that is not a number): show nothing of it
        return "(not a URL)"
    return urlunsplit(parts._replace(netloc=netloc))


def problems(error: ValidationError) -> list[str]:
    """One line per refused setting: its variable, the value (never a secret's) and what it wants."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        name = env_name(field) if field in Settings.model_fields else field.upper()
        secret = field in Settings.model_fields and _is_secret(field)
        value = item.get("input")
        if field == "redis_url" and isinstance(value, str):
            value = redacted_url(value)
        shown = "" if secret or "input" not in item else f"={value!r}"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}{shown} is not valid: {message}; fix it in the environment or .env")
    return lines


def _is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    return annotation is SecretStr or "SecretStr" in str(annotation)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(problems(exc)) from None
