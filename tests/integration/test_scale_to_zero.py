"""Scale to zero in the operator (issue 22, controller/zero.py, manifests/activator.py), against
the stand-in API server: an idle service goes to zero and its Service points at an activator;
a wake request (the activator's annotation) starts a replica; once it is ready the Service
points at the replicas again and the activator goes.

Metrics come from
the FAKE metrics source (adapters/fake_metrics.py): at zero no pod runs, so no series. kmock
runs no Deployment controller: tests report replicas ready (`ready`).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import Operator, OperatorFactory, call, eventually
from tests.integration.test_placement import status_of

pytestmark = pytest.mark.integration
ACTIVATOR_LABEL = "infercost.io/activator"
SERVICES = f"/api/v1/namespaces/{o.NS}/services"
WAKE = "infercost.io/wake-requested"


def stamp(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def triton_deployments(api: ApiServer, service: str) -> dict[str, dict[str, Any]]:
    """The service's Triton Deployments (not its activator), by name."""
    params = f"?labelSelector=infercost.io/service={service}"
    listed = await call(api, "GET", f"{o.DEPLOYMENTS}{params}")
    return {
        d["metadata"]["name"]: d
        for d in listed["items"]
        if ACTIVATOR_LABEL not in d["metadata"]["labels"]
    }


async def activator(api: ApiServer, service: str) -> dict[str, Any] | None:
    listed = await call(api, "GET", o.DEPLOYMENTS)
    found = [d for d in listed["items"] if d["metadata"]["name"] == f"{service}-activator"]
    return found[0] if found else None


async def selector(api: ApiServer, name: str) -> dict[str, str]:
    return dict((await call(api, "GET", f"{SERVICES}/{name}"))["spec"]["selector"])


async def ready(api: ApiServer, deployment: dict[str, Any]) -> None:
    """Play the Deployment controller: every replica of `deployment` ready."""
    want = deployment["spec"]["replicas"]
    await call(
        api,
        "PATCH",
        f"{o.DEPLOYMENTS}/{deployment['metadata']['name']}/status",
        {"status": {"replicas": want, "readyReplicas": want}},
    )


async def condition(api: ApiServer, service: str, type_: str) -> dict[str, Any]:
    found = [c for c in (await status_of(api, service)).get("conditions", []) if c["type"] == type_]
    return found[0] if found else {}


async def on_replicas(api: ApiServer, name: str = "bert") -> bool:
    return await selector(api, name) == {"infercost.io/service": name}


async def a_service_at_zero(
    api: ApiServer, start_operator: OperatorFactory, name: str = "bert", **settings: Any
) -> Operator:
    """`name` (minReplicas 0, idleSeconds 2) placed, served, then idle until at zero."""
    pools = {p["metadata"]["name"] for p in (await call(api, "GET", o.POOLS))["items"]}
    if o.INF2["metadata"]["name"] not in pools:  # (test_rbac.py's workloads share a server)
        await call(api, "POST", o.POOLS, o.INF2)
    body = o.service(name, o.NEURON_VARIANT)
    body["spec"]["scaling"] |= {"minReplicas": 0, "idleSeconds": 2}
    # A wake requested long before the service goes to zero: it must not wake it.
    old = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=30)
    body["metadata"]["annotations"] = {WAKE: stamp(old)}
    await call(api, "POST", o.ISVC, body)
    operator = await start_operator(**settings)
    operator.load(o.NS, name, rps=1000.0, p99_ms=5.0)  # FAKE metrics
    placed = await eventually(lambda: triton_deployments(api, name), what="first placement")
    for deployment in placed.values():
        await ready(api, deployment)
    await eventually(lambda: on_replicas(api, name), what="the Service on the ready replicas")
    operator.load(o.NS, name, rps=0.0, p99_ms=None)  # FAKE metrics: no demand

    async def at_zero() -> bool:
        return not await triton_deployments(api, name)

    await eventually(at_zero, what="the last replica gone after idleSeconds")
    operator.metrics.set(o.NS, name, None)  # no pod, no series
    return operator


