"""Prices and capacity: what a replica costs and how much it serves inside the SLO.

The capacity model has two sources. The prior is the benchmark profile in the spec:
throughput and p99 latency measured at a few batch sizes per accelerator type, interpolated
in between (execution time and p99 linear in the batch size), never extrapolated past the largest measured batch (a guess there
would be optimistic), and below the smallest one scaled down in proportion to the batch
(no batching gain assumed) with the smallest batch's latency. The learned part is a correction factor on that prior,
estimated online as inferences/s divided by busy fraction and blended into the state.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property

from infercost.api.service import Variant
from infercost.engine.derived import Derived
from infercost.engine.model import DeploymentMetrics, EngineSettings, PoolView
from infercost.engine.queueing import ExecCurve


@dataclass(frozen=True, kw_only=True)
class ProfileCurve:
    """Measured throughput and p99 latency of one variant on one accelerator type."""

    batch_sizes: tuple[int, ...]  # ascending, unique
    throughputs: tuple[float, ...]  # inferences/s of one replica
    latencies_ms: tuple[float, ...]  # p99 at that throughput

    @property
    def max_batch(self) -> int:
        return self.batch_sizes[-1]

    def throughput_at(self, batch: float) -> float:
        if batch < self.batch_sizes[0]:
            # Below the smallest measured batch assume no batching gain at all (a line
            # through the origin): the conservative guess, never an optimistic one.
            return self.throughputs[0] * batch / self.batch_sizes[0]
        # Between measurements a batch's execution time, not the throughput, is linear in its
        # size (a fixed per-launch overhead plus a per-item cost), so interpolate that: a
        # straight line in throughput under-rates the middle of a concave curve, and a factor
        # learned there would over-rate the largest batch.
        batch = min(batch, self.batch_sizes[-1])  # never extrapolated past the last measurement
        return batch / _interpolate(self.batch_sizes, self._seconds, batch)

    @cached_property
    def _seconds(self) -> tuple[float, ...]:
        """Execution time of each measured batch (derived once, not on every call)."""
        return tuple(b / t for b, t in zip(self.batch_sizes, self.throughputs, strict=True))

    @cached_property
    def execution(self) -> ExecCurve:
        """The batcher's queueing model of this profile (engine/queueing.py), below the
        smallest measured batch with that batch's execution time, as `throughput_at` has it
        (the model's own guess there, a time in proportion to the batch, is optimistic)."""
        if self.batch_sizes[0] == 1:
            return ExecCurve(self.batch_sizes, self._seconds)
        return ExecCurve((1, *self.batch_sizes), (self._seconds[0], *self._seconds))

    def latency_at(self, batch: float) -> float:
        return _interpolate(self.batch_sizes, self.latencies_ms, batch)


def _interpolate(xs: tuple[int, ...], ys: tuple[float, ...], x: float) -> float:
    """Piecewise-linear in batch size, clamped at both ends (no extrapolation)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    right = bisect_left(xs, x)
    if xs[right] == x:
        return ys[right]
    left = right - 1
    share = (x - xs[left]) / (xs[right] - xs[left])
    return ys[left] + share * (ys[right] - ys[left])


# Curves by variant object: a spec is a frozen model, so the same object always gives the
# same curve (in a 1-tuple: None, never measured there, is an answer too).
_CURVES: Derived[tuple[ProfileCurve | None]] = Derived()


def profile_curve(variant: Variant, accelerator_type: str) -> ProfileCurve | None:
    """The variant's profile on one accelerator type; None when it was never measured there.

    Duplicate batch sizes (repeated runs) are averaged, so the curve is a function.
    """
    hit = _CURVES.get(variant, accelerator_type)
    if hit is not None:
        return hit[0]
    curve = _profile_curve(variant, accelerator_type)
    _CURVES.put(variant, accelerator_type, (curve,))
    return curve


def _profile_curve(variant: Variant, accelerator_type: str) -> ProfileCurve | None:
    by_batch: dict[int, list[tuple[float, float]]] = {}
    for point in variant.profile:
        if point.accelerator_type == accelerator_type:
            by_batch.setdefault(point.batch_size, []).append(
                (point.throughput, point.p99_latency_ms)
            )
    if not by_batch:
        return None
    batches = tuple(sorted(by_batch))
    throughputs = tuple(sum(t for t, _ in by_batch[b]) / len(by_batch[b]) for b in batches)
    latencies = tuple(sum(lat for _, lat in by_batch[b]) / len(by_batch[b]) for b in batches)
    return ProfileCurve(batch_sizes=batches, throughputs=throughputs, latencies_ms=latencies)


def replica_hourly_cost(pool: PoolView, variant: Variant) -> float:
    """Price of one replica: the node price times the share of the node's accelerators it uses."""
    per_node = pool.spec.accelerator.per_node
    return pool.hourly_per_node * variant.accelerators_per_replica / per_node


def cost_per_million(hourly_cost: float, throughput: float) -> float | None:
    """$ per million inferences when `throughput` inferences/s cost `hourly_cost` $/h."""
    if throughput <= 0:
        return None
    return hourly_cost / (throughput * 3600.0) * 1e6


def capacity_sample(metrics: DeploymentMetrics, *, replicas: int) -> float | None:
    """One replica's capacity seen in the metrics: inferences/s per replica per unit busy time.

    `inferences_per_second` is the deployment's total over its `replicas` ready replicas and
    `busy_fraction` their mean. The busy fraction is executions/s x each execution's compute
    time (`adapters/promql.py`), so the sample is the average batch over one execution's
    compute time: the replica's throughput at the batch it runs, whatever share of the time
    it is busy. It is compared with the profile at that batch (`learning.learn_capacity`),
    so a lightly loaded replica running small batches is not read as a slow one. None where
    nothing executed.
    """
    rate = metrics.inferences_per_second
    busy = metrics.busy_fraction
    if rate is None or busy is None or rate <= 0 or replicas <= 0:
        return None
    if busy <= 0.0 or busy > 1.0:
        return None
    return rate / replicas / busy


def blend_capacity_factor(
    *,
    previous: float | None,
    prior_throughput: float,
    sample: float,
    settings: EngineSettings,
) -> float:
    """Blend a capacity sample, as a factor on the profile's throughput, into what was learned.

    Starting from 1.0 (the profile is right) each sample moves the factor by `weight`, so one
    odd scrape cannot swing placement. The factor is bounded to [0.1, 10]: beyond that the
    profile is wrong and a human should re-benchmark, not the engine extrapolate.
    """
    base = 1.0 if previous is None else previous
    observed = sample / prior_throughput if prior_throughput > 0 else base
    weight = settings.learned_capacity_weight
    blended = (1.0 - weight) * base + weight * observed
    return clamp_factor(blended, settings)


def clamp_factor(factor: float, settings: EngineSettings) -> float:
    bound = max(settings.learned_capacity_bound, 1.0)
    return min(bound, max(1.0 / bound, factor))
