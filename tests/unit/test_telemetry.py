"""The operator's own metrics: exact names (a contract: the chart's rules and dashboard use
them), values from a real decision of the engine, label sets of pools no longer used removed,
and the exposition as Prometheus reads it over HTTP."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.unit.engine.engine_factories import NOW, decision, pool, service, variant

from infercost.controller.telemetry import Telemetry
from infercost.engine import planner
from infercost.engine.model import CurrentDeployment, Observation

pytestmark = pytest.mark.unit

CONTRACT = {
    "infercost_service_hourly_cost": "gauge",
    "infercost_service_cost_per_million": "gauge",
    "infercost_service_p99_latency_ms": "gauge",
    "infercost_service_slo_latency_ms": "gauge",
    "infercost_service_budget_hourly": "gauge",
    "infercost_pool_desired_replicas": "gauge",
    "infercost_pool_ready_replicas": "gauge",
    "infercost_batching_max_batch_size": "gauge",
    "infercost_decisions": "counter",  # exposed as infercost_decisions_total
    "infercost_reconcile_duration_seconds": "histogram",
    "infercost_metrics_available": "gauge",
    "infercost_service_within_budget": "gauge",
}
SPEC = service(
    [variant("gpu", accelerators={"nvidia-l4": [(1, 100.0, 10.0), (8, 400.0, 30.0)]})],
    budget={"maxHourlyCost": 50.0},
)
POOLS = [pool("g6", price=0.80)]


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    text = generate_latest(telemetry.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(telemetry: Telemetry, name: str, **labels: str) -> float | None:
    return samples(telemetry).get((name, tuple(sorted(labels.items()))))


def test_names_and_types_are_the_contract() -> None:
    telemetry = Telemetry()
    plan = planner.decide(decision(SPEC, POOLS, demand=500.0, p99=20.0))
    telemetry.record(("ml", "bert"), spec=SPEC, plan=plan, observation=None, ready={})
    for action in plan.actions:
        telemetry.decided(("ml", "bert"), action)
    telemetry.duration.observe(0.01)
    from prometheus_client import generate_latest

    families = {
        f.name: f.type
        for f in text_string_to_metric_families(generate_latest(telemetry.registry).decode())
    }
    for name, kind in CONTRACT.items():
        assert families.get(name) == kind, (name, families.get(name))
    names = {s[0] for s in samples(telemetry)}
    assert "infercost_decisions_total" in names
    assert "infercost_reconcile_duration_seconds_bucket" in names


def test_values_follow_the_decision_and_unused_pools_are_removed() -> None:
    telemetry = Telemetry()
    observation = Observation(time=NOW, demand_rps=500.0, p99_latency_ms=20.0)
    plan = planner.decide(decision(SPEC, POOLS, demand=500.0, p99=20.0))
    (allocation,) = [a for a in plan.allocations if a.replicas > 0]
    ready = {("gpu", "g6"): 1}
    telemetry.record(("ml", "bert"), spec=SPEC, plan=plan, observation=observation, ready=ready)
    for action in plan.actions:
        telemetry.decided(("ml", "bert"), action)
    svc = {"namespace": "ml", "service": "bert"}
    where = {**svc, "pool": "g6", "variant": "gpu"}
    assert value(telemetry, "infercost_service_hourly_cost", **svc) == pytest.approx(
        plan.hourly_cost
    )
    assert plan.cost_per_million is not None
    assert value(telemetry, "infercost_service_cost_per_million", **svc) == pytest.approx(
        plan.cost_per_million
    )
    assert value(telemetry, "infercost_service_p99_latency_ms", **svc) == 20.0
    assert value(telemetry, "infercost_service_slo_latency_ms", **svc) == 50.0
    assert value(telemetry, "infercost_service_budget_hourly", **svc) == 50.0
    assert value(telemetry, "infercost_metrics_available", **svc) == 1.0
    assert value(telemetry, "infercost_service_within_budget", **svc) == 1.0
    assert value(telemetry, "infercost_pool_desired_replicas", **where) == allocation.replicas
    assert value(telemetry, "infercost_pool_ready_replicas", **where) == 1.0
    assert value(telemetry, "infercost_batching_max_batch_size", **where) == (
        allocation.batching.max_batch_size
    )
    for action in plan.actions:
        labels = {**svc, "action": action.kind.value, "reason": action.reason.value}
        assert value(telemetry, "infercost_decisions_total", **labels) >= 1  # type: ignore[operator]

    # Metrics gone: held, MetricsAvailable 0, p99 no longer reported.
    current = {("gpu", "g6"): CurrentDeployment(replicas=allocation.replicas, ready_replicas=1)}
    held = planner.decide(decision(SPEC, POOLS, current=current))
    telemetry.record(("ml", "bert"), spec=SPEC, plan=held, observation=None, ready=ready)
    for action in held.actions:
        telemetry.decided(("ml", "bert"), action)
    assert value(telemetry, "infercost_metrics_available", **svc) == 0.0
    assert value(telemetry, "infercost_service_p99_latency_ms", **svc) is None
    hold = {**svc, "action": "Hold", "reason": "HeldMetricsUnavailable"}
    assert value(telemetry, "infercost_decisions_total", **hold) == 1.0

    telemetry.forget(("ml", "bert"))
    assert value(telemetry, "infercost_pool_desired_replicas", **where) is None
    assert value(telemetry, "infercost_service_hourly_cost", **svc) is None


def test_served_over_http_as_prometheus_scrapes_it() -> None:
    telemetry = Telemetry()
    plan = planner.decide(decision(SPEC, POOLS, demand=100.0, p99=5.0))
    telemetry.record(("ml", "bert"), spec=SPEC, plan=plan, observation=None, ready={})
    server = telemetry.serve(0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'infercost_service_hourly_cost{namespace="ml",service="bert"}' in text
