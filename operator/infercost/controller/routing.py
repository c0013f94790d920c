"""Capacity-weighted routing in the operator (spec.routing; manifests/routing.py).

Owns: whether the cluster serves Gateway API's HTTPRoute (discovery, asked again once per
control interval so a Gateway API installed later is found), whether a service's HTTPRoute is
in place, its RoutingReady condition, and the routing model the engine plans that service
with. Capacities add up only for a service whose HTTPRoute the Gateway accepted (a
`status.parents[]` entry for our Gateway with Accepted=True, which the Gateway's controller
writes): until then the requests still reach the replicas through the Service, in equal
shares per replica. A service without spec.routing is always planned for equal shares (its
one Service is all the operator gives it; docs/install.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from infercost.adapters.kubernetes import RESOURCES, KubeApi
from infercost.adapters.metrics import ServiceKey
from infercost.api.service import InferenceServiceSpec
from infercost.controller.picture import Picture
from infercost.engine.model import ConditionVerdict, EngineSettings, Plan
from infercost.manifests import short_name
from infercost.manifests.common import service_name

ROUTING_READY = "RoutingReady"
NOT_INSTALLED = "GatewayAPINotInstalled"
NOT_ACCEPTED = "RouteNotAccepted"
ACCEPTED = "RouteAccepted"


@dataclass(frozen=True, kw_only=True)
class RouteState:
    """Where a service's HTTPRoute stands; `in_place`: the engine may add capacities up."""

    in_place: bool
    reason: str
    message: str


class GatewayRoutes:
    """The operator's view of Gateway API and of each routed service's HTTPRoute."""

    def __init__(
        self, *, api: KubeApi, picture: Picture, interval: float, clock: Callable[[], float]
    ) -> None:
        self.api, self.picture, self.interval, self.clock = api, picture, interval, clock
        self._served: tuple[float, bool] | None = None

    async def served(self) -> bool:
        """Whether the cluster serves HTTPRoutes (gateway.networking.k8s.io/v1)."""
        now = self.clock()
        if self._served is None or now - self._served[0] >= self.interval:
            self._served = (now, await self.api.has_resource(*RESOURCES["HTTPRoute"]))
        return self._served[1]

    async def state(self, key: ServiceKey, spec: InferenceServiceSpec) -> RouteState | None:
        """The route's state; None for a service without spec.routing."""
        if spec.routing is None:
            return None
        live = self._live_route(key)
        if live is None and not await self.served():
            return RouteState(
                in_place=False,
                reason=NOT_INSTALLED,
                message=(
                    "the cluster serves no gateway.networking.k8s.io/v1 HTTPRoute (install "
                    "Gateway API): planned for equal shares per replica through the Service"
                ),
            )
        gateway = spec.routing.gateway
        accepted = _accepted(
            live,
            name=gateway.name,
            namespace=gateway.namespace or key[0],
            section=gateway.section_name,
        )
        where = f"Gateway {gateway.namespace or key[0]}/{gateway.name}"
        if accepted is True:
            return RouteState(
                in_place=True,
                reason=ACCEPTED,
                message=f"{where} accepted the HTTPRoute: backends weighted by capacity",
            )
        detail = accepted if isinstance(accepted, str) else "no Accepted=True from it yet"
        return RouteState(
            in_place=False,
            reason=NOT_ACCEPTED,
            message=f"{where}: {detail}; planned for equal shares per replica meanwhile",
        )

    def _live_route(self, key: ServiceKey) -> Mapping[str, Any] | None:
        """The service's HTTPRoute as the watch last delivered it. One seen is proof that
        HTTPRoutes are served: a discovery call that failed (has_resource answers False on
        any error) must not delete a route the Gateway carries traffic on."""
        body = self.picture.services.get(key) or {}
        uid = str((body.get("metadata") or {}).get("uid") or "")
        return self.picture.children.owned(key[0], uid).get(("HTTPRoute", service_name(key[1])))

    async def engine_settings(
        self, key: ServiceKey, spec: InferenceServiceSpec, settings: EngineSettings
    ) -> EngineSettings:
        """The settings the engine plans this service with (its routing model)."""
        state = await self.state(key, spec)
        if state is None:
            return settings
        return replace(settings, equal_share_routing=not state.in_place)

    async def with_condition(self, key: ServiceKey, spec: InferenceServiceSpec, plan: Plan) -> Plan:
        """The plan with a RoutingReady condition for a service with spec.routing."""
        state = await self.state(key, spec)
        if state is None:
            return plan
        verdict = ConditionVerdict(
            type=ROUTING_READY, ok=state.in_place, reason=state.reason, message=state.message
        )
        return replace(plan, conditions=(*plan.conditions, verdict))

    async def ready(
        self, key: ServiceKey, spec: InferenceServiceSpec
    ) -> dict[tuple[str, str], int] | None:
        """Ready replicas per (variant, pool) for the route's weights; None: write no route."""
        if spec.routing is None:
            return None
        if self._live_route(key) is None and not await self.served():
            return None
        current = self.picture.current(key)  # keyed by the variant label (its short name)
        by_short = {(variant, pool): d.ready_replicas for (variant, pool), d in current.items()}
        names = {short_name(v.name): v.name for v in spec.variants}
        return {(names.get(v, v), pool): count for (v, pool), count in by_short.items()}


def _accepted(
    route: Mapping[str, Any] | None, *, name: str, namespace: str, section: str | None
) -> bool | str | None:
    """True where the route's status says our Gateway accepted it; the Gateway's reason and
    message where it refused (Accepted=False); None where it has not said."""
    if route is None:
        return "the HTTPRoute is not written yet"
    own_namespace = route.get("metadata", {}).get("namespace")
    for parent in (route.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if (
            ref.get("name") != name
            or (ref.get("namespace") or own_namespace) != namespace
            or ref.get("sectionName") != section
            or ref.get("kind", "Gateway") != "Gateway"
        ):
            continue
        for condition in parent.get("conditions") or []:
            if condition.get("type") == "Accepted":
                if condition.get("status") == "True":
                    return True
                return f"not accepted ({condition.get('reason')}: {condition.get('message')})"
    return None
