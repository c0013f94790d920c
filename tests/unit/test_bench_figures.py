"""A benchmark figure's verdict beside its goal: below a ceiling, or at least a floor."""

from __future__ import annotations

from infercost.bench_figures import Figure, operator_figures


def test_a_ceiling_passes_below_it_and_a_floor_passes_at_or_above_it() -> None:
    ceiling = Figure(area="operator", name="round CPU", value=14.9, unit="s", goal=15.0)
    assert ceiling.verdict == "PASS"
    assert "[goal < 15 s: PASS]" in ceiling.line()
    floor = Figure(area="operator", name="kept", value=0.9, unit="", goal=0.95, at_least=True)
    assert floor.verdict == "MISS"
    assert "| >= 0.95  | MISS |" in floor.row()
    assert Figure(area="x", name="y", value=0.95, unit="", goal=0.95, at_least=True).verdict == (
        "PASS"
    )
    assert Figure(area="x", name="y", value=3.0, unit="s").verdict == "-"


def test_a_sharded_run_is_judged_by_its_busiest_replica() -> None:
    result = {
        "services": 10_000,
        "replicas": 2,
        "steady_cpu_s_per_round": 9.0,  # the busiest replica's
        "steady_cpu_s_per_round_all_replicas": 17.0,  # over the interval, but on two cores
        "steady_reconciles_per_service_round": 1.0,
        "steady_api_writes_per_round": 0.0,
        "driven_round_wall_s": 6.0,
        "driven_round_cpu_s": 5.0,
        "first_round_wall_s": 600.0,
        "first_round_cpu_s": 500.0,
        "operator_rss_mib": 3000.0,
        "operator_rss_growth_mib": 2500.0,
    }
    steady = operator_figures(result, interval=15.0)[0]
    assert steady.name == "10,000 services, 2 replicas: steady round CPU"
    assert steady.value == 9.0
    assert steady.verdict == "PASS"
    assert "busiest of 2 replica processes" in steady.note
