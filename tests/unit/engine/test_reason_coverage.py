"""Every Reason code can be produced by decide(): adding one without a way to reach it fails."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service, variant

from infercost.engine.model import (
    BatchConfig,
    CurrentDeployment,
    Reason,
    ScaleToZero,
    ServiceState,
    SpikeRecord,
    TeamCeiling,
)
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit


def test_every_reason_code_is_reachable_through_decide() -> None:
    """Adding a Reason without a way to produce it (or a test for it) fails here."""
    pools = [pool("l4"), pool("l4-spot", price=0.3, spot=True)]
    old_batch = CurrentDeployment(
        replicas=2, ready_replicas=2, batching=BatchConfig(max_batch_size=2, max_queue_delay_us=0)
    )
    late = ServiceState(scale_down_candidate_since=NOW - 400)
    cases = [
        decision(service([GPU]), [pool("l4")], demand=500.0),
        decision(service([GPU]), [pool("l4")], demand=500.0, current={KEY: running(2)}),
        decision(service([GPU]), [pool("l4")], demand=5000.0, current={KEY: running(2)}),
        decision(service([GPU]), [pool("l4")], demand=300.0, p99=80.0, current={KEY: running(2)}),
        decision(service([GPU]), [pool("l4")], demand=100.0, current={KEY: running(5)}),
        decision(service([GPU]), [pool("l4")], demand=300.0, current={KEY: running(5)}, state=late),
        decision(
            service([GPU], scaling={"minReplicas": 2}),
            [pool("l4")],
            demand=1.0,
            current={KEY: running(4)},
            state=late,
        ),
        decision(
            service([GPU], scaling={"maxReplicas": 2}),
            [pool("l4")],
            demand=9e3,
            current={KEY: running(2)},
        ),
        decision(service([GPU]), [pool("l4")], current={KEY: running(2)}),
        decision(service([GPU]), pools, demand=500.0, current={KEY: running(2)}),
        decision(
            service([GPU]),
            [pool("l4"), pool("l4-b", price=0.95)],
            demand=500.0,
            current={KEY: running(2)},
        ),
        decision(
            service([GPU]),
            pools,
            demand=500.0,
            current={KEY: running(2)},
            state=ServiceState(last_move_time=NOW - 10),
        ),
        decision(service([GPU], budget={"maxHourlyCost": 1.5}), [pool("l4")], demand=2000.0),
        decision(
            service([GPU], budget={"maxHourlyCost": 1.5, "onExceeded": "Warn"}),
            [pool("l4")],
            demand=2000.0,
        ),
        decision(service([GPU]), [pool("l4", max_replicas=3, used_by_others=2)], demand=2000.0),
        decision(service([GPU], slo={"latencyMs": 4}), [pool("l4")], demand=10.0),
        decision(service([GPU]), [pool("l4")], demand=500.0, current={KEY: old_batch}),
        decision(service([GPU]), [pool("l4")], demand=300.0, p99=60.0, current={KEY: running(3)}),
        decision(
            service([GPU], batching={"mode": "Off"}),
            [pool("l4")],
            demand=50.0,
            current={KEY: old_batch},
        ),
        decision(
            service([GPU], batching={"mode": "Fixed", "maxBatchSize": 4}),
            [pool("l4")],
            demand=50.0,
            current={KEY: old_batch},
        ),
        # Spikes to 2,000/s every hour, the next due in 100 s (tests/unit/engine/test_spikes.py).
        decision(
            service([GPU]),
            [pool("l4")],
            demand=300.0,
            current={KEY: running(2)},
            state=ServiceState(
                spikes=SpikeRecord(
                    baseline=300.0,
                    spikes=tuple((NOW - 3500 - k * 3600, 2000.0) for k in (2, 1, 0)),
                )
            ),
        ),
        # A cheaper move held for its cause (tests/unit/engine/test_move_reasons.py).
        decision(service([GPU]), pools, demand=500.0, current={KEY: running(2, ready=1)}),
        decision(
            service([GPU], scaling={"maxReplicas": 2}),
            pools,
            demand=500.0,
            current={KEY: running(2)},
        ),
        decision(
            service(
                [
                    variant(
                        "gpu",
                        accelerators={
                            "nvidia-t4": [(8, 200.0, 20.0)],
                            "nvidia-l4": [(8, 400.0, 20.0)],
                        },
                    )
                ],
                scaling={"maxReplicas": 20},
            ),
            [pool("t4", accelerator="nvidia-t4", price=0.45), pool("l4", price=0.8)],
            demand=150.0,
            p99=10.0,
            current={KEY: running(1)},
            state=ServiceState(
                demand_history=((NOW - 600.0, 150.0), (NOW - 300.0, 150.0)),
                demand_peak=(NOW - 5400.0, 2000.0),
            ),
        ),
        # A first fleet chosen over the band, not the cheapest here (tests/unit/engine/test_moves.py).
        decision(
            service(
                [
                    variant(
                        "gpu",
                        accelerators={
                            "nvidia-l4": [(8, 400.0, 20.0)],
                            "nvidia-a10g": [(8, 450.0, 20.0)],
                        },
                    )
                ],
                scaling={"maxReplicas": 20},
            ),
            [pool("l4", price=0.6), pool("a10g", accelerator="nvidia-a10g", price=1.0)],
            demand=370.0,
        ),
        # Scale to zero and waking (tests/unit/engine/test_idle.py).
        replace(
            decision(
                service([GPU]),
                [pool("l4")],
                demand=0.0,
                current={KEY: running(1)},
                state=ServiceState(idle_since=NOW - 900),
            ),
            scale_to_zero=ScaleToZero(idle_seconds=600),
        ),
        replace(
            decision(service([GPU]), [pool("l4")], demand=5.0, state=ServiceState(at_zero=True)),
            scale_to_zero=ScaleToZero(idle_seconds=600),
        ),
        # Pods Unschedulable, Spot nodes reclaimed (tests/reliability/test_pool_faults.py).
        decision(
            service([GPU]),
            [pool("l4"), pool("l4-b", price=1.5)],
            demand=500.0,
            current={
                KEY: CurrentDeployment(replicas=4, ready_replicas=1, unschedulable_replicas=3)
            },
        ),
        decision(
            service([GPU]),
            [pool("l4"), pool("l4-spot", price=0.3, spot=True)],
            demand=500.0,
            current={
                ("gpu", "l4-spot"): CurrentDeployment(
                    replicas=4, ready_replicas=4, disrupted_replicas=4
                )
            },
        ),
        # A BudgetPolicy's share binds (engine/team_budget.py): TeamBudgetLimited.
        replace(
            decision(service([GPU]), [pool("l4")], demand=5000.0),
            team_budget=TeamCeiling(policy="team", ceiling=2.0, cap=2.0),
        ),
    ]
    seen: set[str] = set()
    for inp in cases:
        plan = decide(inp)
        seen |= {action.reason.value for action in plan.actions}
        seen |= {c.reason for c in plan.conditions}
    migration = decide(cases[9])
    seen |= {a.reason.value for a in migration.actions}
    assert {reason.value for reason in Reason} <= seen