async def test_an_idle_service_goes_to_zero_behind_an_activator_that_a_wake_request_replaces(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    operator = await a_service_at_zero(api, start_operator, activator_linger_seconds=0)
    placed = await condition(api, "bert", "Placed")
    assert (placed["status"], placed["reason"]) == ("True", "ScaledToZero")
    # The stable Service points at the activator; the activator reaches the replicas through
    # a Service of their own; it may get and patch the InferenceService.
    assert await selector(api, "bert") == {ACTIVATOR_LABEL: "bert"}
    assert await selector(api, "bert-replicas") == {"infercost.io/service": "bert"}
    held = await eventually(lambda: activator(api, "bert"), what="the activator Deployment")
    (container,) = held["spec"]["template"]["spec"]["containers"]
    assert container["args"][:4] == [
        "activator",
        "--service=bert",
        f"--namespace={o.NS}",
        f"--backend=bert-replicas.{o.NS}.svc",
    ]
    assert held["spec"]["template"]["metadata"]["labels"][ACTIVATOR_LABEL] == "bert"
    assert "infercost.io/service" not in held["spec"]["template"]["metadata"]["labels"]
    assert held["spec"]["template"]["spec"]["serviceAccountName"] == "bert-activator"
    binding = await call(
        api,
        "GET",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{o.NS}/rolebindings/bert-activator",
    )
    assert binding["roleRef"]["name"] == "infercost-activator"
    assert binding["subjects"][0]["name"] == "bert-activator"

    # Ready only once the activator can hold requests.
    before = await condition(api, "bert", "Ready")
    assert (before["status"], before["reason"]) == ("False", "ActivatorNotReady"), before
    await ready(api, held)

    async def ready_at_zero() -> bool:
        now = await condition(api, "bert", "Ready")
        return (now.get("status"), now.get("reason")) == ("True", "ScaledToZero")

    await eventually(ready_at_zero, what="Ready=True ScaledToZero once the activator is ready")
    await operator.rounds_pass(o.NS, "bert", count=3)  # the old wake request wakes nothing
    assert await triton_deployments(api, "bert") == {}

    # A request arrives: the activator asks for a wake; a replica starts.
    now = stamp(datetime.datetime.now(tz=datetime.UTC))
    await call(api, "PATCH", f"{o.ISVC}/bert", {"metadata": {"annotations": {WAKE: now}}})
    woken = await eventually(lambda: triton_deployments(api, "bert"), what="a replica woken")
    assert sum(d["spec"]["replicas"] for d in woken.values()) >= 1
    placed = await condition(api, "bert", "Placed")
    assert placed["reason"] == "WokenFromZero", placed
    # Starting, not ready: requests still go to the activator, which holds them.
    assert await selector(api, "bert") == {ACTIVATOR_LABEL: "bert"}
    assert await activator(api, "bert") is not None
    operator.load(o.NS, "bert", rps=5.0, p99_ms=5.0)  # FAKE metrics: the held requests served
    for deployment in woken.values():
        await ready(api, deployment)

    await eventually(lambda: on_replicas(api), what="the Service back on the replicas")

    async def activator_gone() -> bool:
        return await activator(api, "bert") is None

    await eventually(activator_gone, what="the activator gone (no linger)")


async def test_a_wake_request_no_option_can_serve_says_why_and_starts_nothing(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    operator = await a_service_at_zero(api, start_operator)
    # The only pool no longer takes replicas: a wake cannot start one.
    await call(
        api, "PATCH", f"{o.POOLS}/{o.INF2['metadata']['name']}", {"spec": {"maxReplicas": 0}}
    )
    await operator.rounds_pass(o.NS, "bert", count=2)
    now = stamp(datetime.datetime.now(tz=datetime.UTC))
    await call(api, "PATCH", f"{o.ISVC}/bert", {"metadata": {"annotations": {WAKE: now}}})

    async def refused() -> dict[str, Any] | None:
        placed = await condition(api, "bert", "Placed")
        return placed if placed.get("status") == "False" else None

    placed = await eventually(refused, what="Placed=False with the reason")
    assert placed["reason"] in {"NoFeasibleOption", "BudgetLimited"}, json.dumps(placed)
    assert await triton_deployments(api, "bert") == {}
    assert await selector(api, "bert") == {ACTIVATOR_LABEL: "bert"}


async def test_after_a_restart_at_zero_the_service_stays_at_zero_and_a_wake_still_wakes_it(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    """The operator's memory of zero is rebuilt from the status (`Placed` ScaledToZero): the
    wake annotation older than the service's placement wakes nothing; one stamped while at
    zero (before the restart) wakes it, and the activator lingers
    (INFERCOST_ACTIVATOR_LINGER_SECONDS) once the replica is ready."""
    operator = await a_service_at_zero(api, start_operator)
    now = stamp(datetime.datetime.now(tz=datetime.UTC))
    await eventually(lambda: activator(api, "bert"), what="the activator Deployment")
    await operator.stop()
    restarted = await start_operator(activator_linger_seconds=3600)
    await restarted.rounds_pass(o.NS, "bert", count=3)
    assert await triton_deployments(api, "bert") == {}  # no metrics, old wake: stays at zero
    assert await selector(api, "bert") == {ACTIVATOR_LABEL: "bert"}
    placed = await condition(api, "bert", "Placed")
    assert placed["reason"] == "ScaledToZero", placed

    await call(api, "PATCH", f"{o.ISVC}/bert", {"metadata": {"annotations": {WAKE: now}}})
    woken = await eventually(lambda: triton_deployments(api, "bert"), what="a replica woken")
    restarted.load(o.NS, "bert", rps=5.0, p99_ms=5.0)  # FAKE metrics: the held requests served
    for deployment in woken.values():
        await ready(api, deployment)
    await eventually(lambda: on_replicas(api), what="the Service back on the replicas")
    await restarted.rounds_pass(o.NS, "bert", count=2)
    assert await activator(api, "bert") is not None  # lingers: held requests still forwarded
