"""The alert rules checked and unit-tested by `promtool` itself: each alert has a case where it
must fire (the first event after a quiet spell, a pod restart) and one where it must not."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.monitoring.tools import alert_rules, binary, write_rule_file

CASES = Path(__file__).parent / "alert_rules_test.yaml"


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    rules = write_rule_file(tmp_path / "rules.yaml")

    checked = subprocess.run(
        [binary("promtool"), "check", "rules", str(rules)], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


def with_descriptions(cases: dict[str, Any]) -> dict[str, Any]:
    """Fill in each expected alert's description from its rule (static text, no template)."""
    descriptions = {rule["alert"]: rule["annotations"]["description"] for rule in alert_rules()}
    for case in cases["tests"]:
        for check in case["alert_rule_test"]:
            for alert in check.get("exp_alerts", []):
                alert["exp_annotations"].setdefault("description", descriptions[check["alertname"]])
    return cases


def test_every_alert_fires_and_stays_quiet_when_it_should(tmp_path: Path) -> None:
    write_rule_file(tmp_path / "rules.yaml")
    cases = with_descriptions(yaml.safe_load(CASES.read_text()))
    (tmp_path / "cases.yaml").write_text(yaml.safe_dump(cases, sort_keys=False))

    tested = subprocess.run(
        [binary("promtool"), "test", "rules", "cases.yaml"], cwd=tmp_path, capture_output=True, text=True
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
    fired = {
        check["alertname"]
        for case in cases["tests"]
        for check in case["alert_rule_test"]
        if check.get("exp_alerts")
    }
    quiet = {
        check["alertname"]
        for case in cases["tests"]
        for check in case["alert_rule_test"]
        if not check.get("exp_alerts")
    }
    every_alert = {rule["alert"] for rule in alert_rules()}
    assert fired == every_alert, f"no firing case for {every_alert - fired}"
    assert quiet == every_alert, f"no quiet case for {every_alert - quiet}"
