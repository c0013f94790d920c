"""Scale to zero in the operator: the engine's idle decision (engine/idle.py) fed with the
activator's wake requests, and the serving path kept up while no replica runs.

For a service with `minReplicas: 0` (proven end to end in the sandbox:
tests/e2e/test_sandbox_zero.py):
* the engine gets `DecisionInput.scale_to_zero` (idleSeconds from the spec) and plans with
  minReplicas 1 while replicas run (`running_spec`): going to zero is the idle decision's;
* demand at zero: the activator merge-patches `infercost.io/wake-requested: <RFC3339>` on the
  InferenceService. A wake requested after the service went to zero, no older than the
  activator's wake timeout (past it the activator has answered its held requests), counts
  as demand while no replica is ready: held requests are not served, so no metric shows
  them. The demand given is the least there is (`WAKE_DEMAND_RPS`): it says "requests
  wait", and any positive demand below one replica's capacity gets one replica; once a
  replica serves, the measured demand takes over.
* children (manifests/activator.py): the `<service>-replicas` Service and the activator's
  identity always; the activator Deployment while no replica is ready and `lingerSeconds`
  after one is (so the requests it holds are forwarded before it stops); the stable Service
  points at the activator while no replica is ready.
* status at zero: `Placed` ScaledToZero (the engine's); `Ready` True only once the activator
  is ready to hold requests.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from infercost.activator import WAKE_ANNOTATION  # the activator writes it (activator/waker.py)
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import (
    ConditionVerdict,
    CurrentDeployment,
    Observation,
    Plan,
    Reason,
    ScaleToZero,
    ServiceState,
)
from infercost.manifests import ZeroPath
from infercost.settings import Settings

logger = logging.getLogger("infercost")
# Requests wait at zero: the least positive demand (why any value below one replica's
# capacity decides the same: the module docstring).
WAKE_DEMAND_RPS = 1e-3
ACTIVATOR_NOT_READY = "ActivatorNotReady"


@dataclass
class ZeroMemory:
    """What the operator remembers about one scale-to-zero service between reconciles."""

    zero_since: float | None = None  # when it last went to zero (wakes before it are old)
    ready_since: float | None = None  # when a replica was last found ready (activator linger)
    restored: bool = False  # status read back after a start


def policy(spec: InferenceServiceSpec) -> ScaleToZero | None:
    """The engine's scale-to-zero policy of a service, None when it does not scale to zero."""
    if spec.scaling.min_replicas > 0:
        return None
    return ScaleToZero(idle_seconds=float(spec.scaling.idle_seconds))


def before_decision(
    memory: ZeroMemory,
    state: ServiceState,
    *,
    spec: InferenceServiceSpec,
    body: Mapping[str, Any],
    current: Mapping[tuple[str, str], CurrentDeployment],
    observation: Observation | None,
    now: float,
    settings: Settings,
) -> tuple[InferenceServiceSpec, ServiceState, Observation | None]:
    """What the engine decides with: the running spec, the state (restored after a start)
    and the observation with a pending wake as demand."""
    state = restore(memory, state, body=body, current=current)
    observation = with_wake_demand(
        observation,
        body=body,
        memory=memory,
        ready_replicas=sum(d.ready_replicas for d in current.values()),
        now=now,
        wake_timeout_seconds=settings.activator_wake_timeout_seconds,
    )
    return running_spec(spec), state, observation


def after_decision(
    memory: ZeroMemory,
    plan: Plan,
    *,
    current: Mapping[tuple[str, str], CurrentDeployment],
    now: float,
    settings: Settings,
    activator_ready: bool,
) -> tuple[Plan, ZeroPath]:
    """The plan with `Ready` at zero as the activator has it, and the serving path."""
    serving = sum(d.ready_replicas for d in current.values())
    if not any(a.replicas > 0 for a in plan.allocations):
        serving = 0  # going to zero: the activator takes the address now
    remember(memory, plan, ready_replicas=serving, now=now)
    path = serving_path(memory, ready_replicas=serving, now=now, settings=settings)
    return with_activator_readiness(plan, activator_ready=activator_ready), path


