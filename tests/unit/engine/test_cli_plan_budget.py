"""`infercost plan` with a BudgetPolicy: the split is printed, and the plans keep under the Cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.crdcheck import EXAMPLES
from typer.testing import CliRunner

from infercost.cli import app

pytestmark = pytest.mark.unit

PLANNED = [str(EXAMPLES / "pools"), str(EXAMPLES / "services")]
BUDGETS = str(EXAMPLES / "budgets")


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["plan", *args])


def plan_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_the_team_cap_binds_and_the_plans_keep_under_it() -> None:
    without = plan_json(*PLANNED, "--rate", "20000")
    data = plan_json(*PLANNED, BUDGETS, "--rate", "20000")
    (budget,) = data["budgets"]
    wanted = sum(s["hourly_cost"] for s in without["services"])
    planned = sum(s["hourly_cost"] for s in data["services"])
    print(f"ml-team: wanted ${wanted:.4f}/h, planned ${planned:.4f}/h, Cap $3.00/h")
    assert wanted > budget["max_hourly_cost"], "the example's Cap must bind at this rate"
    assert planned <= budget["max_hourly_cost"] + 1e-9
    assert budget["spend_hourly"] == pytest.approx(planned)
    assert budget["exceeded"] is True
    assert budget["limited_services"]
    for name in budget["limited_services"]:
        (svc,) = [s for s in data["services"] if f"{s['namespace']}/{s['name']}" == name]
        (within,) = [c for c in svc["conditions"] if c["type"] == "WithinBudget"]
        assert within["reason"] == "TeamBudgetLimited"
        assert "BudgetPolicy ml-team" in within["message"]


def test_under_the_cap_the_plans_are_those_without_a_policy() -> None:
    without = plan_json(*PLANNED, "--rate", "200")
    data = plan_json(*PLANNED, BUDGETS, "--rate", "200")
    assert data["budgets"][0]["limited_services"] == []
    assert [s["allocation"] for s in data["services"]] == [
        s["allocation"] for s in without["services"]
    ]


def test_the_table_names_the_policy_and_each_share() -> None:
    result = run(*PLANNED, BUDGETS, "--rate", "20000")
    assert result.exit_code == 0, result.output
    assert "BudgetPolicy ml-team (Cap $3.00/h)" in result.stdout
    for header in ("wants $/h", "share $/h", "planned $/h", "limited"):
        assert header in result.stdout
    assert "TeamBudgetLimited" in result.stdout


def test_a_policy_with_an_empty_selector_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: infercost.io/v1alpha1\nkind: BudgetPolicy\nmetadata: {name: x}\n"
        "spec: {selector: {}, maxHourlyCost: 2}\n"
    )
    result = run(*PLANNED, str(bad))
    assert result.exit_code == 2
    assert "spec.selector" in result.output
    assert "Traceback" not in result.output
