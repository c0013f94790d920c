"""Advise mode's pure parts: the spec rule, reading a target (selector, pool, cost, Triton
container) and Prometheus results by pod."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from tests.integration import objects as o

from infercost.adapters import promql
from infercost.adapters.no_metrics import NoMetrics
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.controller import advise_report
from infercost.controller.advise import Advisor
from infercost.controller.advise_target import (
    Target,
    hourly_cost,
    label_selector,
    pool_of,
    quantity,
    triton_container,
)
from infercost.engine.model import (
    Allocation,
    BatchConfig,
    ConditionVerdict,
    Plan,
    PoolView,
    Reason,
    ServiceState,
)
from infercost.settings import Settings

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0


def pool(
    name: str, selector: dict[str, str], *, resource: str = "cpu", per_node: int = 16
) -> PoolView:
    spec = AcceleratorPoolSpec.model_validate(
        {
            "accelerator": {"type": "cpu", "resourceName": resource, "perNode": per_node},
            "nodeSelector": selector,
            "pricing": {"hourlyPerNode": 0.8},
        }
    )
    return PoolView(name=name, labels={}, spec=spec, hourly_per_node=0.8)


def test_advise_without_a_target_names_the_field_and_the_fix() -> None:
    spec = o.service("bert", o.GPU_VARIANT, mode="Advise")["spec"]
    with pytest.raises(ValidationError, match=r"spec\.advise\.targetRef is required .* Manage"):
        InferenceServiceSpec.model_validate(spec)
    advised = InferenceServiceSpec.model_validate(spec | {"advise": {"targetRef": {"name": "t"}}})
    assert advised.advise is not None
    assert advised.advise.target_ref.kind == "Deployment"
    assert (
        InferenceServiceSpec.model_validate(o.service("b", o.GPU_VARIANT)["spec"]).mode == "Manage"
    )


def test_label_selector_text_covers_match_expressions() -> None:
    selector = {
        "matchLabels": {"app": "bert"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == "app=bert,tier in (a,b),!canary"


def test_the_most_specific_pool_whose_selector_the_node_carries() -> None:
    broad = pool("any-c7i", {"family": "c7i"})
    exact = pool("c7i-4xl", {"family": "c7i", "size": "4xl"})
    other = pool("g5", {"family": "g5"})
    pools = [broad, exact, other]
    assert pool_of([{"family": "c7i", "size": "4xl", "zone": "a"}], pools) is exact
    assert pool_of([{"family": "c7i", "size": "2xl"}], pools) is broad
    assert pool_of([{"family": "m7i"}], pools) is None


def test_cost_counts_the_share_of_a_node_or_says_it_is_unknown() -> None:
    container: dict[str, Any] = {"name": "t", "resources": {"requests": {"cpu": "4000m"}}}
    deployment = {"spec": {"replicas": 3}}
    on = pool("c7i", {})
    cost, why = hourly_cost(Target(name="t", deployment=deployment, container=container, pool=on))
    assert cost == pytest.approx(3 * 0.8 * 4 / 16)
    assert why == ""
    gpu = pool("g5", {}, resource="nvidia.com/gpu", per_node=1)
    cost, why = hourly_cost(Target(name="t", deployment=deployment, container=container, pool=gpu))
    assert cost is None
    assert "requests no nvidia.com/gpu" in why
    cost, why = hourly_cost(Target(name="t", deployment=deployment, container=container))
    assert cost is None
    assert "no AcceleratorPool" in why
    assert quantity("500m") == 0.5
    assert quantity("1Gi") is None


def test_a_triton_container_by_image_or_command() -> None:
    by_image = {
        "spec": {"containers": [{"name": "a", "image": "nvcr.io/nvidia/tritonserver:24.08"}]}
    }
    by_command = {
        "spec": {
            "containers": [
                {"name": "side", "image": "envoy"},
                {
                    "name": "srv",
                    "image": "my/model:1",
                    "command": ["/opt/tritonserver/bin/tritonserver"],
                },
            ]
        }
    }
    assert triton_container(by_image) == by_image["spec"]["containers"][0]
    assert (triton_container(by_command) or {}).get("name") == "srv"
    assert triton_container({"spec": {"containers": [{"name": "web", "image": "nginx"}]}}) is None


def by_pod(pod: str, value: float, namespace: str = "ml") -> dict[str, Any]:
    return {"metric": {"namespace": namespace, "pod": pod}, "value": [NOW, str(value)]}


def test_pod_results_count_only_the_mapped_pods_for_their_service() -> None:
    queries = promql.pod_queries({}, window="30s")
    assert queries["demand"] == "sum by (namespace, pod) (rate(nv_inference_count[30s]))"
    results = {name: [] for name in promql.DEFAULT_QUERIES} | {
        "demand": [by_pod("t-0", 30.0), by_pod("t-1", 10.0), by_pod("other", 99.0)],
        "p99": [by_pod("t-0", 40e3), by_pod("t-1", 80e3)],
        "age": [by_pod("t-0", 1.0), by_pod("t-1", 1.0)],
    }
    pods = {("ml", "t-0"): ("ml", "bert"), ("ml", "t-1"): ("ml", "bert")}
    observed = promql.pod_observations(results, pods, now=NOW, stale_after=120)
    assert observed[("ml", "bert")].demand_rps == pytest.approx(40.0)
    assert observed[("ml", "bert")].p99_latency_ms == pytest.approx(80.0)
    assert list(observed) == [("ml", "bert")]
    none = promql.pod_observations(results, {("ml", "x"): ("ml", "y")}, now=NOW, stale_after=120)
    assert not none
    assert none.missing is not None
    assert "namespace and pod labels" in none.missing.message


def plan(*allocations: Allocation, limits: tuple[Reason, ...] = (), placed: str = "") -> Plan:
    conditions = (ConditionVerdict(type="Placed", ok=False, reason=placed, message="none fits"),)
    return Plan(
        allocations=allocations,
        actions=(),
        conditions=conditions if placed else (),
        demand_rps=100.0,
        hourly_cost=sum(a.hourly_cost for a in allocations),
        cost_per_million=None,
        state=ServiceState(),
        limits=limits,
    )


def test_no_saving_is_claimed_when_nothing_fits_and_a_shortfall_is_said() -> None:
    assert advise_report.unplaced(plan(placed="NoFeasibleOption")) == (
        "NoFeasibleOption",
        "none fits",
    )
    one = Allocation(
        variant="gpu",
        pool="g6",
        replicas=3,
        batching=BatchConfig(max_batch_size=8, max_queue_delay_us=100),
        hourly_cost=3.0,
        throughput_per_replica=10.0,
    )
    assert advise_report.unplaced(plan(one)) is None
    advice = advise_report.advised(plan(one, limits=(Reason.BUDGET_LIMITED,)), 2.0)
    assert advice["savingPerHour"] == pytest.approx(-1.0)
    assert "costing $1.0000/h more" in advice["message"]
    assert advice["message"].endswith("short of the demand: BudgetLimited")
    assert "BudgetLimited" in advice["reasons"]


async def test_batching_of_an_unreachable_triton_is_unknown_with_the_reason() -> None:
    """A real refused connection: a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    pod = {
        "metadata": {"name": "t-0", "annotations": {"infercost.io/triton-http-port": str(port)}},
        "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    advisor = Advisor(
        reader=NoReader(), metrics=NoMetrics(), settings=Settings(), registry=CollectorRegistry()
    )
    found = await advisor._batching(Target(name="t", container={"name": "t"}, pods=[pod]), "m")
    assert "batching" not in found
    assert found["batchingSource"].startswith(f"unknown: Triton at 127.0.0.1:{port}: ")


class NoReader:
    async def list(self, kind: str, **_: Any) -> list[dict[str, Any]]:
        return []
