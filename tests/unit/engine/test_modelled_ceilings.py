"""SLO ceilings from the batcher's queueing model, before any breach (engine/ceilings.py).

A model slow against its SLO breaks it well below its throughput: the planner starts from
the load the queueing model (engine/queueing.py, calibrated against a real tritonserver in
tests/sim/test_calibration.py) says is safe, instead of learning it from breaches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_factories import GPU, decision, pool, service, variant

from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import EngineSettings, ServiceState
from infercost.engine.planner import decide
from infercost.engine.queueing import LOAD_GRID, ExecCurve, table_key, table_of

pytestmark = pytest.mark.unit

# The synthetic model of the real-Triton tests: a batch of 4 runs 20 + 2 x 4 = 28 ms.
SLOW = variant("cpu", accelerators={"cpu": [(1, 45.45, 22.0), (4, 142.86, 28.0)]})
SLOW_KEY = ("cpu", "c")
CPU = pool("c", accelerator="cpu")
DEMAND = 411.0
MODELLED = EngineSettings()
UNMODELLED = EngineSettings(modelled_ceilings=False)


def slow_service(*, percentile: float = 99, reject: bool = True) -> InferenceServiceSpec:
    return service(
        [SLOW],
        slo={"latencyMs": 60, "percentile": percentile},
        batching={"rejectLateRequests": reject},
        scaling={"maxReplicas": 60},
    )


def test_a_slow_model_starts_below_the_load_the_model_says_breaks_its_slo() -> None:
    spec = slow_service()
    plan = decide(decision(spec, [CPU], demand=DEMAND, settings=MODELLED))
    ceiling = plan.state.slo_ceiling[SLOW_KEY]
    (allocation,) = plan.allocations
    # The ceiling is the model's: at its load 99% of requests are served within 60 ms (a
    # rejected one is not), at the next load on the grid fewer are.
    points = [p for p in spec.variants[0].profile if p.accelerator_type == "cpu"]
    table = table_of(table_key(ExecCurve.from_profile(points), allocation.batching, 60.0))
    share = ceiling / table.capacity
    row = int(np.flatnonzero(np.isclose(LOAD_GRID, share))[0])
    assert table.good_share()[row] >= 0.99 > table.good_share()[row + 1]
    # About a third of what the profile says one replica executes, far below the 1 / 1.2 that
    # the headroom leaves spare: the fleet is sized on the ceiling.
    assert ceiling < 142.86 / 1.2 * 0.5
    assert allocation.replicas == math.ceil(DEMAND * 1.2 / ceiling) == 10
    # Without the model the planner sizes on the profile and learns from breaches.
    blind = decide(decision(spec, [CPU], demand=DEMAND, settings=UNMODELLED))
    assert blind.state.slo_ceiling == {}
    assert [a.replicas for a in blind.allocations] == [math.ceil(DEMAND * 1.2 / 142.86)] == [4]


def test_a_looser_percentile_is_a_higher_ceiling() -> None:
    strict = decide(decision(slow_service(), [CPU], demand=DEMAND, settings=MODELLED))
    loose = decide(decision(slow_service(percentile=90), [CPU], demand=DEMAND, settings=MODELLED))
    assert loose.state.slo_ceiling[SLOW_KEY] > strict.state.slo_ceiling[SLOW_KEY]


def test_a_fast_model_keeps_its_profile() -> None:
    # A 20 ms batch under 100 ms meets the SLO past the load the headroom plans for: no
    # ceiling, the same plan as without the model.
    spec = service([GPU], slo={"latencyMs": 100})
    plan = decide(decision(spec, [pool("l4")], demand=500.0, settings=MODELLED))
    assert plan.state.slo_ceiling == {}
    assert plan == decide(decision(spec, [pool("l4")], demand=500.0, settings=UNMODELLED))


def test_a_ceiling_already_held_is_not_replaced_by_the_model() -> None:
    # Learned from a breach (or modelled earlier and raised since): the model does not
    # override what the traffic taught.
    state = ServiceState(slo_ceiling={SLOW_KEY: 90.0})
    plan = decide(decision(slow_service(), [CPU], demand=DEMAND, state=state, settings=MODELLED))
    assert plan.state.slo_ceiling == {SLOW_KEY: 90.0}
    assert [a.replicas for a in plan.allocations] == [math.ceil(DEMAND * 1.2 / 90.0)]
