"""The Prometheus binaries (Debian package `prometheus`): installed with apt-get if missing,
else the tests that need them skip and say why. `.ci/run` installs them up front."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).parent.parent.parent / "deploy" / "monitoring"
ALERTS = MONITORING / "prometheus-alerts.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"

_install_tried = False


def binary(name: str) -> str:
    """The path of `promtool` or `prometheus`, installing the package once if it is missing."""
    global _install_tried
    found = shutil.which(name)
    if found is None and not _install_tried and shutil.which("apt-get") and os.geteuid() == 0:
        _install_tried = True
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
            subprocess.run(argv, env=env, capture_output=True, timeout=600, check=False)
        found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed and could not be installed here: "
            "apt-get install prometheus (Debian/Ubuntu), as .ci/run does"
        )
    return found


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule in the PrometheusRule's groups."""
    groups = yaml.safe_load(ALERTS.read_text())["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def write_rule_file(path: Path) -> Path:
    """The PrometheusRule's `spec.groups` as the plain rule file Prometheus and promtool read."""
    groups = yaml.safe_load(ALERTS.read_text())["spec"]["groups"]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path
