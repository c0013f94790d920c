"""Status building: conditions keep their transition time, unchanged means no patch (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.integration import objects as o

from infercost.api.service import InferenceServiceSpec
from infercost.controller import reporting
from infercost.engine.model import (
    Action,
    ActionKind,
    Allocation,
    BatchConfig,
    ConditionVerdict,
    DeploymentMetrics,
    Observation,
    Plan,
    Reason,
    ServiceState,
)

pytestmark = pytest.mark.unit


def plan(*, ready_ok: bool = True, action: ActionKind = ActionKind.HOLD) -> Plan:
    return Plan(
        allocations=(
            Allocation(
                variant="v",
                pool="p",
                replicas=2,
                batching=BatchConfig(max_batch_size=8, max_queue_delay_us=100),
                hourly_cost=1.5,
                throughput_per_replica=10.0,
            ),
        ),
        actions=(Action(kind=action, reason=Reason.STEADY, message="steady"),),
        conditions=(
            ConditionVerdict(type="Ready", ok=ready_ok, reason="R", message=""),
            ConditionVerdict(type="Placed", ok=True, reason="P", message=""),
        ),
        demand_rps=10.0,
        hourly_cost=1.5,
        cost_per_million=None,
        state=ServiceState(),
    )


def status(previous: dict | None, p: Plan, now: float) -> dict:
    return reporting.desired_status(
        previous,
        plan=p,
        ready={("v", "p"): 2},
        observation=Observation(time=now, demand_rps=10.0, p99_latency_ms=5.0),
        generation=3,
        now=now,
    )


def test_same_picture_later_means_no_patch() -> None:
    first = status(None, plan(), now=1000.0)
    later = status(first, plan(), now=2000.0)
    assert reporting.status_patch(first, later) == {}
    assert first["observedGeneration"] == 3
    assert first["cost"] == {"hourly": 1.5}  # None inside objects is dropped, never patched


def test_transition_time_moves_only_when_the_condition_flips() -> None:
    first = status(None, plan(ready_ok=False), now=1000.0)
    flipped = status(first, plan(ready_ok=True), now=2000.0)
    ready = {c["type"]: c for c in flipped["conditions"]}
    assert ready["Ready"]["lastTransitionTime"] == reporting.rfc3339(2000.0)
    assert ready["Placed"]["lastTransitionTime"] == reporting.rfc3339(1000.0)
    patch = reporting.status_patch(first, flipped)
    assert set(patch) == {"conditions"}


def test_a_change_is_a_new_decision_a_repeated_hold_is_not() -> None:
    first = status(None, plan(), now=1000.0)
    held = status(first, plan(), now=2000.0)
    assert held["lastDecision"] == first["lastDecision"]
    scaled = status(first, plan(action=ActionKind.SCALE_UP), now=3000.0)
    assert scaled["lastDecision"]["action"] == "ScaleUp"
    assert scaled["lastDecision"]["time"] == reporting.rfc3339(3000.0)


def test_invalid_spec_message_names_the_field() -> None:
    body = o.service("bert", o.NEURON_VARIANT)["spec"]
    body["slo"] = {"latencyMs": -1}
    with pytest.raises(ValidationError) as caught:
        InferenceServiceSpec.model_validate(body)
    message = reporting.validation_message(caught.value)
    assert message.startswith("spec.slo.latencyMs")
    invalid = reporting.invalid_status(None, message=message, generation=2, now=5.0)
    assert invalid["conditions"][0]["reason"] == "InvalidSpec"
    assert invalid["conditions"][0]["status"] == "False"
    assert invalid["observedGeneration"] == 2


def test_status_shows_the_queue_timeout_and_the_rejections() -> None:
    timed = BatchConfig(max_batch_size=8, max_queue_delay_us=100, queue_timeout_us=30000)
    p = plan()
    p = Plan(
        **{
            **p.__dict__,
            "allocations": (
                Allocation(
                    variant="v",
                    pool="p",
                    replicas=2,
                    batching=timed,
                    hourly_cost=1.5,
                    throughput_per_replica=10.0,
                ),
            ),
        }
    )
    observation = Observation(
        time=1000.0,
        demand_rps=10.0,
        p99_latency_ms=5.0,
        per_deployment={("v", "p"): DeploymentMetrics(rejected_per_second=2.5)},
    )
    out = reporting.desired_status(
        None, plan=p, ready={("v", "p"): 2}, observation=observation, generation=3, now=1000.0
    )
    assert out["placement"][0]["queueTimeoutMicroseconds"] == 30000
    assert out["batching"]["queueTimeoutMicroseconds"] == 30000
    assert out["observed"]["rejectedRps"] == 2.5
    # Without a timeout or a rejected figure the status carries neither key.
    plain = status(None, plan(), 1000.0)
    assert "queueTimeoutMicroseconds" not in plain["placement"][0]
    assert "rejectedRps" not in plain["observed"]
