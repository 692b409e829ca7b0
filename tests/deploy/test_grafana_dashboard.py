"""deploy/grafana/outbound.json: a Grafana dashboard that imports (its shape), in the rows the issue asks for, reading only exported metrics."""

import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.exported import PROMETHEUS_OWN, promql_metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/outbound.json"
ROWS = ["Firing", "Delivery", "Sessions", "Webhooks", "Web"]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries(board: dict) -> list[str]:
    """Every PromQL the dashboard runs: panel targets, the annotation, the instance variable's values."""
    exprs = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    exprs += [annotation["expr"] for annotation in board["annotations"]["list"] if "expr" in annotation]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(re.fullmatch(r"label_values\((\w+), *\w+\)", variable["query"]["query"]).group(1))
    return exprs


def test_it_is_a_grafana_dashboard_with_a_datasource_variable_and_the_rows_asked_for():
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and board["title"]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert [panel["title"] for panel in board["panels"] if panel["type"] == "row"] == ROWS

    ids, row = set(), None
    for panel in board["panels"]:
        assert panel["id"] not in ids, panel["title"]
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            row = panel["title"]
            continue
        assert row is not None, f"{panel['title']} is above every row"
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(target["expr"].strip() and target["refId"] for target in panel["targets"]), panel["title"]
        assert panel["description"], panel["title"]
    # Every row has panels, and no two panels overlap in the grid.
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        taken = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, panel["title"]
        cells |= taken


def test_every_query_reads_only_metrics_the_service_exports(exported):
    used = {expr: promql_metric_names(expr) for expr in queries(dashboard())}
    assert all(used.values()), used
    missing = {expr: sorted(names - exported - PROMETHEUS_OWN) for expr, names in used.items()}
    assert {expr: names for expr, names in missing.items() if names} == {}


def test_every_query_is_valid_promql(tmp_path, promtool):
    """promtool parses each query (as a recording rule), with Grafana's variables as Grafana fills them."""
    filled = [expr.replace("$__rate_interval", "1m").replace("$instance", ".*") for expr in queries(dashboard())]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(filled)]}]}
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
