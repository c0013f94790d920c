"""sandbox/events.py: spill and reclaim times read from a timeline, and the live view's note."""

from __future__ import annotations

import pytest

from infercost.sandbox.events import capacity_events, markdown
from infercost.sandbox.monitor import Sample, line

pytestmark = pytest.mark.unit


def sample(t: float, ready: dict[str, int], **lost: dict[str, int]) -> Sample:
    return Sample(
        time=t,
        service="ml/bert",
        slo_ms=50.0,
        desired=dict(ready),
        ready=ready,
        unschedulable=lost.get("unschedulable", {}),
        noticed=lost.get("noticed", {}),
        refused=lost.get("refused", {}),
        decision={"reason": "PoolCapacityExhausted"} if t >= 3 else {},
    )


def test_the_spill_is_timed_from_the_first_unschedulable_pod_to_the_next_pool_ready() -> None:
    samples = [
        sample(0, {"spot": 1}),
        sample(1, {"spot": 1}, unschedulable={"spot": 2}),
        sample(3, {"spot": 1, "g5": 0}, unschedulable={"spot": 2}),
        sample(4, {"spot": 1, "g5": 0}),
        sample(9, {"spot": 1, "g5": 1}),
    ]
    spill = capacity_events(samples)["spill"]
    assert spill["pools"] == ["spot"]
    assert spill["replicas_lost"] == 2
    assert spill["replacement_ready_seconds"] == 8
    assert spill["replacement_pools"] == ["g5"]
    assert spill["cleared_seconds"] == 3
    assert spill["reasons"] == ["PoolCapacityExhausted"]
    assert "reclaim" not in capacity_events(samples)
    assert "after 8 s" in "\n".join(markdown(capacity_events(samples)))
    assert "(2 unschedulable)" in line(samples[1:2], elapsed=1.0)


def test_nothing_lost_means_no_section() -> None:
    samples = [sample(0, {"spot": 1}), sample(1, {"spot": 2})]
    assert capacity_events(samples) == {}
    assert markdown({}) == []


def test_the_spill_is_timed_from_the_autoscaler_s_refusal_when_no_sample_saw_the_pod() -> None:
    """The operator acts on cluster-autoscaler's NotTriggerScaleUp at once: the refused pod
    can be gone before a sample shows it Unschedulable; its Event stays."""
    samples = [
        sample(0, {"spot": 1}),
        sample(1, {"spot": 1}, refused={"spot": 1}),
        sample(2, {"spot": 1, "g5": 0}, refused={"spot": 1}),
        sample(5, {"spot": 1, "g5": 1}, refused={"spot": 1}),
    ]
    spill = capacity_events(samples)["spill"]
    assert spill["pools"] == ["spot"]
    assert spill["replicas_lost"] == 1
    assert spill["replacement_ready_seconds"] == 4.0
    assert spill["cleared_seconds"] == 0.0  # no Pending pod was left to see
