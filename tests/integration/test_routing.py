"""Capacity-weighted routing (spec.routing) against the sandbox API server serving Gateway API's
HTTPRoute (validated with its real v1.6.1 CRD, CEL rules included): the HTTPRoute and a Service
per Deployment are written, re-weighted when the plan and readiness change, the engine adds
capacities up once the Gateway accepted the route, and everything routed is deleted when
spec.routing is removed. Without Gateway API the service reports GatewayAPINotInstalled and
is planned for equal shares.

No Gateway controller runs here (the stand-in runs no controllers): the test writes the
route's `status.parents` Accepted=True itself, as a Gateway implementation does. Metrics are
FAKE (adapters/fake_metrics.py): the test sets demand directly.
"""

from __future__ import annotations

from typing import Any

import pytest

from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import EngineSettings
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import Operator, OperatorFactory, call, eventually
from tests.integration.test_control_loop import make_ready, replicas_by_pool
from tests.integration.test_drift import settled
from tests.integration.test_placement import condition, status_of

pytestmark = pytest.mark.integration

ROUTES = f"/apis/gateway.networking.k8s.io/v1/namespaces/{o.NS}/httproutes"
SERVICES = f"/api/v1/namespaces/{o.NS}/services"
ROUTING = {"gateway": {"name": "edge", "sectionName": "http"}}


async def route_weights(api: ApiServer, name: str = "bert") -> dict[str, int] | None:
    listed = (await call(api, "GET", ROUTES))["items"]
    route = next((r for r in listed if r["metadata"]["name"] == name), None)
    if route is None:
        return None
    (rule,) = route["spec"]["rules"]
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


async def service_names(api: ApiServer) -> set[str]:
    return {s["metadata"]["name"] for s in (await call(api, "GET", SERVICES))["items"]}


async def routing_condition(api: ApiServer, name: str = "bert") -> dict[str, Any] | None:
    status = await status_of(api, name)
    found = [c for c in status.get("conditions", []) if c["type"] == "RoutingReady"]
    return found[0] if found else None


async def accept(api: ApiServer, name: str = "bert") -> None:
    """Play the Gateway's controller: it accepted the route (HTTPRoute status.parents)."""
    condition = {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "attached to listener http",
        "lastTransitionTime": "2026-12-06T16:00:00Z",
    }
    parent = {
        "parentRef": {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "edge",
            "sectionName": "http",
        },
        "controllerName": "example.com/gateway-controller",
        "conditions": [condition],
    }
    await call(api, "PATCH", f"{ROUTES}/{name}/status", {"status": {"parents": [parent]}})


async def routed_service(api: ApiServer, start_operator: OperatorFactory) -> Operator:
    """bert with spec.routing, placed on the L4 pool, its replicas ready, the route accepted."""
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT, routing=ROUTING))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), what="first placement")
    assert set(placed) == {"g6-xlarge"}
    weights = await eventually(lambda: route_weights(api), what="the HTTPRoute")
    assert weights == {"bert-gpu-fp16-g6-xlarge": 10000}
    assert {"bert", "bert-gpu-fp16-g6-xlarge"} <= await service_names(api)
    pending = await eventually(lambda: routing_condition(api), what="RoutingReady")
    assert (pending["status"], pending["reason"]) == ("False", "RouteNotAccepted")
    await make_ready(api, "bert")
    await accept(api)

    async def accepted() -> bool:
        found = await routing_condition(api)
        return bool(found and found["status"] == "True")

    await eventually(accepted, what="RoutingReady=True once the Gateway accepted the route")
    assert (await routing_condition(api) or {})["reason"] == "RouteAccepted"
    await settled(api, operator)  # a steady route is not written again (no write per round)
    return operator


