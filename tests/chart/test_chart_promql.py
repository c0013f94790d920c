"""The PrometheusRule's rules and the Grafana dashboard, checked with the real promtool.

Rules: `promtool check rules` and `promtool test rules` (input series and expected samples and
alerts in prometheus-rules.test.yaml). Dashboard: every query parses (promtool, as recording
rules) and every metric it or the rules read is in the contract of docs/metrics.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import CHART, HERE, ROOT, run, tool

pytestmark = pytest.mark.chart

RULES = CHART / "files" / "prometheus-rules.yaml"
RULES_TEST = HERE / "prometheus-rules.test.yaml"
DASHBOARD = CHART / "files" / "grafana-dashboard.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"
NAME = re.compile(r"\b((?:infercost|nv)_[a-z0-9_]+|[a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What in PromQL names labels rather than series: strings, matchers, grouping clauses.
NOT_SERIES = re.compile(
    r'"[^"]*"|\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)'
)


def _doc_table_names(section: str) -> set[str]:
    """Metric names in the first column of the tables under a `## section` of metrics.md."""
    text = METRICS_DOC.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", body, flags=re.MULTILINE))


def _used_names(expr: str) -> set[str]:
    names = set()
    for name in NAME.findall(NOT_SERIES.sub(" ", expr)):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.startswith("infercost_"):
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_targets() -> list[dict[str, Any]]:
    dash = json.loads(DASHBOARD.read_text())
    return [t for p in dash["panels"] for t in p.get("targets", [])]


def _as_promql(grafana_expr: str) -> str:
    # Grafana's variables, as Grafana expands them for "All" and the default step.
    return (
        grafana_expr.replace("$__rate_interval", "5m")
        .replace("$namespace", ".*")
        .replace("$service", ".*")
    )


def test_promtool_check_rules() -> None:
    done = run([tool("promtool"), "check", "rules", RULES])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = run([tool("promtool"), "test", "rules", RULES_TEST])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        ("> (14.4 * 0.01)", "> (20 * 0.01)"),
        ('infercost_io_service!=""} >= 0,', 'infercost_io_service!=""},'),
        ("for: 15m", "for: 5m"),
        ("(3600 * (namespace_service:", "(60 * (namespace_service:"),
    ],
    ids=["burn-threshold", "nan-filter", "budget-for", "per-hour"],
)
def test_promtool_unit_tests_catch_a_wrong_rule(tmp_path: Path, original: str, mutant: str) -> None:
    # The rule tests must be able to fail: each mutant of the rule file has to be caught.
    text = RULES.read_text()
    assert original in text
    (tmp_path / "rules.yaml").write_text(text.replace(original, mutant))
    suite = yaml.safe_load(RULES_TEST.read_text())
    suite["rule_files"] = ["rules.yaml"]
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite))
    done = run([tool("promtool"), "test", "rules", "test.yaml"], cwd=tmp_path)
    assert done.returncode != 0, f"mutant {mutant!r} passed the rule tests"


def test_every_alert_is_tested_firing() -> None:
    suite = yaml.safe_load(RULES_TEST.read_text())
    fired = {
        case["alertname"]
        for test in suite["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert fired == {r["alert"] for r in _rules() if "alert" in r}


def test_every_alert_has_severity_summary_and_description() -> None:
    for rule in (r for r in _rules() if "alert" in r):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_rules_doc_lists_exactly_the_rules() -> None:
    recorded = {r["record"] for r in _rules() if "record" in r}
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    assert _doc_table_names("Recording rules") == recorded
    assert _doc_table_names("Alerts") == alerts


def test_rules_and_dashboard_read_only_documented_series() -> None:
    contract = _doc_table_names("The operator's metrics")
    triton = _doc_table_names("Triton's metrics used by the rules")
    recorded = {r["record"] for r in _rules() if "record" in r}
    known = contract | triton | recorded
    used_by_rules = set().union(*(_used_names(r["expr"]) for r in _rules()))
    used_by_dashboard = set().union(*(_used_names(t["expr"]) for t in _dashboard_targets()))
    assert used_by_rules - known == set()
    assert used_by_dashboard - known == set()
    assert used_by_rules >= triton
    # Every contract metric is shown or alerted on somewhere.
    assert contract - (used_by_rules | used_by_dashboard) == set()
    assert len(contract) == 19


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    targets = _dashboard_targets()
    assert len(targets) >= 15
    rules = [
        {"record": f"dashboard:query_{i}:check", "expr": _as_promql(t["expr"])}
        for i, t in enumerate(targets)
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run([tool("promtool"), "check", "rules", path])
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_is_well_formed_for_grafana() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "infercost-overview"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert variables == {"datasource", "namespace", "service"}
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
