"""controller/zero.py's pure parts: which wake request counts as demand at zero, the serving
path (activator, Service selector) and the Ready condition at zero; manifests/activator.py."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from infercost import manifests
from infercost.controller import zero
from infercost.engine.model import ConditionVerdict, Observation, Plan, ServiceState
from infercost.manifests.activator import (
    activator_deployment,
    activator_selector,
    replicas_service,
)
from infercost.settings import Settings

pytestmark = pytest.mark.unit
T0 = 1_800_000_000.0  # when the service went to zero


def body(stamp: str | None) -> dict[str, Any]:
    annotations = {} if stamp is None else {"infercost.io/wake-requested": stamp}
    return {"metadata": {"name": "bert", "namespace": "ml", "annotations": annotations}}


def at(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(T0 + seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def demand(stamp: str | None, *, now: float, ready: int = 0, timeout: float = 300.0) -> Any:
    memory = zero.ZeroMemory(zero_since=T0 + 0.6)  # within a second: the annotation's grain
    observed = zero.with_wake_demand(
        None,
        body=body(stamp),
        memory=memory,
        ready_replicas=ready,
        now=now,
        wake_timeout_seconds=timeout,
    )
    return None if observed is None else observed.demand_rps


def test_only_a_wake_requested_since_zero_within_the_wake_timeout_is_demand() -> None:
    assert demand(at(5), now=T0 + 6) == zero.WAKE_DEMAND_RPS
    assert demand(at(0), now=T0 + 6) == zero.WAKE_DEMAND_RPS  # the same second counts
    assert demand(at(-60), now=T0 + 6) is None  # an old wake (before zero)
    assert demand(at(5), now=T0 + 400) is None  # past the wake timeout: answered already
    assert demand(at(5), now=T0 + 6, ready=1) is None  # a replica serves: measured demand
    assert demand(None, now=T0 + 6) is None
    assert demand("yesterday", now=T0 + 6) is None  # not RFC 3339: ignored, logged


def test_the_held_demand_never_lowers_a_measured_one() -> None:
    observed = Observation(time=T0, demand_rps=4.0, p99_latency_ms=None)
    memory = zero.ZeroMemory(zero_since=T0)
    kept = zero.with_wake_demand(
        observed,
        body=body(at(2)),
        memory=memory,
        ready_replicas=0,
        now=T0 + 3,
        wake_timeout_seconds=300,
    )
    assert kept is not None
    assert (kept.demand_rps, kept.time) == (4.0, T0 + 3)


def test_the_activator_runs_while_no_replica_is_ready_and_lingers_after() -> None:
    settings = Settings(activator_linger_seconds=60)
    memory = zero.ZeroMemory()
    path = zero.serving_path(memory, ready_replicas=0, now=T0, settings=settings)
    assert (path.activator, path.via_activator) == (True, True)
    plan = Plan(
        allocations=(),
        actions=(),
        conditions=(),
        demand_rps=1.0,
        hourly_cost=1.0,
        cost_per_million=None,
        state=ServiceState(),
    )
    zero.remember(memory, plan, ready_replicas=1, now=T0)
    path = zero.serving_path(memory, ready_replicas=1, now=T0 + 30, settings=settings)
    assert (path.activator, path.via_activator) == (True, False)  # lingering, Service on pods
    path = zero.serving_path(memory, ready_replicas=1, now=T0 + 61, settings=settings)
    assert (path.activator, path.via_activator) == (False, False)


def test_ready_at_zero_waits_for_the_activator() -> None:
    ready = ConditionVerdict(type="Ready", ok=True, reason="ScaledToZero", message="at zero")
    plan = Plan(
        allocations=(),
        actions=(),
        conditions=(ready,),
        demand_rps=0.0,
        hourly_cost=0.0,
        cost_per_million=None,
        state=ServiceState(at_zero=True),
    )
    waiting = zero.with_activator_readiness(plan, activator_ready=False)
    assert [(c.ok, c.reason) for c in waiting.conditions] == [(False, zero.ACTIVATOR_NOT_READY)]
    assert zero.with_activator_readiness(plan, activator_ready=True) is plan


def test_the_activator_pods_are_outside_every_triton_selector() -> None:
    owner = manifests.Owner(name="bert", namespace="ml", uid="u1")
    settings = manifests.ManifestSettings(activator_image="registry.example/infercost:1")
    deployment = activator_deployment(owner=owner, settings=settings, wake_timeout_seconds=120)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert manifests.LABEL_SERVICE not in pod_labels
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/infercost:1"
    assert {"name": "INFERCOST_ACTIVATOR_WAKE_TIMEOUT_SECONDS", "value": "120"} in container["env"]
    # The stable Service at zero selects the activator's pods, the replicas' Service Triton's.
    assert manifests.shared.service(owner=owner, selector=activator_selector(owner))["spec"][
        "selector"
    ] == {manifests.LABEL_ACTIVATOR: "bert"}
    assert replicas_service(owner=owner)["spec"]["selector"] == {manifests.LABEL_SERVICE: "bert"}
    assert set(activator_selector(owner)) <= set(pod_labels)


def test_a_wake_request_reconciles_the_service_at_once() -> None:
    """The watch event of the wake annotation (metadata only: the generation stays) makes the
    operator reconcile now, not at the next control interval (controller/handlers.py)."""
    from infercost.controller.capacity import Capacity
    from infercost.controller.picture import Picture
    from infercost.controller.verdicts import Words

    picture = Picture(
        Capacity(
            disruption_taints=(),
            grace_seconds=0,
            words=Words.of(refusals=[], scale_ups=[]),
            verdict_seconds=0,
        )
    )
    service = body(None)
    service["metadata"] |= {"generation": 1, "uid": "u1"}
    assert picture.service_seen(service)  # new to this process
    assert not picture.service_seen(service)  # a status write, a repeat: no news
    woken = body(at(5))
    woken["metadata"] |= {"generation": 1, "uid": "u1"}
    assert picture.service_seen(woken)
    assert not picture.service_seen(woken)
