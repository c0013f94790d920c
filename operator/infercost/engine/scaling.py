"""Replica scaling: how much capacity to place.

The output is not a replica count but the capacity (inferences/s) placement must cover;
placement turns that into replicas per pool, within the spec's min/max replicas.
Scale up at once to what demand needs (demand is counted in requests/s, arrivals rather than
a utilisation that saturates, so no HPA-like step bound is needed to find out how far to go;
under overload, where completions under-state arrivals, growth is bounded per interval);
scale down only after demand stayed low for scaleDownDelaySeconds, and then only to the
highest demand seen in that window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infercost.api.service import InferenceServiceSpec
from infercost.engine.forecast import ExpectedSpike
from infercost.engine.model import EngineSettings, Observation, Reason

# Placement needs "capacity at least what runs now" without floating-point noise flipping it.
_HOLD_TOLERANCE = 1e-9


@dataclass(frozen=True, kw_only=True)
class Current:
    """What runs now, in the units scaling reasons about."""

    total: int  # replicas
    capacity: float  # inferences/s at the SLO
    smallest_replica: float  # capacity of the least capable replica running


@dataclass(frozen=True, kw_only=True)
class Target:
    """What placement must provide (within the spec's replica bounds)."""

    required: float  # inferences/s of capacity
    reason: Reason
    message: str
    scale_down_since: float | None  # carried in ServiceState


def metrics_fresh(observation: Observation | None, *, now: float, settings: EngineSettings) -> bool:
    """Demand is known, a real rate (not NaN, infinite or negative) and recent enough to act on."""
    if observation is None or observation.demand_rps is None:
        return False
    # Prometheus answers NaN for 0/0 rates and a broken exporter can send anything: no data.
    if not math.isfinite(observation.demand_rps) or observation.demand_rps < 0:
        return False
    return now - observation.time <= settings.metrics_stale_seconds


def scaling_target(
    *,
    spec: InferenceServiceSpec,
    demand: float,
    forecast: float | None,
    window_demand: float,
    history_seconds: float = 0.0,
    expected: ExpectedSpike | None = None,
    p99_ms: float | None,
    rejected_share: float = 0.0,
    saturated: bool = False,
    waiting: bool = False,
    current: Current,
    margin: float | None = None,
    since: float | None,
    breaching: bool = False,
    now: float,
    settings: EngineSettings,
) -> Target:
    """Capacity and replica bounds for this interval, with the reason that drove them.

    `margin` is the factor of capacity kept above the demand planned for (the variability
    of demand over the start-up horizon, engine/horizon.py); None: the spec's fixed headroom.
    `breaching`: the service's p99 is above the SLO in the latest metrics (an episode under
    way, `ServiceState.slo_breach_since`), whether or not `p99_ms` may be acted on, and not
    only because the summaries still hold an overload that has ended.
    """
    bounds = spec.scaling
    fixed = 1.0 + bounds.headroom
    headroom = fixed if margin is None else margin
    planned = max(demand, forecast or 0.0)
    required = planned * headroom
    # A recurring spike due within a replica's start: its capacity must be ready when it is.
    # Its peak is the demand to come already, so it gets the fixed headroom: the horizon's
    # margin is the variability above demand now, and at a trough between spikes it is many
    # times that demand (a weekly pattern's weekend: +995% on a 9,646/s spike, 11x the peak).
    spike = expected if expected is not None and expected.peak * fixed > required else None
    if spike is not None:
        planned, headroom = spike.peak, fixed
        required = planned * headroom
    if current.total == 0:
        return Target(
            required=required,
            reason=Reason.INITIAL_PLACEMENT,
            message=f"first placement for {planned:.1f}/s",
            scale_down_since=None,
        )
    late = p99_ms is not None and p99_ms > spec.slo.latency_ms
    if late or rejected_share > spec.slo.late_share:
        # Overloaded replicas report only what they completed, so demand under-states the
        # arrivals: grow capacity with how far p99 is above the SLO, HPA-like (bounded).
        # (Rejected requests are in demand already: they need no growth of their own.)
        # At least one replica's capacity more, as capacity rather than a replica count: a
        # count let placement answer a breach with more, smaller replicas elsewhere that
        # together carried less than one more of the fleet's own.
        growth = 0.0
        if saturated and p99_ms is not None and late:
            growth = min(settings.overload_max_scale_up, p99_ms / spec.slo.latency_ms - 1.0)
        message = (
            f"p99 {p99_ms:.1f} ms above SLO {spec.slo.latency_ms:g} ms"
            if p99_ms is not None and late
            else (
                f"{rejected_share:.1%} of requests rejected at the queue timeout "
                f"(the SLO allows {spec.slo.late_share * 100:.3g}%)"
            )
        )
        return Target(
            required=max(
                required,
                current.capacity * (1.0 + growth),
                current.capacity + current.smallest_replica,
            ),
            reason=Reason.LATENCY_ABOVE_SLO,
            message=message,
            scale_down_since=None,
        )
    if spike is not None and required > current.capacity:
        return Target(
            required=required,
            reason=Reason.RECURRING_SPIKE_EXPECTED,
            message=(
                f"spikes to {spike.peak:.1f}/s recurred every {spike.period:.0f}s: the "
                f"next is due in {max(0.0, spike.at - now):.0f}s (+{headroom - 1.0:.0%} "
                f"above capacity {current.capacity:.1f}/s)"
            ),
            scale_down_since=None,
        )
    if required > current.capacity:
        return Target(
            required=required,
            reason=Reason.DEMAND_ABOVE_CAPACITY,
            message=f"{planned:.1f}/s (+{headroom - 1.0:.0%}) above capacity {current.capacity:.1f}/s",
            scale_down_since=None,
        )
    # Like HPA's tolerance: a replica goes only if the rest still has this much to spare, so
    # demand hovering at a replica boundary does not flap the fleet (each flap a cold start).
    spare = 1.0 + settings.scale_down_tolerance
    # The window's peak is demand that came already: the fixed headroom above it, not the
    # horizon's margin (which is for demand still to come, and the peak is one of its highs).
    peak_required = max(window_demand * fixed, required)
    fewer = current.capacity - current.smallest_replica
    if waiting or breaching:
        # No replica goes while requests wait for capacity (completions under-state demand)
        # or p99 is above the SLO though it may not be acted on this interval (its window
        # holds a fleet change, or the replicas are saturated): taking back the replica a
        # breach added, because demand alone fits fewer, cancelled it before it started,
        # interval after interval.
        why = (
            f"requests wait for capacity {current.capacity:.1f}/s"
            if waiting
            else f"p99 above the SLO {spec.slo.latency_ms:g} ms"
        )
        return Target(
            required=max(required, current.capacity * (1 - _HOLD_TOLERANCE)),
            reason=Reason.STEADY,
            message=f"{why}: none goes",
            scale_down_since=None,
        )
    if fewer < required or fewer < peak_required * spare or current.total <= bounds.min_replicas:
        # Placement may pick another mix for this demand, but not one with less capacity
        # than the peak inside the scale-down delay needs: that would be a scale-down that
        # skips the delay (a cheaper pool's smaller fleet the moment a burst ends).
        peak = min(peak_required * spare, current.capacity * (1 - _HOLD_TOLERANCE))
        return Target(
            required=max(required, peak),
            reason=Reason.STEADY,
            message=f"capacity {current.capacity:.1f}/s fits {planned:.1f}/s",
            scale_down_since=None,
        )
    # The window's peak fits fewer replicas, so demand has been low for the whole delay as far
    # as the demand history reaches; only the rest of the delay, after a restart, is waited.
    started = (
        now - min(bounds.scale_down_delay_seconds, history_seconds) if since is None else since
    )
    if now - started < bounds.scale_down_delay_seconds:
        return Target(
            required=current.capacity * (1 - _HOLD_TOLERANCE),
            reason=Reason.SCALE_DOWN_DELAYED,
            message=(
                f"demand low for {now - started:.0f}s of "
                f"{bounds.scale_down_delay_seconds}s before scaling down"
            ),
            scale_down_since=started,
        )
    return Target(
        required=max(window_demand * fixed, required),
        reason=Reason.DEMAND_BELOW_CAPACITY,
        message=f"peak {max(window_demand, planned):.1f}/s over the delay fits fewer replicas",
        scale_down_since=started,
    )
