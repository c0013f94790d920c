"""Where a service's HTTPRoute stands (controller/routing.py): the Gateway's Accepted condition
for our parentRef decides the routing model, and a route the watch delivered keeps being
written when a discovery call fails.

The Kubernetes API here is a stub with `has_resource` only (a FAKE): discovery answering
False while the HTTPRoute is served and watched is a transient fault the sandbox API server
cannot produce (its discovery of a registered resource does not fail on request).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from tests.integration import objects as o

from infercost.adapters.kubernetes import KubeApi
from infercost.api.service import InferenceServiceSpec
from infercost.controller.picture import Picture
from infercost.controller.routing import ACCEPTED, NOT_ACCEPTED, NOT_INSTALLED, GatewayRoutes
from infercost.engine.model import EngineSettings

pytestmark = pytest.mark.unit

KEY = (o.NS, "bert")
SPEC = InferenceServiceSpec.model_validate(
    o.service("bert", o.GPU_VARIANT, routing={"gateway": {"name": "edge", "sectionName": "http"}})[
        "spec"
    ]
)


class Discovery:
    """FAKE: answers has_resource with `served`, counting the calls."""

    def __init__(self, served: bool) -> None:
        self.served, self.calls = served, 0

    async def has_resource(self, api_version: str, plural: str) -> bool:
        self.calls += 1
        return self.served and (api_version, plural) == (
            "gateway.networking.k8s.io/v1",
            "httproutes",
        )


def routes(served: bool, parents: list[dict[str, Any]] | None = None) -> GatewayRoutes:
    picture = Picture()
    picture.service_seen({"metadata": {"name": "bert", "namespace": o.NS, "uid": "u-1"}})
    if parents is not None:
        owner = {"apiVersion": "infercost.io/v1alpha1", "kind": "InferenceService", "uid": "u-1"}
        route = {
            "metadata": {"name": "bert", "namespace": o.NS, "ownerReferences": [owner]},
            "spec": {},
            "status": {"parents": parents},
        }
        picture.children.seen("HTTPRoute", route)
    api = cast(KubeApi, Discovery(served))
    return GatewayRoutes(api=api, picture=picture, interval=15.0, clock=lambda: 0.0)


def parent(*, section: str | None = "http", status: str = "True", name: str = "edge") -> Any:
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
    if section:
        ref["sectionName"] = section
    condition = {"type": "Accepted", "status": status, "reason": "NotAllowedByListeners"}
    return {"parentRef": ref, "controllerName": "x/y", "conditions": [condition]}


async def test_accepted_by_our_gateway_adds_capacities_up() -> None:
    state = await routes(True, [parent()]).state(KEY, SPEC)
    assert state is not None
    assert (state.in_place, state.reason) == (True, ACCEPTED)
    settings = await routes(True, [parent()]).engine_settings(KEY, SPEC, EngineSettings())
    assert settings.equal_share_routing is False


@pytest.mark.parametrize(
    "parents",
    [
        [],  # the Gateway has not said yet
        [parent(section=None)],  # another listener's entry (no sectionName) is not ours
        [parent(name="other")],  # another Gateway accepted it
        [parent(status="False")],  # ours refused it
    ],
)
async def test_anything_but_our_acceptance_plans_equal_shares(parents: list[Any]) -> None:
    state = await routes(True, parents).state(KEY, SPEC)
    assert state is not None
    assert (state.in_place, state.reason) == (False, NOT_ACCEPTED)
    settings = await routes(True, parents).engine_settings(KEY, SPEC, EngineSettings())
    assert settings.equal_share_routing is True


async def test_a_refusal_names_the_gateways_reason() -> None:
    state = await routes(True, [parent(status="False")]).state(KEY, SPEC)
    assert state is not None
    assert "NotAllowedByListeners" in state.message


async def test_no_gateway_api_no_route_and_the_condition_says_so() -> None:
    unserved = routes(False)
    state = await unserved.state(KEY, SPEC)
    assert state is not None
    assert (state.in_place, state.reason) == (False, NOT_INSTALLED)
    assert await unserved.ready(KEY, SPEC) is None  # nothing to write


async def test_a_failed_discovery_does_not_drop_a_route_the_watch_delivered() -> None:
    live = routes(False, [parent()])  # discovery says no, but the route is there and watched
    assert await live.ready(KEY, SPEC) == {}
    state = await live.state(KEY, SPEC)
    assert state is not None
    assert state.reason == ACCEPTED


async def test_discovery_is_asked_once_per_interval() -> None:
    clock = [0.0]
    picture = Picture()
    discovery = Discovery(False)
    gateway = GatewayRoutes(
        api=cast(KubeApi, discovery), picture=picture, interval=15.0, clock=lambda: clock[0]
    )
    for _ in range(3):
        assert await gateway.served() is False
    assert discovery.calls == 1
    discovery.served, clock[0] = True, 15.0  # Gateway API installed since
    assert await gateway.served() is True
    assert discovery.calls == 2


async def test_a_service_without_routing_keeps_the_operator_wide_setting() -> None:
    plain = InferenceServiceSpec.model_validate(o.service("bert", o.GPU_VARIANT)["spec"])
    wide = EngineSettings(equal_share_routing=False)
    assert await routes(True).engine_settings(KEY, plain, wide) is wide
    assert await routes(True).state(KEY, plain) is None
