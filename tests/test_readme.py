"""The README is the user's manual: its settings table and commands must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from relay.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def settings_table() -> dict[str, str]:
    """variable → its row in the README's settings table."""
    table = README.split("<!-- settings-table")[1].split("\n\n")[0]
    rows = {}
    for line in table.splitlines():
        if match := re.match(r"\| `([A-Z_<>]+)` \|", line):
            rows[match.group(1)] = line
    return rows


def documented_default(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    rows = settings_table()
    for field, info in Settings.model_fields.items():
        name = env_name(field)
        assert name in rows, f"{name} is missing from the README's settings table"
        default = documented_default(None if info.default_factory else info.default)
        if default is not None:
            assert f"`{default}`" in rows[name], f"{name}: the README does not show its default {default}"


def test_the_readme_lists_no_setting_the_code_does_not_read() -> None:
    known = {env_name(field) for field in Settings.model_fields}
    assert set(settings_table()) - known == set()


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in README
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
