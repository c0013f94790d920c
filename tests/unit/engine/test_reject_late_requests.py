"""`spec.batching.rejectLateRequests`: Triton's queue timeout from the SLO, and rejected
requests read as demand (issue 6: an overload fails the excess, not every request)."""

from __future__ import annotations

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service

from infercost.api.service import SLO, Batching
from infercost.engine.batching import choose_batching
from infercost.engine.cost import ProfileCurve
from infercost.engine.model import (
    ActionKind,
    BatchConfig,
    CurrentDeployment,
    DeploymentMetrics,
    EngineSettings,
    Reason,
    ServiceState,
)
from infercost.engine.planner import decide
from infercost.engine.signals import overloaded

pytestmark = pytest.mark.unit

CURVE = ProfileCurve(
    batch_sizes=(1, 8, 32),
    throughputs=(500.0, 1500.0, 2200.0),
    latencies_ms=(5.0, 20.0, 70.0),
)
SETTINGS = EngineSettings(latency_margin=0.8)


def timeout_of(spec: dict[str, object], *, slo: float = 50.0) -> tuple[int, int, int]:
    choice = choose_batching(
        CURVE,
        spec=Batching.model_validate(spec),
        slo_ms=slo,
        settings=SETTINGS,
        previous=None,
        observed_p99_ms=None,
    )
    assert choice is not None
    config = choice.config
    return config.max_batch_size, config.max_queue_delay_us, config.queue_timeout_us


def test_the_queue_timeout_is_what_the_slo_leaves_after_one_batch() -> None:
    batch, delay, timeout = timeout_of({"rejectLateRequests": True})
    execution_us = int(CURVE.latency_at(batch) * 1000)
    # 0.8 x 50 ms = 40 ms less a full batch's execution, but never less than a wait with no
    # overload at all (the batcher's delay plus one batch executing ahead): here batch 16
    # runs 36.7 ms, so the floor binds.
    assert timeout == max(40_000 - execution_us, delay + execution_us)
    assert timeout == delay + execution_us > 40_000 - execution_us
    assert timeout_of({})[2] == 0  # Triton's default: requests wait as long as it takes
    # Fixed and Off batching get the timeout too. Off: a batch of one runs 5 ms, so the
    # margin binds (40 - 5 ms), not the floor (5 ms).
    assert timeout_of({"mode": "Off", "rejectLateRequests": True}) == (1, 0, 35000)
    fixed = timeout_of({"mode": "Fixed", "maxBatchSize": 8, "rejectLateRequests": True})
    assert fixed == (8, 0, 20000)


def test_rejections_are_demand_and_overload() -> None:
    spec = service([GPU], scaling={"maxReplicas": 50}, batching={"rejectLateRequests": True})
    # Two replicas serve their 400/s each; Triton rejected another 1,200/s (queue timeout).
    # The queue never grows past the timeout, so pending growth shows nothing.
    shedding = DeploymentMetrics(
        inferences_per_second=800.0,
        busy_fraction=0.7,
        average_batch=8.0,
        queue_ms=20.0,
        pending_requests=30.0,
        rejected_per_second=1200.0,
    )
    assert overloaded(shedding, EngineSettings(), slo_ms=50.0)
    plan = decide(
        decision(
            spec,
            [pool("l4")],
            demand=800.0,
            p99=30.0,
            current={KEY: running(2)},
            per_deployment={KEY: shedding},
        )
    )
    (allocation,) = [a for a in plan.allocations if (a.variant, a.pool) == KEY]
    assert allocation.replicas >= 5  # 2,000/s arrive: 800/s seen before counts as 2 replicas
    assert allocation.batching.queue_timeout_us > 0
    # The overloaded replicas teach no capacity cut (they served what they could).
    assert plan.state.learned_capacity.get(KEY, 1.0) >= 0.9


def test_without_the_flag_no_timeout_reaches_the_plan() -> None:
    plan = decide(decision(service([GPU]), [pool("l4")], demand=300.0))
    assert all(a.batching.queue_timeout_us == 0 for a in plan.allocations)


def test_auto_batching_gives_up_queue_delay_so_shed_overload_stays_on_time() -> None:
    # Batch 8 runs 20 ms. Waiting 20 ms to fill it would leave no room in 0.8 x 50 ms for
    # the batch executing ahead; and under overload a request waits the whole timeout, then
    # its batch runs: the floor (delay + one batch ahead = 40 ms) would make that 60 ms,
    # past the SLO. With no delay the timeout is 20 ms and a shed overload's requests
    # finish in 40 ms.
    assert timeout_of({"maxBatchSize": 8}) == (8, 0, 0)
    batch, delay, timeout = timeout_of({"maxBatchSize": 8, "rejectLateRequests": True})
    assert (batch, delay, timeout) == (8, 0, 20000)
    assert timeout / 1000 + CURVE.latency_at(batch) <= 0.8 * 50.0
    # Fixed batching keeps the delay the user chose; the timeout's floor covers it.
    fixed = {"mode": "Fixed", "maxBatchSize": 8, "maxQueueDelayMicroseconds": 20000}
    assert timeout_of({**fixed, "rejectLateRequests": True}) == (8, 20000, 40000)


