"""examples/advise: the InferenceService is accepted by pydantic, the CRD's schema and every
CEL rule; the user's Deployment validates strictly on Kubernetes 1.30 and 1.33; and the
worked case of docs/advise.md is what the advisor's own steps give for it."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from tests.support.crdcheck import (
    EXAMPLES,
    Example,
    api_server_errors,
    cel_checks,
    load_examples,
    pydantic_errors,
    schema_errors,
    schema_of,
)

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceService
from infercost.controller.advise import decision_input
from infercost.controller.advise_report import advised
from infercost.controller.advise_target import Target, hourly_cost, pool_of, triton_container
from infercost.engine import planner
from infercost.engine.model import Observation, PoolView, ServiceState
from infercost.settings import Settings

pytestmark = pytest.mark.unit

ADVISE = load_examples(EXAMPLES / "advise")
OURS = [e for e in ADVISE if e.body["apiVersion"].startswith("infercost.io/")]
KUBERNETES = [e for e in ADVISE if e not in OURS]
# docs/advise.md, "A worked case": 15,000 inferences/s on the example's 4 x g5.xlarge.
DEMAND = 15_000.0


def test_the_advise_example_is_a_service_and_its_target() -> None:
    assert [(e.kind, e.name) for e in ADVISE] == [
        ("Deployment", "bert-triton"),
        ("InferenceService", "bert-base-advice"),
    ]
    (ours,) = OURS
    assert ours.body["spec"]["mode"] == "Advise"
    assert ours.body["spec"]["advise"]["targetRef"]["name"] == "bert-triton"
    # The same service as examples/services/bert-base.yaml, only advising.
    (cited,) = [e for e in load_examples(EXAMPLES / "services") if e.name == "bert-base"]
    advised = {k: v for k, v in ours.body["spec"].items() if k not in ("mode", "advise")}
    assert advised == cited.body["spec"]


@pytest.mark.parametrize("example", OURS, ids=str)
def test_the_advising_service_passes_pydantic_the_schema_and_every_cel_rule(
    example: Example,
) -> None:
    assert pydantic_errors(example.body) == []
    assert schema_errors(schema_of(example.kind), example.body) == []
    checks = cel_checks(schema_of(example.kind), example.body)
    assert [str(check) for check in checks if not check.passed] == []
    assert api_server_errors(example.body) == []


@pytest.mark.parametrize("version", ["1.30", "1.33"])
@pytest.mark.parametrize("example", KUBERNETES, ids=str)
def test_the_target_deployment_validates_strictly(example: Example, version: str) -> None:
    kubernetes_validate.validate(example.body, version, strict=True)


def example_pools() -> tuple[PoolView, ...]:
    views = []
    for example in load_examples(EXAMPLES / "pools"):
        spec = AcceleratorPoolSpec.model_validate(example.body["spec"])
        labels: dict[str, Any] = example.body["metadata"].get("labels") or {}
        price = spec.pricing.hourly_per_node or 0.0
        views.append(PoolView(name=example.name, labels=labels, spec=spec, hourly_per_node=price))
    return tuple(views)


def test_the_worked_case_of_the_docs() -> None:
    (deployment,) = (e.body for e in KUBERNETES)
    (ours,) = (e.body for e in OURS)
    pools = example_pools()
    template = deployment["spec"]["template"]
    target = Target(
        name="bert-triton",
        deployment=deployment,
        container=triton_container(template) or {},
        pool=pool_of([template["spec"]["nodeSelector"]], pools),  # nodes as the template asks
    )
    current, why = hourly_cost(target)
    assert why == ""
    assert target.pool is not None
    assert (target.pool.name, current) == ("g5-xlarge", pytest.approx(4 * 1.006))
    spec = InferenceService.model_validate(ours).spec
    observation = Observation(time=0.0, demand_rps=DEMAND, p99_latency_ms=12.0)
    plan = planner.decide(decision_input(spec, pools, observation, ServiceState(), 0.0, Settings()))
    advice = advised(plan, current)
    print(advice["message"])
    assert advice["placement"] == [
        {
            "variant": "gpu-trt-int8",
            "pool": "g6-xlarge",
            "replicas": 2,
            "maxBatchSize": 32,
            "maxQueueDelayMicroseconds": 7080,
        }
    ]
    assert advice["hourlyCost"] == pytest.approx(1.6096)
    assert advice["savingPerHour"] == pytest.approx(2.4144)
    assert advice["savingPercent"] == pytest.approx(60.0)
