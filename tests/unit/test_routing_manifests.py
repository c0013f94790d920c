"""Capacity-weighted routing children (spec.routing; manifests/routing.py), pure: a Service per
Deployment selecting its own pods, an HTTPRoute to the Gateway weighted by capacity, valid for
Kubernetes 1.33 (kubernetes-validate) and for Gateway API's own HTTPRoute CRD (v1.6.1, with
its CEL rules, as the sandbox API server checks it)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError
from tests.integration import objects as o
from tests.support.crdcheck import api_server_errors, pydantic_errors

from infercost import manifests
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig
from infercost.manifests.routing import WEIGHT_RESOLUTION, capacities, weights
from infercost.sandbox.resources import GATEWAY_API_CRD
from infercost.sandbox.validation import Validation

pytestmark = pytest.mark.unit

OWNER = manifests.Owner(name="bert", namespace="ml", uid="u-1")
ROUTING = {"gateway": {"name": "edge", "namespace": "infra", "sectionName": "http"}}
POOLS = {
    p["metadata"]["name"]: AcceleratorPoolSpec.model_validate(p["spec"]) for p in (o.A10G, o.L4)
}


def spec(**extra: Any) -> InferenceServiceSpec:
    return InferenceServiceSpec.model_validate(o.service("bert", o.GPU_VARIANT, **extra)["spec"])


def allocation(pool: str, replicas: int, throughput: float) -> Allocation:
    return Allocation(
        variant="gpu-fp16",
        pool=pool,
        replicas=replicas,
        batching=BatchConfig(max_batch_size=8, max_queue_delay_us=500),
        hourly_cost=1.0,
        throughput_per_replica=throughput,
    )


def build(
    *allocations: Allocation, ready: dict[tuple[str, str], int] | None, routing: Any = ROUTING
) -> dict[tuple[str, str], dict[str, Any]]:
    objects = manifests.children(
        owner=OWNER,
        spec=spec(routing=routing) if routing else spec(),
        pools=POOLS,
        allocations=allocations,
        settings=manifests.ManifestSettings(),
        with_pod_monitor=False,
        ready=ready,
    )
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def backends(children: dict[tuple[str, str], dict[str, Any]]) -> dict[str, int]:
    route = children[("HTTPRoute", "bert")]
    (rule,) = route["spec"]["rules"]
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


def test_weights_follow_each_deployments_capacity() -> None:
    # 3 A10G replicas at 120/s (360/s) and 2 L4 at 300/s (600/s): weights 360:600.
    children = build(
        allocation("g5-xlarge", 3, 120.0),
        allocation("g6-xlarge", 2, 300.0),
        ready={("gpu-fp16", "g5-xlarge"): 3, ("gpu-fp16", "g6-xlarge"): 2},
    )
    weight = backends(children)
    assert weight == {"bert-gpu-fp16-g5-xlarge": 6000, "bert-gpu-fp16-g6-xlarge": 10000}
    route = children[("HTTPRoute", "bert")]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "edge",
            "namespace": "infra",
            "sectionName": "http",
        }
    ]
    assert {ref["port"] for ref in route["spec"]["rules"][0]["backendRefs"]} == {8000}
    assert route["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert ("Service", "bert") in children  # the one Service stays, for other clients


def test_each_deployment_gets_a_service_selecting_its_own_pods() -> None:
    children = build(allocation("g5-xlarge", 1, 100.0), allocation("g6-xlarge", 1, 100.0), ready={})
    for pool in ("g5-xlarge", "g6-xlarge"):
        service = children[("Service", f"bert-gpu-fp16-{pool}")]
        selector = service["spec"]["selector"]
        assert selector == {
            manifests.LABEL_SERVICE: "bert",
            manifests.LABEL_VARIANT: "gpu-fp16",
            manifests.LABEL_POOL: pool,
        }
        template = children[("Deployment", f"bert-gpu-fp16-{pool}")]["spec"]["template"]
        pod_labels = template["metadata"]["labels"]
        assert all(pod_labels[k] == v for k, v in selector.items())  # it selects its pods
        assert service["spec"]["ports"][0] == {
            "name": "http",
            "port": 8000,
            "targetPort": "http",
            "protocol": "TCP",
        }
        body = {k: v for k, v in service.items() if k != "metadata"}
        body["metadata"] = {"name": service["metadata"]["name"], "namespace": "ml"}
        kubernetes_validate.validate(body, "1.33", strict=True)


def test_a_deployment_with_no_ready_replica_gets_weight_zero() -> None:
    # The L4 Deployment is starting (0 of 2 ready): it would queue its share on nothing.
    children = build(
        allocation("g5-xlarge", 2, 100.0),
        allocation("g6-xlarge", 2, 300.0),
        ready={("gpu-fp16", "g5-xlarge"): 2},
    )
    assert backends(children) == {"bert-gpu-fp16-g5-xlarge": 10000, "bert-gpu-fp16-g6-xlarge": 0}


def test_ready_replicas_count_only_up_to_the_planned_ones() -> None:
    # Scaling down from 4 to 1: the 3 leaving are removed from the endpoints, not capacity.
    cap = capacities([allocation("g5-xlarge", 1, 100.0)], {("gpu-fp16", "g5-xlarge"): 4})
    assert cap == {("gpu-fp16", "g5-xlarge"): 100.0}


def test_before_any_replica_is_ready_the_planned_capacities_weigh() -> None:
    cap = capacities(
        [allocation("g5-xlarge", 2, 100.0), allocation("g6-xlarge", 1, 300.0)], ready={}
    )
    assert weights(cap) == {
        ("gpu-fp16", "g5-xlarge"): round(WEIGHT_RESOLUTION * 200 / 300),
        ("gpu-fp16", "g6-xlarge"): WEIGHT_RESOLUTION,
    }


def test_a_small_capacity_keeps_a_positive_weight_and_no_capacity_equal_weights() -> None:
    assert weights({("a", "p"): 1e-9, ("b", "p"): 1000.0}) == {("a", "p"): 1, ("b", "p"): 10000}
    assert weights({("a", "p"): 0.0, ("b", "p"): 0.0}) == {("a", "p"): 1, ("b", "p"): 1}


def test_no_route_without_spec_routing_or_without_gateway_api() -> None:
    one = allocation("g5-xlarge", 2, 100.0)
    without_spec = build(one, ready={("gpu-fp16", "g5-xlarge"): 2}, routing=None)
    without_api = build(one, ready=None)
    for children in (without_spec, without_api):
        assert not any(kind == "HTTPRoute" for kind, _ in children)
        assert [name for kind, name in children if kind == "Service"] == ["bert"]


def test_route_is_valid_for_gateway_apis_own_crd() -> None:
    children = build(
        allocation("g5-xlarge", 3, 120.0),
        allocation("g6-xlarge", 2, 300.0),
        ready={("gpu-fp16", "g5-xlarge"): 3},
        routing=ROUTING | {"hostnames": ["bert.example.com"]},
    )
    validation = Validation()
    validation.register_crd(yaml.safe_load(GATEWAY_API_CRD.read_text()))
    route = children[("HTTPRoute", "bert")]
    checked = validation.check(route, group="gateway.networking.k8s.io", strict="Strict")
    assert checked.warnings == []
    assert checked.obj["spec"]["hostnames"] == ["bert.example.com"]
    bad = yaml.safe_load(yaml.safe_dump(route))
    bad["spec"]["rules"][0]["backendRefs"][0]["weight"] = 1_000_001  # over Gateway API's max
    with pytest.raises(Exception, match="weight"):
        validation.check(bad, group="gateway.networking.k8s.io", strict="Strict")


@pytest.mark.parametrize(
    ("routing", "field", "server"),
    [
        ({}, "routing.gateway", "spec.routing: 'gateway' is a required property"),
        ({"gateway": {"name": "Edge_GW"}}, "routing.gateway.name", "spec.routing.gateway.name:"),
        (
            {"gateway": {"name": "edge", "namespace": "a.b"}},
            "routing.gateway.namespace",
            "spec.routing.gateway.namespace:",
        ),
        (
            {"gateway": {"name": "edge"}, "hostnames": ["HTTP://x"]},
            "routing.hostnames.0",
            "spec.routing.hostnames[0]:",
        ),
        (
            {"gateway": {"name": "edge", "port": 80}},
            "routing.gateway.port",
            'spec.routing.gateway: unknown field "port"',
        ),
    ],
)
def test_bad_routing_is_refused_naming_the_field(
    routing: dict[str, Any], field: str, server: str
) -> None:
    with pytest.raises(ValidationError) as error:
        spec(routing=routing)
    assert field in [".".join(str(p) for p in e["loc"]) for e in error.value.errors()]
    # The API server refuses it too (the CRD's schema), naming the same field.
    refused = api_server_errors(o.service("bert", o.GPU_VARIANT, routing=routing))
    assert any(message.startswith(server) for message in refused), refused


def test_good_routing_is_accepted_by_pydantic_and_the_crd() -> None:
    body = o.service("bert", o.GPU_VARIANT, routing=ROUTING | {"hostnames": ["*.example.com"]})
    assert pydantic_errors(body) == []
    assert api_server_errors(body) == []
