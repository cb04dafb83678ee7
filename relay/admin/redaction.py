"""Secrets never leave through the admin surface: every configured secret value is masked in
what /admin and the `relay` CLI print, whatever carried it there (a CRM payload, an error text)."""

from __future__ import annotations

from pydantic import SecretStr

from relay.settings import Settings

MASK = "[redacted]"
# Shorter values would mask ordinary text; no real secret is this short.
MIN_SECRET_LENGTH = 6


def secret_values(settings: Settings) -> list[str]:
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        # A declared source's secret is one of a dict of them (`source_secrets`).
        for one in value.values() if isinstance(value, dict) else (value,):
            if isinstance(one, SecretStr) and len(one.get_secret_value()) >= MIN_SECRET_LENGTH:
                values.append(one.get_secret_value())
    return sorted(set(values), key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: list[str]) -> None:
        pairs: list[tuple[bytes, bytes]] = []
        for secret in secrets:
            raw = secret.encode()
            # As it appears inside a JSON string, too (quotes and backslashes escaped).
            escaped = secret.replace("\\", "\\\\").replace('"', '\\"').encode()
            pairs += [(raw, MASK.encode()), (escaped, MASK.encode())]
        self._pairs = pairs

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        return cls(secret_values(settings))

    def bytes(self, data: bytes) -> bytes:
        for secret, mask in self._pairs:
            if secret in data:
                data = data.replace(secret, mask)
        return data

    def text(self, text: str) -> str:
        return self.bytes(text.encode()).decode()
