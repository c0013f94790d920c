"""Every example is accepted by pydantic, by the CRD's schema and by its CEL rules; its figures
are the cited ones."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.support.crdcheck import (
    DATA,
    EXAMPLES,
    Example,
    api_server_errors,
    cel_checks,
    load_crds,
    load_examples,
    pydantic_errors,
    schema_errors,
    schema_of,
    walk_schema,
)

from infercost.api.v1alpha1 import AcceleratorPool, InferenceService

pytestmark = pytest.mark.unit

# The folders `make demo` plans: our kinds only. Other example folders hold other kinds
# (examples/argocd: Argo CD Applications, checked by tests/chart).
EXAMPLE_DOCS = load_examples(EXAMPLES / "pools") + load_examples(EXAMPLES / "services")
# examples/serving: services with spec.pod (IRSA, Workload Identity, a PVC, a private
# registry) beside the Kubernetes objects they need (tests/unit/test_serving_examples.py).
SERVING_DOCS = [
    e for e in load_examples(EXAMPLES / "serving") if e.body["apiVersion"].startswith("infercost")
]
# examples/budgets: BudgetPolicies over the services above (docs/budgets.md).
BUDGET_DOCS = load_examples(EXAMPLES / "budgets")


def test_examples_exist_in_the_folders_make_demo_plans() -> None:
    kinds = {(example.path.parent.name, example.kind) for example in EXAMPLE_DOCS}
    assert kinds == {("pools", "AcceleratorPool"), ("services", "InferenceService")}


@pytest.mark.parametrize("example", EXAMPLE_DOCS + BUDGET_DOCS, ids=str)
def test_example_is_accepted_by_pydantic(example: Example) -> None:
    assert pydantic_errors(example.body) == []


@pytest.mark.parametrize("example", EXAMPLE_DOCS + BUDGET_DOCS, ids=str)
def test_example_is_accepted_by_the_crd_schema(example: Example) -> None:
    assert schema_errors(schema_of(example.kind), example.body) == []


@pytest.mark.parametrize("example", EXAMPLE_DOCS + BUDGET_DOCS, ids=str)
def test_example_passes_every_cel_rule_at_every_node(example: Example) -> None:
    checks = cel_checks(schema_of(example.kind), example.body)
    assert checks, "no rule was evaluated: the walk missed the rules"
    assert [str(check) for check in checks if not check.passed] == []
    assert api_server_errors(example.body) == []


def test_examples_exercise_every_cel_rule_of_every_crd() -> None:
    declared = {
        (kind, rule["rule"])
        for kind in load_crds()
        for _, node in walk_schema(schema_of(kind))
        for rule in node.get("x-kubernetes-validations", [])
    }
    evaluated = {
        (example.kind, check.rule)
        for example in EXAMPLE_DOCS + SERVING_DOCS + BUDGET_DOCS
        for check in cel_checks(schema_of(example.kind), example.body)
    }
    assert declared, "the CRDs declare no CEL rule"
    assert declared <= evaluated


def test_budget_examples_are_budget_policies_over_the_example_services() -> None:
    kinds = {example.kind for example in BUDGET_DOCS}
    assert kinds == {"BudgetPolicy"}
    namespaces = {e.body["metadata"].get("namespace") for e in EXAMPLE_DOCS}
    for example in BUDGET_DOCS:
        assert set(example.body["spec"]["selector"]["namespaces"]) <= namespaces


def test_rules_inside_arrays_run_once_per_element() -> None:
    (bert,) = [e for e in EXAMPLE_DOCS if e.name == "bert-base"]
    variant_rule = [
        c for c in cel_checks(schema_of("InferenceService"), bert.body) if "profile" in c.rule
    ]
    assert [c.path for c in variant_rule] == ["spec.variants[0]", "spec.variants[1]"]


def _services() -> list[InferenceService]:
    return [
        InferenceService.model_validate(e.body)
        for e in EXAMPLE_DOCS
        if e.kind == "InferenceService"
    ]


def _pools() -> dict[str, AcceleratorPool]:
    pools = [
        AcceleratorPool.model_validate(e.body) for e in EXAMPLE_DOCS if e.kind == "AcceleratorPool"
    ]
    return {pool.metadata.name: pool for pool in pools}


def test_pools_cover_the_accelerators_and_capacity_types_of_the_issue() -> None:
    seen = {(p.spec.accelerator.type, p.spec.capacity_type.value) for p in _pools().values()}
    assert seen >= {
        ("inferentia2", "OnDemand"),
        ("inferentia2", "Spot"),
        ("nvidia-t4", "OnDemand"),
        ("nvidia-a10g", "OnDemand"),
        ("nvidia-l4", "OnDemand"),
        ("cpu", "OnDemand"),
    }


def test_services_cover_models_variants_budget_and_spot_share() -> None:
    services = {s.metadata.name: s for s in _services()}
    assert set(services) >= {"bert-base", "resnet50"}
    for service in services.values():
        types = {t for v in service.spec.variants for t in v.accelerator_types}
        assert "inferentia2" in types
        assert types & {"nvidia-t4", "nvidia-a10g", "nvidia-l4"}
    assert any(s.spec.budget is not None for s in services.values())
    assert any(s.spec.placement.max_spot_fraction < 1 for s in services.values())


def test_every_service_can_be_placed_on_some_example_pool() -> None:
    pool_types = {pool.spec.accelerator.type for pool in _pools().values()}
    for service in _services():
        for variant in service.spec.variants:
            assert set(variant.accelerator_types) <= pool_types, variant.name


def _data(name: str) -> dict[str, Any]:
    path = DATA / name
    assert path.exists(), f"{path} is missing: the examples cite it (data/ of the repository)"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


# Pool -> (instance in prices.yaml, the figure it cites). c7i-2xlarge-cpu cites a price that
# prices.yaml does not list (see its header comment), so it has no row here.
CITED_PRICES = {
    "inf2-xlarge-ondemand": ("inf2.xlarge", "on_demand_usd_hr"),
    "inf2-xlarge-spot": ("inf2.xlarge", "spot.median_usd_hr"),
    "g4dn-xlarge": ("g4dn.xlarge", "on_demand_usd_hr"),
    "g5-xlarge": ("g5.xlarge", "on_demand_usd_hr"),
    "g6-xlarge": ("g6.xlarge", "on_demand_usd_hr"),
}


@pytest.mark.parametrize(("pool", "cited"), CITED_PRICES.items())
def test_pool_price_is_the_cited_figure(pool: str, cited: tuple[str, str]) -> None:
    instance, key = cited
    (row,) = [
        r
        for r in _data("prices.yaml")["instances"]
        if r["provider"] == "aws" and r["instance"] == instance
    ]
    for part in key.split("."):
        row = row[part]
    assert _pools()[pool].spec.pricing.hourly_per_node == row


def test_published_profile_points_are_the_cited_figures() -> None:
    published = {
        (r["model"], r["batch_size"]): (r["throughput"], r["latency_p99_ms"])
        for r in _data("throughput.yaml")["results"]
        if r.get("instance") == "inf2.xlarge"
    }
    models = {"bert-base": "bert-base-uncased (seq 128)", "resnet50": "resnet50 (224x224)"}
    for service in _services():
        (neuron,) = [v for v in service.spec.variants if v.accelerator_types == ["inferentia2"]]
        for point in neuron.profile:
            key = (models[service.metadata.name], point.batch_size)
            assert published[key] == (point.throughput, point.p99_latency_ms)


def test_every_derived_figure_is_explained_in_its_file() -> None:
    for path in (EXAMPLES / "services").glob("*.yaml"):
        text = path.read_text()
        if "nvidia-" in text:
            assert "derived" in text.lower(), path
            assert "p99 = 2 x" in text, path
