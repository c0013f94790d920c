"""The sandbox kubelet's rules, as Kubernetes states them (pure): Ready needs every readiness
gate's condition True besides ready containers; `$(VAR)` in args expands from the env and an
undefined reference stays as written."""

from __future__ import annotations

import pytest

from infercost.sandbox.podenv import expand, secret_value
from infercost.sandbox.pods import ready_with_gates, started_status

pytestmark = pytest.mark.unit
GATE = "example.com/gate"


def pod(*conditions: dict[str, str], gates: tuple[str, ...] = (GATE,)) -> dict[str, object]:
    return {
        "spec": {"readinessGates": [{"conditionType": g} for g in gates]},
        "status": {"conditions": list(conditions)},
    }


def test_ready_needs_the_containers_and_every_gate() -> None:
    assert ready_with_gates(pod(gates=()), containers_ready=True)
    assert not ready_with_gates(pod(gates=()), containers_ready=False)
    assert not ready_with_gates(pod(), containers_ready=True), "an absent condition is False"
    assert not ready_with_gates(pod({"type": GATE, "status": "False"}), containers_ready=True)
    opened = pod({"type": GATE, "status": "True"})
    assert ready_with_gates(opened, containers_ready=True)
    assert not ready_with_gates(opened, containers_ready=False)
    two = pod({"type": GATE, "status": "True"}, gates=(GATE, "other/gate"))
    assert not ready_with_gates(two, containers_ready=True)


def test_the_kubelet_status_keeps_the_gates_conditions_only() -> None:
    gate = {"type": GATE, "status": "True", "reason": "Loaded"}
    status = started_status(pod(gate, {"type": "Ready", "status": "False"}), ready=True)
    types = [c["type"] for c in status["conditions"]]
    assert types == ["PodScheduled", "ContainersReady", "Ready", GATE]
    assert status["conditions"][-1] == gate
    waiting = started_status(pod(), ready=False)
    assert [c["reason"] for c in waiting["conditions"]][-1] == "ReadinessGatesNotReady"


def test_args_expand_from_the_env_like_the_kubelet() -> None:
    env = {"KEY": "s3cret"}
    assert expand(["--a=x:h=$(KEY)", "--b=$(MISSING)", "plain"], env) == [
        "--a=x:h=s3cret",
        "--b=$(MISSING)",
        "plain",
    ]
    assert secret_value({"data": {"key": "czNjcmV0"}}, "key") == "s3cret"
    assert secret_value({"data": {}}, "key") is None
    assert secret_value(None, "key") is None
