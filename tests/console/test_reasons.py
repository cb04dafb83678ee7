"""The console's words for each dead-letter reason are the README's ("See why it failed")."""

from __future__ import annotations

import re

from relay.console.reasons import FIXES
from relay.store import DEAD_LETTER_REASONS
from tests.test_readme import README


def readme_table() -> dict[str, tuple[str, str]]:
    table = README.split("### See why it failed")[1].split("\n\n")[2]
    rows = {}
    for line in table.splitlines():
        if match := re.match(r"\| `(\w+)` \| (.+) \| (.+) \|$", line):
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_every_reason_has_the_readmes_fix_in_words() -> None:
    table = readme_table()

    assert set(table) == set(DEAD_LETTER_REASONS) == set(FIXES)
    assert {reason: (fix.happened, fix.to_do) for reason, fix in FIXES.items()} == table
