"""Scenario files, traces and the bench's JSON contract (docs/architecture.md sections 7 and 8)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infercost.cli import app
from infercost.sim.scenario import ScenarioError, WorkloadService, load_scenario
from infercost.sim.traces import rate_per_step

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "examples" / "scenarios").glob("*.yaml"))
CONTRACT_KEYS = {
    "policy",
    "requests",
    "good_requests",
    "slo_attainment",
    "cost_usd",
    "cost_per_million_good",
    "accelerator_hours",
    "overprovisioned_accelerator_hours",
    "budget_violation_seconds",
}
POLICIES = {"infercost", "oracle", "hpa", "keda-queue", "static-peak", "single-pool"}


def _scenario(tmp_path: Path, *, workload: str) -> Path:
    """A scenario in tmp_path that reuses the bundled example pools and BERT service."""
    examples = ROOT / "examples"
    path = tmp_path / "scenario.yaml"
    path.write_text(
        f"""apiVersion: sim.infercost.io/v1alpha1
kind: Workload
metadata: {{name: test}}
spec:
  baselinePool: g6-xlarge
  include: [{examples / "pools"}, {examples / "services" / "bert-base.yaml"}]
{workload}"""
    )
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_example_scenarios_load_and_their_traces_exist(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.pools
    assert scenario.services
    for entry in scenario.workload.spec.services:
        rates = rate_per_step(entry, base_dir=scenario.base_dir, duration=600, step=1)
        assert rates.shape == (600,)
        assert rates.max() > 0


def test_there_is_a_scenario_per_real_trace_and_one_with_a_cap_budget() -> None:
    text = " ".join(path.read_text() for path in SCENARIOS)
    for trace in ("azure_llm_2023_code", "azure_llm_2023_conv", "twitter_stream", "alibaba_genai"):
        assert trace in text
    capped = [
        s
        for s in (load_scenario(p) for p in SCENARIOS)
        if any(svc.spec.budget and svc.spec.budget.on_exceeded.value == "Cap" for svc in s.services)
    ]
    assert capped


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        (
            "  duration: 60\n  step: 2\n  controlInterval: 15\n  services:\n  - {name: bert-base, "
            "namespace: ml, trace: {path: x.csv, format: requests-csv, timeColumn: t}}\n",
            "controlInterval",
        ),
        (
            "  duration: 60\n  services:\n  - {name: nope, namespace: ml, "
            "trace: {path: x.csv, format: requests-csv, timeColumn: t}}\n",
            "no InferenceService ml/nope",
        ),
        (
            "  duration: 60\n  services:\n  - {name: bert-base, namespace: ml, "
            "trace: {path: x.csv, format: rate-csv, timeColumn: t}}\n",
            "rateColumn",
        ),
        (
            "  duration: -5\n  services:\n  - {name: bert-base, namespace: ml, "
            "trace: {path: x.csv, format: requests-csv, timeColumn: t}}\n",
            "spec.duration",
        ),
    ],
)
def test_bad_workloads_name_the_field(tmp_path: Path, workload: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(_scenario(tmp_path, workload=workload))


def _rates(tmp_path: Path, name: str, content: bytes, **trace: object) -> np.ndarray:
    (tmp_path / name).write_bytes(content)
    entry = WorkloadService.model_validate(
        {"name": "x", "trace": {"path": name, **trace}, "timeScale": trace.pop("ts", 1.0)}
    )
    return rate_per_step(entry, base_dir=tmp_path, duration=20, step=1)


def _tar(member: str, data: bytes, extra: str | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name in [member, extra] if extra else [member]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_trace_formats_and_compressions(tmp_path: Path) -> None:
    requests = b"ts,x\n" + b"".join(b"%d.5,1\n" % (i // 3) for i in range(30))  # 3 per second
    rates = _rates(
        tmp_path,
        "r.csv.gz",
        gzip.compress(requests),
        format="requests-csv",
        timeColumn="ts",
        smoothSeconds=0,
    )
    assert rates[:9].tolist() == [3.0] * 9
    # The trace (last arrival + one mean gap, ~9.3 s) loops to fill the 20 s run.
    assert rates.sum() == pytest.approx(30 * 20 / (9 + 9 / 29), abs=3)
    # rate-csv: two containers at the same time are summed; a sample holds sampleSeconds.
    table = b"t,v\n0,2\n0,3\n10,1\n"
    rates = _rates(
        tmp_path,
        "q.csv.bz2",
        bz2.compress(table),
        format="rate-csv",
        timeColumn="t",
        rateColumn="v",
        sampleSeconds=5,
    )
    assert rates[:5].tolist() == [5.0] * 5
    assert rates[5:10].tolist() == [0.0] * 5
    assert rates[10:15].tolist() == [1.0] * 5
    series = _rates(tmp_path, "w.tgz", _tar("workload.txt", b"1 2 3 4"), format="rate-series")
    assert series[:8].tolist() == [1, 2, 3, 4, 1, 2, 3, 4]


def test_a_tar_of_several_files_needs_a_member(tmp_path: Path) -> None:
    content = _tar("a.txt", b"1 2", extra="b.txt")
    with pytest.raises(ScenarioError, match=r"trace\.member"):
        _rates(tmp_path, "two.tgz", content, format="rate-series")
    assert _rates(tmp_path, "two.tgz", content, format="rate-series", member="b.txt")[0] == 1


def test_peak_rescaling_and_time_compression(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_text(" ".join(str(v) for v in range(1, 601)))
    entry = WorkloadService.model_validate(
        {"name": "x", "trace": {"path": "w.txt", "format": "rate-series"}, "peakRps": 1000}
    )
    rates = rate_per_step(entry, base_dir=tmp_path, duration=600, step=1)
    peak_minute = np.convolve(rates, np.ones(60) / 60, mode="valid").max()
    assert peak_minute == pytest.approx(1000)
    fast = WorkloadService.model_validate(
        {"name": "x", "trace": {"path": "w.txt", "format": "rate-series"}, "timeScale": 2}
    )
    compressed = rate_per_step(fast, base_dir=tmp_path, duration=10, step=1)
    assert compressed[0] == pytest.approx((1 + 2) / 1)  # two trace seconds per step


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("bench")
    trace = ROOT / "data" / "traces" / "azure_llm_2023_conv.csv"
    scenario = _scenario(
        tmp,
        workload=(
            "  duration: 1200\n  services:\n  - name: bert-base\n    namespace: ml\n"
            f"    trace: {{path: {trace}, format: requests-csv, timeColumn: TIMESTAMP}}\n"
            "    peakRps: 8000\n"
        ),
    )
    out = tmp / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", str(scenario), "--json", str(out), "--report", str(tmp / "report")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp / "report" / "report.md").read_text().startswith("# Benchmark")
    timeline = (tmp / "report" / "decisions-infercost.csv").read_text().splitlines()
    assert timeline[0] == "time_s,service,action,reason,message"
    assert "InitialPlacement" in timeline[1]
    for plot in ("demand", "replicas", "p99", "cost"):
        assert (tmp / "report" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    payload = json.loads(out.read_text())
    assert set(payload) == {"policies"}
    return payload["policies"]  # type: ignore[no-any-return]


def test_bench_json_has_every_policy_with_the_contract_keys(
    bench_json: dict[str, dict[str, object]],
) -> None:
    assert set(bench_json) == POLICIES
    for name, result in bench_json.items():
        assert set(result) == CONTRACT_KEYS
        assert result["policy"] == name
        assert 0 <= result["good_requests"] <= result["requests"]  # type: ignore[operator]
        assert 0.0 <= result["slo_attainment"] <= 1.0  # type: ignore[operator]
        assert result["overprovisioned_accelerator_hours"] <= result["accelerator_hours"]  # type: ignore[operator]


def test_every_policy_sees_the_same_requests(bench_json: dict[str, dict[str, object]]) -> None:
    assert len({r["requests"] for r in bench_json.values()}) == 1


def test_oracle_meets_the_slo_for_less_than_a_static_fleet(
    bench_json: dict[str, dict[str, object]],
) -> None:
    # The oracle may buy the static fleet's own replicas at every step, so it never pays more.
    oracle, static = bench_json["oracle"], bench_json["static-peak"]
    assert oracle["slo_attainment"] >= 0.99  # type: ignore[operator]
    assert oracle["cost_usd"] <= static["cost_usd"]  # type: ignore[operator]


def test_simulate_writes_one_object_and_bad_input_is_a_message(tmp_path: Path) -> None:
    trace = ROOT / "data" / "traces" / "azure_llm_2023_code.csv"
    scenario = _scenario(
        tmp_path,
        workload=(
            "  duration: 300\n  services:\n  - name: bert-base\n    namespace: ml\n"
            f"    trace: {{path: {trace}, format: requests-csv, timeColumn: TIMESTAMP}}\n"
        ),
    )
    out = tmp_path / "one.json"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(scenario),
            "--policy",
            "hpa",
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "p.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["policy"] == "hpa"
    assert (tmp_path / "p.png").exists()
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Workload\napiVersion: sim.infercost.io/v1alpha1\nspec: {}\n")
    result = CliRunner().invoke(app, ["simulate", str(broken)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    bad_policy = CliRunner().invoke(app, ["simulate", str(scenario), "--policy", "nope"])
    assert bad_policy.exit_code != 0
    assert "unknown policy" in bad_policy.output
