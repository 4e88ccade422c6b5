"""The alert rules: valid (promtool check), each fires on its fault and not on a healthy series
(promtool test, deploy/prometheus/*.test.yml), the same for Compose and the Prometheus Operator, on
metrics the code exports, with a runbook entry and a dashboard panel for each."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.test_deploy import known_metric_names

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
RULE_TESTS = sorted(PROMETHEUS.glob("*.test.yml"))


def promtool() -> str:
    """promtool from Debian's `prometheus` package (.ci/run installs it). Missing means the rule
    tests cannot run: fail, saying so, rather than skip."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's `prometheus` package (apt-get install -y prometheus)")
    return path


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _alerts() -> list[dict]:
    return [rule for rule in _rules() if "alert" in rule]


def test_rules_are_valid():
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_its_fault_and_not_on_a_healthy_series():
    result = subprocess.run(
        [promtool(), "test", "rules", *map(str, RULE_TESTS)], capture_output=True, text=True, cwd=PROMETHEUS
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == {rule["alert"] for rule in _alerts()}


def test_a_broken_rule_fails_its_unit_test(tmp_path):
    # The unit tests can fail: the same tests against a rule whose threshold is off.
    for path in RULE_TESTS:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "rules.yml").write_text(RULES.read_text().replace("> 0.05", "> 0.5"))
    result = subprocess.run(
        [promtool(), "test", "rules", *(p.name for p in RULE_TESTS)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "AbusewatchDeadLetterRateHigh" in result.stdout + result.stderr


def test_prometheus_operator_rule_has_the_same_groups_as_the_plain_rules_file():
    operator = yaml.safe_load((ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml").read_text())
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"] == yaml.safe_load(RULES.read_text()), "copy the groups of deploy/prometheus/rules.yml"


def test_rules_name_metrics_the_code_exports():
    known = known_metric_names()
    # kube-state-metrics' restart counter and Prometheus's own `up` come from outside abusewatch.
    external = {"up", "kube_pod_container_status_restarts_total"}
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for rule in _rules():
        for name in re.findall(r"\b([a-z_:]+)\{", rule["expr"]) + re.findall(r"\b(abusewatch:[a-z0-9_:]+)", rule["expr"]):
            if name in external or name in recorded:
                continue
            family = re.sub(r"_(total|bucket)$", "", name)
            assert family in known, f"{rule.get('alert', rule.get('record'))}: {name} is not exported by abusewatch"


def test_every_alert_has_a_runbook_entry():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    # GitHub's anchor for a heading made of one alert name is the name in lower case.
    anchors = {line.removeprefix("## ").strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    for alert in _alerts():
        anchor = alert["annotations"]["runbook"].removeprefix("docs/runbook.md#")
        assert anchor in anchors, alert["alert"]
        assert alert["alert"] in runbook, alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning")


def test_dashboard_shows_what_every_alert_watches():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "abusewatch.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", []))
    for rule in _rules():
        for name in set(re.findall(r"\b(abusewatch_[a-z_]+|process_start_time_seconds|abusewatch:[a-z0-9_:]+)", rule["expr"])):
            assert name in exprs, f"no dashboard panel shows {name} ({rule.get('alert', rule.get('record'))})"
