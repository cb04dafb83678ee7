"""Finding things: what to do next for each dead letter, a listing that fits the terminal, the
dashboard's job ids pasted into the CLI, and times written as a clock shows them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import orjson

from relay.admin.advice import NEXT_STEPS
from relay.store import DEAD_LETTER_REASONS, Store
from tests.admin.helpers import UUID_A, AdminClient, generic_payload, parsed, seed_dead
from tests.cli import relay_cli
from tests.test_readme import README

LONG_ERROR = (
    "ChartMogul refused the owner: the user ann.example.person@acme-corporation.example has no seat "
    "in this account's CRM, and a change to the owner of a customer needs one; see "
    "https://help.chartmogul.com/hc/en-us/articles/a-very-long-article-name-about-crm-seats-and-owners "
    "for how to add one, then send the change again"
)


def seed(with_store: Any, event_id: str = "evt_fix", **dead: Any) -> None:
    async def work(store: Store) -> None:
        payload = generic_payload(event_id, UUID_A, set={"owner": "ann@acme.example"})
        await seed_dead(store, [parsed(payload)], **dead)

    with_store(work)


def test_every_reason_has_a_next_step_and_the_readme_table_is_it() -> None:
    assert set(NEXT_STEPS) == set(DEAD_LETTER_REASONS)
    table = README.split("<!-- dead-letter-reasons -->")[1].split("\n\n")[0]
    rows = {
        match[1]: (match[2], match[3], match[4])
        for match in re.finditer(r"^\| `(\w+)` \| (.+?) \| (.+?) \| (.+?) \|$", table, re.MULTILINE)
    }
    assert set(rows) == set(DEAD_LETTER_REASONS)
    for reason, step in NEXT_STEPS.items():
        command = f"`{step.command.format(event_id='ID')}`" if step.command else "—"
        assert rows[reason] == (step.happened, step.to_do, command), reason


def test_dlq_show_and_the_admin_api_say_what_to_do_next(
    with_store: Any, admin: AdminClient, admin_env: dict[str, str]
) -> None:
    seed(with_store, reason="not_applied", http_status=200)

    shown = relay_cli(admin_env, "dlq", "show", "evt_fix")
    api = admin.get("/admin/dlq/evt_fix").body["event"]["next_step"]
    listed = admin.get("/admin/dlq").body["dead_letters"][0]["next_step"]

    step = NEXT_STEPS["not_applied"]
    assert f"What to do: {step.to_do}\n  relay dlq replay evt_fix --dry-run\n" in shown.stdout
    assert (
        api
        == listed
        == {
            "what_happened": step.happened,
            "what_to_do": step.to_do,
            "command": "relay dlq replay evt_fix --dry-run",
        }
    )


def test_dlq_list_fits_the_terminal_and_never_cuts_a_word_silently(
    with_store: Any, admin_env: dict[str, str]
) -> None:
    seed(with_store, error=LONG_ERROR)

    narrow = relay_cli({**admin_env, "COLUMNS": "80"}, "dlq", "list")
    wide = relay_cli({**admin_env, "COLUMNS": "200"}, "dlq", "list")

    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[1].split()[1] == "evt_fix"  # the id is whole: it is pasted into the next command
    words = set(LONG_ERROR.split())
    text = [part for line in lines[2:] for part in line.split()]
    assert text and text[-1].endswith("…")  # more than fits: said with an ellipsis
    assert all(word in words for word in text[:-1])  # every other word whole
    wide_lines = wide.stdout.splitlines()
    assert all(len(line) <= 200 for line in wide_lines)
    assert wide_lines[1].split()[:2] == [lines[1].split()[0], "evt_fix"] and UUID_A in wide_lines[1]


def test_the_dashboards_job_ids_paste_into_the_cli_and_the_api(
    with_store: Any, admin: AdminClient, admin_env: dict[str, str]
) -> None:
    seed(with_store, event_id="evt_42.1")  # mirrored as the job dlq-evt__42_d1 (rq's id alphabet)
    job_id = "dlq-evt__42_d1"

    shown = relay_cli(admin_env, "dlq", "show", job_id)
    events = relay_cli(admin_env, "events", "show", job_id, "--json")
    dry = relay_cli(admin_env, "dlq", "replay", job_id, "--dry-run")

    assert shown.returncode == 0 and "Event evt_42.1  (dead: rejected)" in shown.stdout
    assert orjson.loads(events.stdout)["event"]["event_id"] == "evt_42.1"
    assert "evt_42.1: would replay" in dry.stdout
    assert admin.get(f"/admin/dlq/{job_id}").body["event"]["event_id"] == "evt_42.1"


def test_since_a_clock_time_is_today_on_this_machines_clock(
    with_store: Any, admin_env: dict[str, str]
) -> None:
    seed(with_store)
    a_minute_ago = (datetime.now().astimezone() - timedelta(minutes=1)).strftime("%H:%M")

    found = relay_cli(admin_env, "events", "list", "--since", a_minute_ago, "--json")
    dead = relay_cli(admin_env, "dlq", "list", "--since", a_minute_ago, "--json")

    assert [orjson.loads(line)["event_id"] for line in found.stdout.splitlines()] == ["evt_fix"]
    assert [orjson.loads(line)["event_id"] for line in dead.stdout.splitlines()] == ["evt_fix"]
    assert "(10:05-style times are today on this machine's clock: now " in found.stderr
