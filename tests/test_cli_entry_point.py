"""The real `relay` entry point, as a process: what in-process CLI tests cannot show (its exit
codes and one-line errors come from `relay.cli.main`, around the click group they invoke)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def relay_process(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "CHARTMOGUL_"))}
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,  # away from the checkout, so no `.env` there configures the command
    )


def test_a_mistyped_command_suggests_the_right_one(tmp_path: Path) -> None:
    done = relay_process(tmp_path, "stauts")

    assert done.returncode == 2
    assert "No such command 'stauts'. Did you mean 'status'?" in done.stderr


def test_a_missing_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = relay_process(tmp_path, "worker", RELAY_REDIS_URL="redis://127.0.0.1:1/0")

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: CHARTMOGUL_API_KEY is not set: the worker needs your ChartMogul API key to deliver changes"
    )
    assert done.stdout == ""
