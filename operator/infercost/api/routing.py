"""Routing: capacity-weighted routing through a Gateway API Gateway (spec.routing).

Absent, requests reach the replicas through the one Kubernetes Service, in equal shares per
replica. Set, the operator also writes one Service per Deployment and an HTTPRoute attached
to the Gateway named here, its backends weighted by each Deployment's capacity
(manifests/routing.py), and plans with capacities that add up once the Gateway accepts it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from infercost.api.common import DNS_SUBDOMAIN_PATTERN, DnsLabel, Model

# Gateway API's ObjectName, SectionName and Hostname (apis/v1/shared_types.go, v1.6).
ObjectName = Annotated[
    str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)
]
Hostname = Annotated[
    str,
    StringConstraints(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        min_length=1,
        max_length=253,
    ),
]


class GatewayRef(Model):
    """The Gateway the service's HTTPRoute attaches to (an HTTPRoute parentRef)."""

    name: ObjectName = Field(description="Name of the Gateway (gateway.networking.k8s.io).")
    namespace: DnsLabel | None = Field(
        default=None,
        description=(
            "Namespace of the Gateway; empty: the service's own. A Gateway in another "
            "namespace must allow routes from this one (its listeners' allowedRoutes)."
        ),
    )
    section_name: ObjectName | None = Field(
        default=None,
        description="Listener of the Gateway to attach to; empty: every listener that allows it.",
    )


class Routing(Model):
    """Requests weighted by capacity through a Gateway (Gateway API HTTPRoute); HTTP only."""

    gateway: GatewayRef = Field(description="The Gateway that carries the service's traffic.")
    hostnames: list[Hostname] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Host names the route matches (HTTPRoute spec.hostnames); empty: every host name "
            "of the listener. Give each service its own host name or listener."
        ),
    )
