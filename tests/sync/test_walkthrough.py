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

import pytest

from relay.simulator.seed import DEMO_SEED_PATH, load_seed
from relay.simulator.testing import SimulatorHandle, running_simulator
from tests.conftest import SIM_API_KEY
from tests.servers import WorkerProcess, wait_for

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
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "deploy" / "examples", tmp_path / "deploy" / "examples")
    commands = walkthrough_commands()
    assert [c[:2] for c in commands] == [
        ["links", "suggest"],
        ["links", "import"],
        ["sync", "--source"],
        ["sync", "--source"],
        ["events", "list"],
        ["status"],
    ]
    start_worker()
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
            wait_for(lambda: simulator.stored_customer(ACME)["city"] == "Oakland")

    suggest, imported, dry_run, real_run, events, _ = outputs
    assert "by domain: 3" in suggest and "by name: 1" in suggest and "Unmatched: 1 (9005)" in suggest
    assert "Imported 4 links" in imported
    assert "  city: San Francisco → Oakland" in dry_run
    assert "Matched: 4 (unchanged 1, to change 3)" in dry_run
    assert "API calls the real run will spend: 5 (list 1, tags 2, update 2)" in dry_run
    assert (tmp_path / "unmatched.csv").read_text().splitlines()[1].startswith("hubspot,9005,,line 6,")
    assert "Enqueued 3 changes (0 were already enqueued" in real_run
    assert events.count("sync:") == 3
    assert "industry:Software" in simulator.stored_customer(ACME)["attributes"]["tags"]