def test_auto_delay_is_the_room_left_after_two_executions() -> None:
    # 0.8 x 200 ms = 160 ms holds batch 32 (70 ms) running, one ahead (70 ms) and 20 ms of
    # delay: a request arriving as a batch starts waits for it with no overload at all.
    assert timeout_of({}, slo=200.0) == (32, 20000, 0)


# Two replicas of 400/s at batch 8 (20 ms), with Triton's timeout of 20 ms.
TIMED = CurrentDeployment(
    replicas=2,
    ready_replicas=2,
    batching=BatchConfig(
        max_batch_size=8, max_queue_delay_us=0, preferred_batch_sizes=(8,), queue_timeout_us=20000
    ),
)


def rejecting(
    *, queue_ms: float, since: float | None, percentile: float = 99
) -> tuple[int, str, ServiceState]:
    """Replicas planned for 500/s served at 62% load while Triton rejects 15/s (2.9%)."""
    metrics = DeploymentMetrics(
        inferences_per_second=500.0,
        requests_per_second=500.0,
        busy_fraction=0.6,
        average_batch=6.0,
        queue_ms=queue_ms,
        rejected_per_second=15.0,
    )
    plan = decide(
        decision(
            service(
                [GPU],
                batching={"rejectLateRequests": True},
                slo={"latencyMs": 50, "percentile": percentile},
            ),
            [pool("l4")],
            demand=500.0,
            p99=30.0,
            current={KEY: TIMED},
            per_deployment={KEY: metrics},
            state=ServiceState(tail_rejecting_since=since),
        )
    )
    total = sum(a.replicas for a in plan.allocations)
    scale_ups = [a for a in plan.actions if a.kind == ActionKind.SCALE_UP]
    return total, " ".join(f"{a.reason.value}: {a.message}" for a in scale_ups), plan.state


def test_rejections_below_capacity_breach_the_slo_once_they_outlast_the_window() -> None:
    # Served requests waited 4 ms on average, a fifth of the timeout: the queue is not full,
    # these are the waiting-time tail at this load, which one more replica shortens.
    total, why, state = rejecting(queue_ms=4.0, since=NOW - 60.0)
    assert total == 3
    # The load offered there (served and rejected: 257.5/s per replica) is remembered as
    # where the SLO breaks, so the fleet stays below it when demand comes back.
    assert state.slo_ceiling[KEY] == pytest.approx(515.0 / 2)
    assert why == (
        f"{Reason.LATENCY_ABOVE_SLO.value}: 2 -> 3 replicas: 2.9% of requests rejected at the "
        "queue timeout (the SLO allows 1%)"
    )
    assert state.tail_rejecting_since == NOW - 60.0
    # Seen for the first time: a burst's rejections linger in the metrics window after its
    # queue emptied, so the planner waits a window before reading them as a breach.
    total, _, state = rejecting(queue_ms=4.0, since=None)
    assert total == 2
    assert state.tail_rejecting_since == NOW
    assert KEY not in state.slo_ceiling


def test_the_rejections_an_slo_allows_are_its_late_share() -> None:
    # A p95 objective lets 5% of requests miss their latency, a rejected one among them: the
    # same 2.9% tail that breaks a p99 objective above is within it, so it orders nothing.
    assert SLO(latency_ms=50, percentile=99).late_share == pytest.approx(0.01)
    assert SLO(latency_ms=50, percentile=99.9).late_share == pytest.approx(0.001)
    _, why, state = rejecting(queue_ms=4.0, since=NOW - 60.0, percentile=95)
    assert "rejected at the queue timeout" not in why
    assert state.tail_rejecting_since is None
    assert KEY not in state.slo_ceiling


def test_rejections_from_a_full_queue_are_overload_not_a_tail() -> None:
    # Served requests waited 18 ms of the 20 ms timeout: the queue was full (an overload,
    # whose rejections demand counts already): no breach episode starts.
    total, _, state = rejecting(queue_ms=18.0, since=NOW - 60.0)
    assert total == 2
    assert state.tail_rejecting_since is None
    assert KEY not in state.slo_ceiling
