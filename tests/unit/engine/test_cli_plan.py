"""`infercost plan`: the table, the --json contract, and errors that name file, document, field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infercost.cli import app

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
POOLS, SERVICES = FIXTURES / "pools", FIXTURES / "services"


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["plan", *args])


def plan_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_table_lists_every_option_and_the_choice() -> None:
    result = run(str(POOLS), str(SERVICES), "--rate", "200")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in ("$/replica-h", "thr/replica @SLO", "$/1M", "replicas needed", "why not"):
        assert header in out
    assert "ml/resnet" in out
    assert "chosen" in out
    assert "variant does not run on inferentia2" in out  # an infeasible option says why
    assert "maxSpotFraction" in out
    assert "InitialPlacement" in out


def test_json_contract_keys() -> None:
    data = plan_json(str(POOLS), str(SERVICES), "--rate", "200")
    (svc,) = data["services"]
    for key in (
        "name",
        "namespace",
        "demand_rps",
        "allocation",
        "hourly_cost",
        "cost_per_million",
        "batching",
        "reasons",
        "options",
    ):
        assert key in svc
    assert (svc["name"], svc["namespace"], svc["demand_rps"]) == ("resnet", "ml", 200.0)
    for allocation in svc["allocation"]:
        assert set(allocation) >= {
            "variant",
            "pool",
            "replicas",
            "hourly_cost",
            "throughput_per_replica",
        }
    assert len(svc["options"]) == 6  # 2 variants x 3 pools
    assert svc["hourly_cost"] == pytest.approx(sum(a["hourly_cost"] for a in svc["allocation"]))
    expected_per_million = svc["hourly_cost"] / (200 * 3600) * 1e6
    assert svc["cost_per_million"] == pytest.approx(expected_per_million, rel=1e-5)
    assert svc["batching"]["max_batch_size"] >= 1


def test_the_choice_changes_with_demand() -> None:
    low = plan_json(str(POOLS), str(SERVICES), "--rate", "200")["services"][0]
    high = plan_json(str(POOLS), str(SERVICES), "--rate", "20000")["services"][0]
    low_pools = {a["pool"] for a in low["allocation"]}
    high_pools = {a["pool"] for a in high["allocation"]}
    assert low_pools == {"g4dn-xlarge"}
    assert low_pools != high_pools
    assert high["cost_per_million"] < low["cost_per_million"]


def test_without_rate_demand_is_what_min_replicas_serve() -> None:
    svc = plan_json(str(FIXTURES))["services"][0]
    # minReplicas 1 on the best option that serves alone (T4, 3200/s at the SLO), 20% headroom.
    assert svc["demand_rps"] == pytest.approx(3200 / 1.2, rel=1e-6)
    assert sum(a["replicas"] for a in svc["allocation"]) >= 1


def test_services_share_pools(tmp_path: Path) -> None:
    text = (SERVICES / "resnet.yaml").read_text()
    second = text.replace("name: resnet, namespace: ml", "name: resnet-b, namespace: ml")
    (tmp_path / "two.yaml").write_text(text + "\n---\n" + second)
    data = plan_json(str(POOLS), str(tmp_path), "--rate", "20000")
    spot = [
        a["replicas"]
        for svc in data["services"]
        for a in svc["allocation"]
        if a["pool"] == "inf2-xlarge-spot"
    ]
    assert sum(spot) <= 2  # the spot pool's maxReplicas holds across services


def test_other_api_groups_are_skipped(tmp_path: Path) -> None:
    extra = tmp_path / "ns.yaml"
    extra.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ml}\n")
    assert len(plan_json(str(POOLS), str(SERVICES), str(extra))["services"]) == 1


def _bad(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run(str(POOLS), str(path))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(path) in result.stderr
    return result


def test_bad_field_names_file_document_and_camel_case_field(tmp_path: Path) -> None:
    text = (SERVICES / "resnet.yaml").read_text().replace("p99LatencyMs: 0.85", "p99LatencyMs: -1")
    result = _bad(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n" + text)
    assert "document 2" in result.stderr
    assert "spec.variants[1].profile[0].p99LatencyMs" in result.stderr
    assert "greater than 0" in result.stderr


def test_unknown_field_is_named(tmp_path: Path) -> None:
    text = (SERVICES / "resnet.yaml").read_text().replace("slo: {", "slo: {latencyMS: 3, ")
    result = _bad(tmp_path, text)
    assert "document 1" in result.stderr
    assert "spec.slo.latencyMS" in result.stderr


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    text = (POOLS / "aws.yaml").read_text().replace("  pricing: {hourlyPerNode: 0.7582}\n", "")
    result = _bad(tmp_path, text)
    assert "document 2" in result.stderr
    assert "spec.pricing" in result.stderr


def test_broken_yaml_names_line(tmp_path: Path) -> None:
    result = _bad(tmp_path, "apiVersion: infercost.io/v1alpha1\nkind: [\n")
    assert "document 1" in result.stderr
    assert "not valid YAML" in result.stderr
    assert "line" in result.stderr


def test_unknown_kind_and_missing_file(tmp_path: Path) -> None:
    result = _bad(tmp_path, "apiVersion: infercost.io/v1alpha1\nkind: Pool\nmetadata: {name: x}\n")
    assert "kind" in result.stderr
    missing = run(str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert "nope.yaml: no such file or folder" in missing.stderr


def test_no_services_is_an_error() -> None:
    result = run(str(POOLS))
    assert result.exit_code == 2
    assert "no InferenceService" in result.stderr


def test_an_advising_service_is_planned_and_says_it_is_advice() -> None:
    examples = Path(__file__).parents[3] / "examples"
    result = run(str(examples / "pools"), str(examples / "advise"), "--rate", "15000")
    assert result.exit_code == 0, result.output
    assert "ml/bert-base-advice" in result.stdout
    assert "mode Advise: advice on Deployment bert-triton (status.advice)" in result.stdout
