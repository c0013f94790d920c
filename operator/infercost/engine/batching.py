"""Triton dynamic batching per (variant, pool): the biggest batch the SLO allows.

A bigger batch means more inferences/s per replica, hence fewer replicas, hence a lower
bill, until queue delay plus execution latency reaches the SLO. The model picks the batch
from the profile; observed p99 then corrects it: halve on a breach, and climb back on a
healthy p99 as far as that p99, scaled by the profile's execution times, leaves room.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from infercost.api.service import Batching, BatchingMode
from infercost.engine.cost import ProfileCurve
from infercost.engine.derived import Derived
from infercost.engine.model import BatchConfig, DeploymentMetrics, EngineSettings, Reason
from infercost.engine.queueing import slo_safe_load, table_key


@dataclass(frozen=True, kw_only=True)
class BatchChoice:
    """A batching decision and the latency the profile predicts for it."""

    config: BatchConfig
    reason: Reason
    predicted_latency_ms: float  # queue delay + execution latency
    message: str


OFF = BatchConfig(max_batch_size=1, max_queue_delay_us=0)


def config_for(batch: int, delay_us: int) -> BatchConfig:
    """A BatchConfig whose preferred sizes never exceed max_batch_size (Triton refuses that)."""
    preferred = (batch,) if batch > 1 else ()
    return BatchConfig(
        max_batch_size=batch, max_queue_delay_us=delay_us, preferred_batch_sizes=preferred
    )


def _candidates(curve: ProfileCurve, upper: int) -> list[int]:
    """Measured batch sizes plus powers of two, up to `upper` (never past the last measurement)."""
    sizes = {b for b in curve.batch_sizes if b <= upper} | {1, upper}
    power = 2
    while power < upper:
        sizes.add(power)
        power *= 2
    return sorted(sizes)


def _delay_us(curve: ProfileCurve, *, batch: int, budget_ms: float, cap_us: int | None) -> int:
    """Queue delay for `batch`: the slack left in the budget, at most one batch's execution.

    The budget holds the request's own execution and one batch executing ahead of it (one
    model instance runs one batch at a time: a request arriving as a batch starts waits for
    it with no overload at all); the delay gets what is left. Waiting longer than one
    execution buys nothing: the next batch fills while this one runs.
    """
    if batch <= 1:
        return 0
    slack_ms = max(0.0, budget_ms - 2 * curve.latency_at(batch))
    delay = int(min(slack_ms, curve.latency_at(batch)) * 1000)
    return delay if cap_us is None else min(delay, cap_us)


def _climb(
    curve: ProfileCurve,
    *,
    previous: BatchConfig,
    top: int,
    observed_p99_ms: float | None,
    budget_ms: float,
    cap_us: int | None,
) -> tuple[int, int]:
    """(batch, queue delay) for a batch cut for latency, climbing back towards `top`.

    The p99 observed at the batch that runs is scaled to a larger batch by the profile's
    execution times (queueing behind a batch and waiting for one both scale with it), plus
    the longer queue delay that batch would get; the climb goes to the largest batch whose
    p99 so predicted stays within the budget, and the batch that runs gets no more delay
    than the p99 leaves room for. Where the profile is right the observed p99 leaves room
    for the batch the profile chose and one step gets there; where the real latency is
    worse than the profile (the breach that cut the batch) the p99 seen carries that
    factor and the climb stops short of the batch that would breach again (a jump back to
    the profile's batch breached again; a climb of two per window took a window a step).
    No p99, or one above the budget: hold what runs.
    """
    running, running_delay_us = previous.max_batch_size, previous.max_queue_delay_us
    longest_us = _delay_us(curve, batch=running, budget_ms=budget_ms, cap_us=cap_us)
    if observed_p99_ms is None or observed_p99_ms > budget_ms:
        return running, min(running_delay_us, longest_us)
    room_us = int((budget_ms - observed_p99_ms) * 1000)
    best = running, min(running_delay_us + room_us, longest_us)
    scale = observed_p99_ms / curve.latency_at(running)
    for batch in range(running + 1, top + 1):
        delay_us = _delay_us(curve, batch=batch, budget_ms=budget_ms, cap_us=cap_us)
        longer_delay_ms = max(0, delay_us - running_delay_us) / 1000
        if scale * curve.latency_at(batch) + longer_delay_ms <= budget_ms:
            best = batch, delay_us
    return best


def _climb_message(
    *, running: int, batch: int, top: int, observed_p99_ms: float | None, budget_ms: float
) -> str:
    if observed_p99_ms is None:
        return f"batch {batch} held below {top}: no p99 over a whole window at it yet"
    seen = f"p99 {observed_p99_ms:.1f} ms at batch {running}"
    if batch == top:
        return f"batch back to {top}: {seen} leaves room within {budget_ms:.1f} ms"
    if batch > running:
        return f"batch {batch} of {top}: {seen} leaves room within {budget_ms:.1f} ms for no more"
    return f"batch {batch} held below {top}: {seen} leaves no room within {budget_ms:.1f} ms"


# model_batching by batching spec object, then (curve, SLO, settings object, attainment): a pure
# function of frozen inputs that every decision asks again. The settings object is held in
# the value, so its id stays its own while the entry lives.
_MODELLED: Derived[tuple[EngineSettings, BatchChoice | None]] = Derived()


def model_batching(
    curve: ProfileCurve,
    *,
    spec: Batching,
    slo_ms: float,
    settings: EngineSettings,
    attainment: float = 0.99,
) -> BatchChoice | None:
    """The profile's best batching inside margin x SLO, else the queueing model's; None
    when neither finds a batch that meets the SLO."""
    memo = (curve, slo_ms, id(settings), attainment)
    hit = _MODELLED.get(spec, memo)
    if hit is not None and hit[0] is settings:
        return hit[1]
    choice = _model_batching(curve, spec=spec, slo_ms=slo_ms, settings=settings)
    if choice is None and settings.modelled_ceilings:
        choice = _queueing_batching(
            curve, spec=spec, slo_ms=slo_ms, settings=settings, attainment=attainment
        )
    _MODELLED.put(spec, memo, (settings, choice))
    return choice


def _model_batching(
    curve: ProfileCurve, *, spec: Batching, slo_ms: float, settings: EngineSettings
) -> BatchChoice | None:
    budget = settings.latency_margin * slo_ms
    upper = min(spec.max_batch_size or curve.max_batch, curve.max_batch)
    best: tuple[float, int] | None = None
    for batch in _candidates(curve, upper):
        if curve.latency_at(batch) > budget:
            continue
        throughput = curve.throughput_at(batch)
        if best is None or throughput > best[0]:
            best = (throughput, batch)
    if best is None:
        return None
    batch = best[1]
    delay = _delay_us(
        curve, batch=batch, budget_ms=budget, cap_us=spec.max_queue_delay_microseconds
    )
    return BatchChoice(
        config=config_for(batch, delay),
        reason=Reason.BATCHING_TUNED,
        predicted_latency_ms=curve.latency_at(batch) + delay / 1000,
        message=f"batch {batch} gives {best[0]:.0f}/s within {budget:.1f} ms",
    )


def _queueing_batching(
    curve: ProfileCurve,
    *,
    spec: Batching,
    slo_ms: float,
    settings: EngineSettings,
    attainment: float,
) -> BatchChoice | None:
    """When the profile's p99 exceeds margin x SLO at every batch size: of the measured
    batches whose p99 is still within the SLO itself, the one at which the queueing model
    (engine/queueing.py) serves the most within the SLO, with no queue delay; None when
    there is none.

    A profile point's p99 is measured under load (a batch forming while one executes, often
    twice the execution), so a model can miss the margin at every batch and still meet the
    SLO below some load; the option's capacity is then held to that load
    (engine/ceilings.py)."""
    upper = min(spec.max_batch_size or curve.max_batch, curve.max_batch)
    best: tuple[float, int] | None = None
    measured = (b for b in curve.batch_sizes if b <= upper and curve.latency_at(b) <= slo_ms)
    for batch in measured:
        config = config_for(batch, 0)
        if spec.reject_late_requests:
            config = _timed(curve, config, slo_ms=slo_ms, settings=settings)
        rate = slo_safe_load(table_key(curve.execution, config, slo_ms), attainment).rate
        if rate > 0 and (best is None or rate > best[0]):
            best = (rate, batch)
    if best is None:
        return None
    rate, batch = best
    return BatchChoice(
        config=config_for(batch, 0),
        reason=Reason.BATCHING_TUNED,
        predicted_latency_ms=curve.latency_at(batch),
        message=(
            f"batch {batch}: the profile's p99 exceeds {settings.latency_margin:g} x SLO at "
            f"every batch; the queueing model serves {rate:.0f}/s within the SLO"
        ),
    )


def halving_overloads(
    curve: ProfileCurve,
    *,
    batching: BatchConfig,
    metrics: DeploymentMetrics,
    settings: EngineSettings,
) -> bool:
    """Half this batch would overload the replicas at the load they serve now.

    The busy fraction scales with what one execution serves: at the observed mean batch it
    is `busy`, at half the configured batch (where that is smaller) it is busy times the
    profile's throughput ratio. Where that reaches `saturated_busy_fraction`, a p99 above
    the SLO is the load's: a smaller batch would serve less and queue more (the breach it
    was meant to cure grows), so the breach calls for replicas instead.
    """
    busy = metrics.busy_fraction
    if busy is None or batching.max_batch_size <= 1:
        return False
    batch = float(batching.max_batch_size)
    running = min(batch, max(1.0, metrics.average_batch or batch))
    half = min(running, float(max(1, batching.max_batch_size // 2)))
    ratio = curve.throughput_at(running) / curve.throughput_at(half)
    return busy * ratio >= settings.saturated_busy_fraction


def queue_timeout_us(*, execution_ms: float, delay_us: int, slo_ms: float, margin: float) -> int:
    """How long a request may wait in Triton's queue before it is rejected.

    Past margin x SLO less one batch's execution it cannot finish inside the margin. It is
    never shorter than a wait that happens without any overload: the batcher's delay plus
    one batch executing ahead (one model instance runs one batch at a time), so the
    timeout turns away requests that queue for capacity and the tail that waited behind more
    than one batch (measured on tritonserver 2.51, a 72 ms batch: 1-3% at 60% load, 8% at 85%).
    """
    normal_wait_us = delay_us + int(execution_ms * 1000)
    return max(normal_wait_us, int((margin * slo_ms - execution_ms) * 1000), 1)


def choose_batching(
    curve: ProfileCurve,
    *,
    spec: Batching,
    slo_ms: float,
    settings: EngineSettings,
    previous: BatchConfig | None,
    observed_p99_ms: float | None,
    attainment: float = 0.99,
) -> BatchChoice | None:
    """Batching for one (variant, pool); None when the SLO cannot be met at any batch size.

    `attainment` is the SLO's percentile as a share. With `rejectLateRequests` the choice
    carries Triton's queue timeout for its batch.
    """
    choice = _choose_batching(
        curve,
        spec=spec,
        slo_ms=slo_ms,
        settings=settings,
        previous=previous,
        observed_p99_ms=observed_p99_ms,
        attainment=attainment,
    )
    if choice is None or not spec.reject_late_requests:
        return choice
    return replace(choice, config=_timed(curve, choice.config, slo_ms=slo_ms, settings=settings))


def _timed(
    curve: ProfileCurve, config: BatchConfig, *, slo_ms: float, settings: EngineSettings
) -> BatchConfig:
    """The config with Triton's queue timeout for its batch and delay (`queue_timeout_us`).

    Fixed and Off: the delay as the user set it, the timeout's floor guards it. Auto keeps
    delay + 2 executions inside margin x SLO (`_delay_us`), so a request served after
    waiting the whole timeout during an overload is still on time.
    """
    timeout = queue_timeout_us(
        execution_ms=curve.latency_at(config.max_batch_size),
        delay_us=config.max_queue_delay_us,
        slo_ms=slo_ms,
        margin=settings.latency_margin,
    )
    return replace(config, queue_timeout_us=timeout)


def _choose_batching(
    curve: ProfileCurve,
    *,
    spec: Batching,
    slo_ms: float,
    settings: EngineSettings,
    previous: BatchConfig | None,
    observed_p99_ms: float | None,
    attainment: float,
) -> BatchChoice | None:
    if spec.mode == BatchingMode.OFF:
        return _respecting(curve, OFF, Reason.BATCHING_OFF, slo_ms, settings)
    if spec.mode == BatchingMode.FIXED:
        fixed = config_for(spec.max_batch_size or 1, spec.max_queue_delay_microseconds or 0)
        return _respecting(curve, fixed, Reason.BATCHING_FIXED, slo_ms, settings)
    target = model_batching(
        curve, spec=spec, slo_ms=slo_ms, settings=settings, attainment=attainment
    )
    if target is None or previous is None:
        return target
    budget = settings.latency_margin * slo_ms
    if observed_p99_ms is not None and observed_p99_ms > slo_ms:
        batch = max(1, min(previous.max_batch_size, target.config.max_batch_size) // 2)
        delay = min(
            previous.max_queue_delay_us // 2,
            _delay_us(
                curve, batch=batch, budget_ms=budget, cap_us=spec.max_queue_delay_microseconds
            ),
        )
        return BatchChoice(
            config=config_for(batch, delay),
            reason=Reason.BATCHING_REDUCED_FOR_LATENCY,
            predicted_latency_ms=curve.latency_at(batch) + delay / 1000,
            message=f"p99 {observed_p99_ms:.1f} ms above SLO {slo_ms:.1f} ms: batch halved to {batch}",
        )
    if previous.max_batch_size < target.config.max_batch_size:
        batch, delay = _climb(
            curve,
            previous=previous,
            top=target.config.max_batch_size,
            observed_p99_ms=observed_p99_ms,
            budget_ms=budget,
            cap_us=spec.max_queue_delay_microseconds,
        )
        return BatchChoice(
            config=config_for(batch, delay),
            reason=Reason.BATCHING_TUNED,
            predicted_latency_ms=curve.latency_at(batch) + delay / 1000,
            message=_climb_message(
                running=previous.max_batch_size,
                batch=batch,
                top=target.config.max_batch_size,
                observed_p99_ms=observed_p99_ms,
                budget_ms=budget,
            ),
        )
    return target


def _respecting(
    curve: ProfileCurve,
    config: BatchConfig,
    reason: Reason,
    slo_ms: float,
    settings: EngineSettings,
) -> BatchChoice | None:
    """A user-chosen batching, or None when the profile says it cannot meet the SLO."""
    latency = curve.latency_at(config.max_batch_size) + config.max_queue_delay_us / 1000
    if latency > settings.latency_margin * slo_ms:
        return None
    return BatchChoice(
        config=config,
        reason=reason,
        predicted_latency_ms=latency,
        message=f"batch {config.max_batch_size}, delay {config.max_queue_delay_us} us as specified",
    )