@pytest.mark.apiserver(gateway_api=True)
async def test_route_weighted_reweighted_and_removed_with_spec_routing(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    operator = await routed_service(api, start_operator)
    key = (o.NS, "bert")
    spec = InferenceServiceSpec.model_validate(
        o.service("bert", o.GPU_VARIANT, routing=ROUTING)["spec"]
    )
    planned = await operator.reconciler.routes.engine_settings(key, spec, EngineSettings())
    assert planned.equal_share_routing is False  # capacities add up behind the accepted route

    # L4 becomes expensive: replicas move to A10G. The new Deployment's backend joins the
    # route at weight 0 while none of its replicas is ready, then weighs its capacity.
    await call(api, "PATCH", f"{o.POOLS}/g6-xlarge", {"spec": {"pricing": {"hourlyPerNode": 4.0}}})

    async def joined() -> dict[str, int] | None:
        weights = await route_weights(api)
        return weights if weights and "bert-gpu-fp16-g5-xlarge" in weights else None

    during = await eventually(joined, what="the new Deployment's backend in the route")
    assert during["bert-gpu-fp16-g5-xlarge"] == 0
    assert during["bert-gpu-fp16-g6-xlarge"] > 0
    await make_ready(api, "bert")

    async def moved() -> dict[str, int] | None:
        weights = await route_weights(api)
        return weights if weights == {"bert-gpu-fp16-g5-xlarge": 10000} else None

    await eventually(moved, what="the route re-weighted to the A10G Deployment alone")
    assert "bert-gpu-fp16-g6-xlarge" not in await service_names(api)

    # spec.routing removed: the route and the per-Deployment Services go, the Service stays.
    await call(api, "PATCH", f"{o.ISVC}/bert", {"spec": {"routing": None}})

    async def unrouted() -> bool:
        return await route_weights(api) is None and await service_names(api) == {"bert"}

    await eventually(unrouted, what="the HTTPRoute and per-Deployment Services deleted")
    await eventually(
        lambda: _no_routing_condition(api), what="RoutingReady dropped from the status"
    )
    plain = await operator.reconciler.routes.engine_settings(
        key, spec.model_copy(update={"routing": None}), EngineSettings()
    )
    assert plain.equal_share_routing is True


async def _no_routing_condition(api: ApiServer) -> bool:
    return await routing_condition(api) is None


@pytest.mark.apiserver(gateway_api=False)
async def test_without_gateway_api_the_service_reports_it_and_plans_equal_shares(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.L4)
    await call(api, "POST", o.ISVC, o.service("bert", o.GPU_VARIANT, routing=ROUTING))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    await eventually(lambda: replicas_by_pool(api, "bert"), what="placement despite no route")
    found = await eventually(lambda: routing_condition(api), what="RoutingReady")
    assert (found["status"], found["reason"]) == ("False", "GatewayAPINotInstalled")
    assert "Gateway API" in found["message"]
    assert condition(await status_of(api, "bert"), "Placed")["status"] == "True"
    assert await service_names(api) == {"bert"}  # no per-Deployment Service without a route
    spec = InferenceServiceSpec.model_validate(
        o.service("bert", o.GPU_VARIANT, routing=ROUTING)["spec"]
    )
    planned = await operator.reconciler.routes.engine_settings(
        (o.NS, "bert"), spec, EngineSettings()
    )
    assert planned.equal_share_routing is True


async def routing_workload(api: ApiServer, start_operator: OperatorFactory) -> None:
    """The RBAC test's workload for httproutes (list, watch, create, patch, delete): a routed
    service placed on whatever pool is cheapest, its route accepted, then routing removed and
    the service deleted. Creates the pools it needs where they are missing."""
    pools = {p["metadata"]["name"] for p in (await call(api, "GET", o.POOLS))["items"]}
    for pool in (o.L4, o.A10G):
        if pool["metadata"]["name"] not in pools:
            await call(api, "POST", o.POOLS, pool)
    await call(api, "POST", o.ISVC, o.service("routed", o.GPU_VARIANT, routing=ROUTING))
    operator = await start_operator()
    operator.load(o.NS, "routed", rps=4000.0, p99_ms=8.0)  # FAKE metrics
    await eventually(lambda: route_weights(api, "routed"), what="the HTTPRoute")
    await accept(api, "routed")

    async def accepted() -> bool:
        found = await routing_condition(api, "routed")
        return bool(found and found["status"] == "True")

    await eventually(accepted, what="RoutingReady=True")
    await call(api, "PATCH", f"{o.ISVC}/routed", {"spec": {"routing": None}})

    async def unrouted() -> bool:
        return await route_weights(api, "routed") is None

    await eventually(unrouted, what="the HTTPRoute deleted")
    await call(api, "DELETE", f"{o.ISVC}/routed")

    async def gone() -> bool:
        listed = await call(api, "GET", o.ISVC)
        return all(item["metadata"]["name"] != "routed" for item in listed["items"])

    await eventually(gone, what="the service deleted")
    await operator.stop()
