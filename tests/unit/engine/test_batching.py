"""Batching: the largest batch inside margin x SLO, halved and climbed back from observed p99, Off and Fixed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercost.api.service import Batching
from infercost.engine.batching import BatchChoice, choose_batching, config_for
from infercost.engine.cost import ProfileCurve
from infercost.engine.model import BatchConfig, EngineSettings, Reason

pytestmark = pytest.mark.unit

CURVE = ProfileCurve(
    batch_sizes=(1, 8, 32),
    throughputs=(500.0, 1500.0, 2200.0),
    latencies_ms=(5.0, 20.0, 70.0),
)
SETTINGS = EngineSettings(latency_margin=0.8)


def choose(
    spec: dict[str, object],
    *,
    slo: float = 50.0,
    previous: BatchConfig | None = None,
    p99: float | None = None,
) -> tuple[int, int, Reason] | None:
    choice = choose_batching(
        CURVE,
        spec=Batching.model_validate(spec),
        slo_ms=slo,
        settings=SETTINGS,
        previous=previous,
        observed_p99_ms=p99,
    )
    if choice is None:
        return None
    config = choice.config
    assert all(size <= config.max_batch_size for size in config.preferred_batch_sizes)
    assert choice.predicted_latency_ms <= SETTINGS.latency_margin * slo + 1e-9
    return config.max_batch_size, config.max_queue_delay_us, choice.reason


@pytest.mark.parametrize(
    ("spec", "slo", "previous", "p99", "expected"),
    [
        # Budget 0.8 x 50 = 40 ms: batch 16 interpolates to 36.7 ms. No queue delay: the
        # budget holds no second execution (the batch a request may wait behind), let alone
        # a delay.
        pytest.param({}, 50.0, None, None, (16, 0, Reason.BATCHING_TUNED), id="tuned"),
        # Budget 160 ms holds batch 32 (70 ms) twice with 20 ms to spare: that is the delay.
        pytest.param({}, 200.0, None, None, (32, 20000, Reason.BATCHING_TUNED), id="loose-slo"),
        # The user's maxBatchSize and maxQueueDelayMicroseconds are upper bounds in Auto.
        pytest.param(
            {"maxBatchSize": 8, "maxQueueDelayMicroseconds": 1000},
            200.0,
            None,
            None,
            (8, 1000, Reason.BATCHING_TUNED),
            id="auto-bounded",
        ),
        pytest.param({"mode": "Off"}, 50.0, None, None, (1, 0, Reason.BATCHING_OFF), id="off"),
        pytest.param(
            {"mode": "Fixed", "maxBatchSize": 8, "maxQueueDelayMicroseconds": 500},
            50.0,
            None,
            None,
            (8, 500, Reason.BATCHING_FIXED),
            id="fixed",
        ),
        # Observed p99 above the SLO halves the batch in use (multiplicative decrease).
        pytest.param(
            {},
            50.0,
            BatchConfig(max_batch_size=16, max_queue_delay_us=7500),
            60.0,
            (8, 0, Reason.BATCHING_REDUCED_FOR_LATENCY),
            id="decrease",
        ),
        # Room again (p99 under margin x SLO): climb back as far as the p99 seen, scaled by
        # the profile's execution times, allows: 40 ms at batch 8 (20 ms) is twice its
        # execution; batch 17 runs 38.75 ms (77.5 ms twice, with 2.5 ms of delay, shorter
        # than the 3.75 ms that ran), batch 18 would be 81.7 ms, over the 80 ms budget.
        pytest.param(
            {},
            100.0,
            BatchConfig(max_batch_size=8, max_queue_delay_us=3750),
            40.0,
            (17, 2500, Reason.BATCHING_TUNED),
            id="increase",
        ),
        # Little room: no larger batch fits, and the delay grows only by what the p99 leaves
        # (79 ms of 80: 1 ms more than the 3.75 ms that ran).
        pytest.param(
            {},
            100.0,
            BatchConfig(max_batch_size=8, max_queue_delay_us=3750),
            79.0,
            (8, 4750, Reason.BATCHING_TUNED),
            id="increase-without-room",
        ),
        # No p99 yet: hold what runs rather than jump back.
        pytest.param(
            {},
            50.0,
            BatchConfig(max_batch_size=8, max_queue_delay_us=3750),
            None,
            (8, 0, Reason.BATCHING_TUNED),
            id="hold-without-evidence",
        ),
    ],
)
def test_batching_table(
    spec: dict[str, object],
    slo: float,
    previous: BatchConfig | None,
    p99: float | None,
    expected: tuple[int, int, Reason],
) -> None:
    assert choose(spec, slo=slo, previous=previous, p99=p99) == expected


@pytest.mark.parametrize("understated", [1.0, 1.25, 1.5, 2.0])
def test_the_climb_after_a_breach_takes_one_step_and_does_not_breach_again(
    understated: float,
) -> None:
    """Real executions `understated` x the profile's (the p99: one execution and the
    batcher's delay). After the breach that halves the batch, one healthy p99 takes the
    batch to the largest that the latency seen allows within the budget: no second breach
    (as a jump back to the batch that breached would give), no window spent per step (as an
    additive climb would), and no larger batch would have fitted."""
    slo, top = 100.0, 32  # the profile's batch 32 runs 70 ms: inside the 80 ms budget
    budget = SETTINGS.latency_margin * slo

    def real_p99(batch: int, delay_us: int) -> float:
        return understated * CURVE.latency_at(batch) + delay_us / 1000

    running: BatchConfig | None = None
    breaches, batches = 0, []
    for _ in range(20):
        p99 = real_p99(running.max_batch_size, running.max_queue_delay_us) if running else None
        breaches += p99 is not None and p99 > slo
        choice = choose_batching(
            CURVE,
            spec=Batching(),
            slo_ms=slo,
            settings=SETTINGS,
            previous=running,
            observed_p99_ms=p99,
        )
        assert choice is not None
        running = choice.config
        batches.append(running.max_batch_size)
    assert batches[0] == top
    if real_p99(top, 0) <= slo:
        assert breaches == 0
        assert set(batches) == {top}
        return
    assert breaches == 1
    halved, climbed = batches[1], batches[2]
    assert halved == top // 2
    assert set(batches[2:]) == {climbed}
    assert climbed > halved
    assert real_p99(climbed, running.max_queue_delay_us) <= budget
    assert real_p99(climbed + 1, 0) > budget


@pytest.mark.parametrize(
    "spec",
    [{}, {"mode": "Off"}, {"mode": "Fixed", "maxBatchSize": 32}],
    ids=["auto", "off", "fixed-too-big"],
)
def test_infeasible_when_the_slo_cannot_be_met(spec: dict[str, object]) -> None:
    slo = 4.0 if spec.get("mode") != "Fixed" else 50.0
    assert choose(spec, slo=slo) is None


def test_preferred_batch_sizes_never_exceed_max() -> None:
    assert config_for(1, 0).preferred_batch_sizes == ()
    assert config_for(16, 100).preferred_batch_sizes == (16,)


@settings(max_examples=200, deadline=None)
@given(
    slo=st.floats(6.5, 500.0),
    cap=st.one_of(st.none(), st.integers(1, 64)),
    delay_cap=st.one_of(st.none(), st.integers(0, 100_000)),
    previous=st.one_of(st.none(), st.integers(1, 64)),
    p99=st.one_of(st.none(), st.floats(1.0, 1000.0)),
)
def test_auto_always_fits_the_budget(
    slo: float, cap: int | None, delay_cap: int | None, previous: int | None, p99: float | None
) -> None:
    spec: dict[str, object] = {"maxBatchSize": cap, "maxQueueDelayMicroseconds": delay_cap}
    before = (
        None if previous is None else BatchConfig(max_batch_size=previous, max_queue_delay_us=0)
    )
    result = choose(spec, slo=slo, previous=before, p99=p99)  # asserts latency and preferred
    assert result is not None  # batch 1 (5 ms) always fits 0.8 x 6.5 ms
    batch, delay, _ = result
    assert 1 <= batch <= min(cap or 32, 32)
    assert delay_cap is None or delay <= delay_cap


# ResNet-50 on a T4 as the bundled example declares it: one derived point whose p99 (21.3 ms,
# two executions of 10.65 ms) misses 0.8 x a 25 ms SLO at every batch size.
T4 = ProfileCurve(batch_sizes=(64,), throughputs=(6010.48,), latencies_ms=(21.3,))


def test_the_queueing_model_rescues_a_profile_whose_p99_misses_the_margin_everywhere() -> None:
    def t4(slo: float, **spec: object) -> BatchChoice | None:
        return choose_batching(
            T4,
            spec=Batching.model_validate({"maxBatchSize": 64, **spec}),
            slo_ms=slo,
            settings=SETTINGS,
            previous=None,
            observed_p99_ms=None,
        )

    choice = t4(25.0)
    assert choice is not None
    # The queueing model meets 25 ms below some load at the batch where it serves the most,
    # with no queue delay (the margin has none to give).
    assert choice.config.max_queue_delay_us == 0
    assert choice.reason == Reason.BATCHING_TUNED
    assert "queueing model serves" in choice.message
    served = float(choice.message.split("serves ")[1].split("/s")[0])
    assert 0 < served < 6010.48
    # With the queue timeout the same choice carries it (one execution as the profile
    # states it, the floor).
    timed = t4(25.0, rejectLateRequests=True)
    assert timed is not None
    assert timed.config.queue_timeout_us == 21300
    # Only a batch whose measured p99 meets the SLO itself is rescued: the model says the
    # load at which it does, not whether a profile point twice the SLO might.
    assert t4(20.0) is None
