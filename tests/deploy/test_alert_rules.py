"""deploy/prometheus: the alert rules load, fire on the series their unit tests write (promtool), and read only exported metrics."""

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.exported import PROMETHEUS_OWN, promql_metric_names

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"
RULE_TESTS = sorted((ROOT / "deploy/prometheus/tests").glob("*.yml"))
OPERATIONS = ROOT / "docs/operations.md"


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules(promtool):
    result = subprocess.run([promtool, "check", "rules", str(RULES)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool):
    assert RULE_TESTS, "no rule unit tests in deploy/prometheus/tests"
    result = subprocess.run([promtool, "test", "rules", *map(str, RULE_TESTS)], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_quiet():
    """An alert no test fires, or none keeps quiet, is an alert nobody checked."""
    fired, quiet = set(), set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert names - fired == set(), "never fired by a test"
    assert names - quiet == set(), "never shown quiet by a test"


def test_every_rule_reads_only_metrics_the_service_exports(exported):
    used = {rule["alert"]: promql_metric_names(rule["expr"]) for rule in rules()}
    assert all(used.values()), used  # the parser found something in each
    missing = {alert: sorted(names - exported - PROMETHEUS_OWN) for alert, names in used.items()}
    assert {alert: names for alert, names in missing.items() if names} == {}


def test_every_alert_has_a_severity_a_summary_and_a_runbook_in_the_operations_guide():
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), flags=re.M)}
    for rule in rules():
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert path == "docs/operations.md" and anchor in anchors, rule["alert"]


def test_the_metric_name_parser_tells_metrics_from_functions_and_labels():
    expr = 'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y z", le!="1"}[$__rate_interval]))) > 1e3 and on (i) b == bool 2 unless up'
    assert promql_metric_names(expr) == {"a_bucket", "b", "up"}


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