def running_spec(spec: InferenceServiceSpec) -> InferenceServiceSpec:
    """The spec the engine plans with: while replicas run, at least one (the idle decision,
    not the scaler, takes the service to zero: engine/idle.py, as the simulator has it)."""
    scaling = spec.scaling.model_copy(update={"min_replicas": 1})
    return spec.model_copy(update={"scaling": scaling})


def restore(
    memory: ZeroMemory,
    state: ServiceState,
    *,
    body: Mapping[str, Any],
    current: Mapping[tuple[str, str], CurrentDeployment],
) -> ServiceState:
    """After a start: a service its status says is at zero, with no replica, is at zero; it
    went there when its `Placed` condition says (a wake requested since then wakes it)."""
    if memory.restored:
        return state
    memory.restored = True
    placed = _condition(body, "Placed")
    if current or placed is None or placed.get("reason") != Reason.SCALED_TO_ZERO.value:
        return state
    memory.zero_since = _parsed(placed.get("lastTransitionTime")) or 0.0
    return replace(state, at_zero=True)


def with_wake_demand(
    observation: Observation | None,
    *,
    body: Mapping[str, Any],
    memory: ZeroMemory,
    ready_replicas: int,
    now: float,
    wake_timeout_seconds: float,
) -> Observation | None:
    """The observation with the held requests as demand, when a wake is pending."""
    requested = _parsed((body["metadata"].get("annotations") or {}).get(WAKE_ANNOTATION))
    if requested is None or ready_replicas > 0 or memory.zero_since is None:
        return observation
    # The annotation has whole seconds: a wake in the second the service went to zero counts.
    if requested < math.floor(memory.zero_since) or now - requested > wake_timeout_seconds:
        return observation
    measured = observation.demand_rps if observation is not None else None
    demand = max(measured or 0.0, WAKE_DEMAND_RPS)
    if observation is None:
        return Observation(time=now, demand_rps=demand, p99_latency_ms=None)
    return replace(observation, time=now, demand_rps=demand)


def remember(memory: ZeroMemory, plan: Plan, *, ready_replicas: int, now: float) -> None:
    """After a decision: when the service went to zero, since when a replica is ready."""
    if plan.state.at_zero and memory.zero_since is None:
        memory.zero_since = now
    elif not plan.state.at_zero:
        memory.zero_since = None
    if ready_replicas > 0:
        memory.ready_since = memory.ready_since if memory.ready_since is not None else now
    else:
        memory.ready_since = None


def serving_path(
    memory: ZeroMemory, *, ready_replicas: int, now: float, settings: Settings
) -> ZeroPath:
    """The activator while no replica is ready (and its linger after); the Service on it."""
    lingering = (
        memory.ready_since is not None
        and now - memory.ready_since < settings.activator_linger_seconds
    )
    return ZeroPath(
        activator=ready_replicas == 0 or lingering,
        via_activator=ready_replicas == 0,
        wake_timeout_seconds=settings.activator_wake_timeout_seconds,
    )


def with_activator_readiness(plan: Plan, *, activator_ready: bool) -> Plan:
    """At zero, `Ready` is True only once the activator can hold requests."""
    if not plan.state.at_zero or activator_ready:
        return plan
    conditions = tuple(
        ConditionVerdict(
            type="Ready",
            ok=False,
            reason=ACTIVATOR_NOT_READY,
            message="at zero replicas; the activator that holds requests is not ready yet",
        )
        if c.type == "Ready" and c.ok
        else c
        for c in plan.conditions
    )
    return replace(plan, conditions=conditions)


def _condition(body: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return None


def _parsed(stamp: Any) -> float | None:
    """Epoch seconds of an RFC 3339 time, None when absent or not one."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        logger.warning("%s: not an RFC 3339 time: %r", WAKE_ANNOTATION, stamp)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()
