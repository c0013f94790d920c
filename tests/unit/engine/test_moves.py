"""When a move to a cheaper placement is worth it: it must win at the peak the engine holds
(the last hours, beyond the demand history) and not only by rounding at this demand.

Each test failed before the engine change it names (the bursty bench scenarios, issue 6).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_factories import NOW, decision, pool, running, service, variant

from infercost.api.service import InferenceServiceSpec
from infercost.engine.forecast import held_peak
from infercost.engine.model import PoolView, Reason, ScaleToZero, ServiceState
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit
T4_AND_L4 = variant(
    "gpu",
    accelerators={
        "nvidia-t4": [(8, 200.0, 20.0)],
        "nvidia-l4": [(8, 400.0, 20.0)],
    },
)
T4 = ("gpu", "t4")
L4_KEY = ("gpu", "l4")
L4 = ("gpu", "l4")
POOLS = [pool("t4", accelerator="nvidia-t4", price=0.45), pool("l4", price=0.8)]


def test_a_move_for_savings_must_win_at_the_last_hours_peak() -> None:
    # At 150/s one T4 replica ($0.45/h) undercuts one L4 ($0.80/h), but 40 minutes ago
    # demand was 2000/s, where L4 replicas are cheaper (6 x $0.80 < 12 x $0.45). Before the
    # fix the fleet moved to T4 for the trough and would move back at the next surge, a
    # cold start each way.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    history = ((NOW - 2400.0, 2000.0), (NOW - 600.0, 150.0), (NOW - 300.0, 150.0))
    inp = decision(
        spec,
        [pool("t4", accelerator="nvidia-t4", price=0.45), pool("l4", price=0.8)],
        demand=150.0,
        p99=10.0,
        current={L4_KEY: running(1)},
        state=ServiceState(demand_history=history),
    )
    plan = decide(inp)
    assert {(a.variant, a.pool) for a in plan.allocations} == {L4_KEY}
    quiet = decide(replace(inp, state=ServiceState(demand_history=history[1:])))
    assert T4 in {(a.variant, a.pool) for a in quiet.allocations}  # the move itself is sound


def test_a_move_for_savings_must_win_at_a_spike_older_than_the_demand_history() -> None:
    # Spikes recur every ~2 h (twitter-bert); the demand history holds ~1 h. Before the
    # held peak, a trough an hour after a 2000/s spike moved the fleet to T4 (cheaper at
    # 150/s) and the next spike moved it back, a cold start each way.
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    trough = ((NOW - 600.0, 150.0), (NOW - 300.0, 150.0))
    inp = decision(
        spec,
        POOLS,
        demand=150.0,
        p99=10.0,
        current={L4: running(1)},
        state=ServiceState(demand_history=trough, demand_peak=(NOW - 5400.0, 2000.0)),
    )
    assert {(a.variant, a.pool) for a in decide(inp).allocations} == {L4}
    # A peak older than move_peak_window_seconds (3 h by default) binds nothing.
    old = replace(
        inp, state=ServiceState(demand_history=trough, demand_peak=(NOW - 12000.0, 2000.0))
    )
    assert T4 in {(a.variant, a.pool) for a in decide(old).allocations}


def test_the_held_peak_outlives_the_history_then_yields_to_it() -> None:
    history = ((NOW - 60.0, 300.0), (NOW, 200.0))
    assert held_peak(None, history=history, now=NOW, window=3600.0) == (NOW - 60.0, 300.0)
    kept = held_peak((NOW - 3000.0, 900.0), history=history, now=NOW, window=3600.0)
    assert kept == (NOW - 3000.0, 900.0)
    expired = held_peak((NOW - 4000.0, 900.0), history=history, now=NOW, window=3600.0)
    assert expired == (NOW - 60.0, 300.0)
    higher = held_peak((NOW - 3000.0, 250.0), history=history, now=NOW, window=3600.0)
    assert higher == (NOW - 60.0, 300.0)


def test_decide_remembers_the_peak_beyond_the_history() -> None:
    spec = service([T4_AND_L4], scaling={"maxReplicas": 20})
    inp = decision(
        spec,
        POOLS,
        demand=150.0,
        p99=10.0,
        current={L4: running(1)},
        state=ServiceState(demand_peak=(NOW - 5400.0, 2000.0)),
    )
    assert decide(inp).state.demand_peak == (NOW - 5400.0, 2000.0)


@pytest.mark.parametrize(
    ("demand", "running_l4", "wanted_l4"),
    [
        # azure-conv-resnet: 2 L4 saw 700/s (840/s with headroom): 2 bigger A10G replicas
        # ($2.00/h) beat 3 L4 ($2.40/h) by a whole replica's rounding, though the A10G costs
        # more per inference. 15 s later demand rose, both needed 3 and the fleet sat on
        # A10G for the hour-long move cooldown (20% over the single-pool run).
        (700.0, 2, 3),
        # family-21-15-weekly (seed 21): on a ramp one A10G replica carried the next
        # interval's demand where a second L4 was needed, so the scale-up moved there (a
        # scale-up that starts no more replicas by moving skipped the savings test); demand
        # rose on, the fleet grew on A10G and the L4 replica already starting was thrown
        # away. A scale-up starts replicas either way, but must still save over the band.
        (370.0, 1, 2),
    ],
)
def test_a_move_must_not_win_only_by_rounding_at_this_demand(
    demand: float, running_l4: int, wanted_l4: int
) -> None:
    spec = service(
        [
            variant(
                "gpu",
                accelerators={"nvidia-l4": [(8, 400.0, 20.0)], "nvidia-a10g": [(8, 450.0, 20.0)]},
            )
        ],
        scaling={"maxReplicas": 20},
    )
    pools = [pool("l4", price=0.8), pool("a10g", accelerator="nvidia-a10g", price=1.0)]
    inp = decision(spec, pools, demand=demand, p99=10.0, current={L4: running(running_l4)})
    placed = {(a.variant, a.pool): a.replicas for a in decide(inp).allocations if a.replicas}
    assert placed == {L4: wanted_l4}


def _band_case(*, min_replicas: int = 1) -> tuple[InferenceServiceSpec, list[PoolView]]:
    """One A10G ($1.00/h) is the cheapest fleet for 370/s with headroom; two L4 ($1.20/h)
    cost less one headroom higher (two A10G, $2.00/h)."""
    accelerators = {"nvidia-l4": [(8, 400.0, 20.0)], "nvidia-a10g": [(8, 450.0, 20.0)]}
    spec = service(
        [variant("gpu", accelerators=accelerators)],
        scaling={"minReplicas": min_replicas, "maxReplicas": 20},
    )
    return spec, [pool("l4", price=0.6), pool("a10g", accelerator="nvidia-a10g", price=1.0)]


def test_a_first_placement_is_chosen_over_the_band_too() -> None:
    # A first fleet won by one replica's rounding (one A10G, $1.00/h, carries 370/s with
    # headroom where two L4 cost $1.20/h) loses one headroom higher (two A10G, $2.00/h,
    # against the same two L4), and the move test above would then keep it: over the band
    # the L4 fleet costs less, so it is the one placed (seeds 21-25 of the family: the SLO
    # goal met on 6 more of 175 members, costs within a few percent either way).
    spec, pools = _band_case()
    plan = decide(decision(spec, pools, demand=370.0))
    placed = {(a.variant, a.pool): a.replicas for a in plan.allocations if a.replicas}
    assert placed == {L4: 2}


def test_a_first_placement_chosen_over_the_band_says_why_with_both_fleets() -> None:
    # The case above: two L4 ($1.20/h) are placed where one A10G ($1.00/h) is the cheapest
    # for 444/s (370/s with the 20% headroom). The plan used to say only InitialPlacement,
    # so a fleet dearer than the cheapest for the printed demand could not be checked from
    # the output. It now names the band, with both fleets' $/h here and one headroom
    # higher (532.8/s: $1.20/h against $2.00/h) and the mean saving, (0.80 - 0.20) / 2.
    spec, pools = _band_case()
    plan = decide(decision(spec, pools, demand=370.0))
    assert {a.reason for a in plan.actions} == {Reason.CHEAPER_OVER_DEMAND_BAND}
    placed = next(c for c in plan.conditions if c.type == "Placed")
    assert placed.reason == "CheaperOverDemandBand"
    assert placed.message == (
        "first placement for 370.0/s: 2 x gpu/l4 at $1.2000/h, not the cheapest for 444.0/s "
        "needed (1 x gpu/a10g at $1.0000/h): on the same pools one headroom higher (532.8/s) "
        "$1.2000/h against $2.0000/h, $0.3000/h less on the mean of the two demands"
    )
    # Where the cheapest fleet here is also the one placed, nothing changes.
    cheap_l4 = [pool("l4", price=0.45), pool("a10g", accelerator="nvidia-a10g", price=1.0)]
    plain = decide(decision(spec, cheap_l4, demand=370.0))
    assert {a.reason for a in plain.actions} == {Reason.INITIAL_PLACEMENT}
    placed = next(c for c in plain.conditions if c.type == "Placed")
    assert (placed.reason, placed.message) == ("InitialPlacement", "first placement for 370.0/s")


@pytest.mark.parametrize("a10g_price", [0.3, 0.37, 0.7, 1.0])
def test_a_tie_over_the_band_keeps_the_cheapest_fleet_whatever_the_float_noise(
    a10g_price: float,
) -> None:
    # L4 at three quarters of the A10G's price: two L4 cost 0.5 x an A10G more at 444/s
    # and as much less one headroom higher (two A10G): the mean saving is exactly zero. In
    # floats it came out +5e-17 for some prices, and the dearer L4 fleet was placed with a
    # message claiming "$0.0000/h less". A tie keeps the fleet cheapest at this demand.
    spec, _ = _band_case()
    pools = [
        pool("l4", price=0.75 * a10g_price),
        pool("a10g", accelerator="nvidia-a10g", price=a10g_price),
    ]
    plan = decide(decision(spec, pools, demand=370.0))
    assert {(a.variant, a.pool): a.replicas for a in plan.allocations if a.replicas} == {
        ("gpu", "a10g"): 1
    }
    assert {a.reason for a in plan.actions} == {Reason.INITIAL_PLACEMENT}


def test_a_wake_from_zero_chosen_over_the_band_keeps_its_reason_and_says_why() -> None:
    # Waking is a first placement too (engine/idle.py): it stays WokenFromZero, the reason
    # scale to zero is counted by, and its Placed message still names both fleets.
    spec, pools = _band_case(min_replicas=0)
    inp = decision(spec, pools, demand=370.0, state=ServiceState(at_zero=True))
    plan = decide(replace(inp, scale_to_zero=ScaleToZero(idle_seconds=600)))
    assert {(a.variant, a.pool): a.replicas for a in plan.allocations} == {L4: 2}
    assert {a.reason for a in plan.actions} == {Reason.WOKEN_FROM_ZERO}
    placed = next(c for c in plan.conditions if c.type == "Placed")
    assert placed.reason == "WokenFromZero"
    assert "not the cheapest for 444.0/s needed (1 x gpu/a10g at $1.0000/h)" in placed.message


@pytest.mark.parametrize("running_on", ["l4-a", "l4-b"])
def test_a_fleet_on_one_of_two_pools_priced_alike_grows_where_it_runs(running_on: str) -> None:
    # Two zones of one instance type: no saving either way, so no move is weighed and the
    # new replica joins the running ones (placement keeps what runs on a tie).
    spec, _ = _band_case()
    pools = [pool("l4-a", price=0.6), pool("l4-b", price=0.6)]
    plan = decide(decision(spec, pools, demand=1100.0, current={("gpu", running_on): running(3)}))
    placed = {(a.variant, a.pool): a.replicas for a in plan.allocations if a.replicas}
    assert set(placed) == {("gpu", running_on)}
    assert placed[("gpu", running_on)] > 3
    assert {a.reason for a in plan.actions} == {Reason.DEMAND_ABOVE_CAPACITY}
