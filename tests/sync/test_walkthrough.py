"""The README's "Sync an existing CRM" walk-through, command by command as written, against
what `make dev` runs: the simulator seeded with the demo customers, Redis and a worker."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis

from relay.demo import demo_event
from relay.simulator.seed import DEMO_SEED_PATH, load_seed
from relay.simulator.testing import SimulatorHandle, running_simulator
from relay.store import keys
from tests.conftest import GENERIC_SECRET, SIM_API_KEY
from tests.servers import WorkerProcess, event_record, wait_for
from tests.webhooks import send_generic

ROOT = Path(__file__).resolve().parents[2]
ACME = "cus_ab223d54-75b4-431b-adb2-eb6b9e234571"


def walkthrough_commands() -> list[list[str]]:
    block = (ROOT / "README.md").read_text().split("<!-- sync-walkthrough -->")[1].split("```sh\n")[1]
    block = block.split("```")[0]
    return [shlex.split(line, comments=True)[1:] for line in block.splitlines() if line.startswith("relay ")]


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    # `make dev`'s simulator: the demo seed.
    with running_simulator(api_key=SIM_API_KEY, seed=load_seed(DEMO_SEED_PATH)) as sim:
        yield sim


def test_the_walkthrough_works_as_written(
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    web: str,
    start_worker: Callable[..., WorkerProcess],
    redis_url: str,
    tmp_path: Path,
) -> None:
    # A fresh clone: the export is as old as the checkout; `make dev`'s demo event is newer.
    shutil.copytree(ROOT / "deploy" / "examples", tmp_path / "deploy" / "examples")
    demo = orjson.loads(demo_event(ACME))
    assert send_generic(web, GENERIC_SECRET, demo).status == 202
    commands = walkthrough_commands()
    assert [c[:2] for c in commands] == [
        ["links", "suggest"],
        ["links", "import"],
        ["sync", "--source"],
        ["sync", "--source"],
        ["events", "list"],
        ["sync", "--source"],
        ["status"],
    ]
    start_worker()
    wait_for(lambda: event_record(redis_url, demo["id"]).get("status") == "applied")
    outputs = []
    for command in commands:
        result = subprocess.run(
            [sys.executable, "-m", "relay", *command],
            env={**os.environ, **relay_env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"relay {shlex.join(command)}: {result.stderr}"
        outputs.append(result.stdout)
        if command[:1] == ["sync"] and "--yes" in command:
            wait_for(lambda: settled(redis_url))

    suggest, imported, dry_run, real_run, events, as_of_now, _ = outputs
    assert "by domain: 3" in suggest and "by name: 1" in suggest and "Unmatched: 1 (9005)" in suggest
    assert (
        '  9003 (line 4) "Initech, Inc." → cus_8f41d2a6-7c3e-4b19-a0d5-6e2f9b7c1d34 "Initech"  [name initech]'
        in (suggest)
    )
    assert '  9005 (line 6) "Hooli"' in suggest
    assert "Imported 4 links" in imported
    assert f"  city: Berlin → Oakland  (stale, not sent: {demo['id']} at " in dry_run
    assert f"  country: DE → US  (stale, not sent: {demo['id']} at " in dry_run
    assert "  zip: 94107 → 94607" in dry_run
    assert "Matched: 4 (unchanged 1, to change 3, stale only 0)" in dry_run
    assert "Stale, not sent: city 1, country 1 in 1 record(s)" in dry_run
    assert "API calls the real run will spend: 5 (list 1, tags 2, update 2)" in dry_run
    assert (tmp_path / "unmatched.csv").read_text().splitlines()[1].startswith("hubspot,9005,,line 6,")
    assert "Enqueued 3 changes; 1 unmatched, 0 skipped; 2 stale field(s) not sent." in real_run
    assert events.count("sync:") == 3
    assert "Enqueued 1 changes;" in as_of_now
    stored = simulator.stored_customer(ACME)
    assert stored["city"] == "Oakland" and stored["country"] == "US"
    assert "industry:Software" in stored["attributes"]["tags"]


def settled(redis_url: str) -> bool:
    """Every sync event has its outcome."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        ids = [e for e in client.zrange(keys.EVENTS, 0, -1) if str(e).startswith("sync:")]
        return bool(ids) and all(client.hget(keys.event(str(e)), "status") != "queued" for e in ids)
    finally:
        client.close()
