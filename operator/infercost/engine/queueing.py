"""The queueing model of one Triton replica with dynamic batching, built from a profile.

A replica runs one batch at a time; a batch of b takes `exec_seconds(b)` = b / throughput(b)
from the profile (piecewise linear in b between profile points). Triton's dynamic batcher
dispatches when the instance is free and either `max_batch_size` requests wait or the oldest
has waited `max_queue_delay`; with a queue timeout (`default_queue_policy` REJECT) a request
not in a batch that long after it arrived is rejected. A short event simulation of exactly
that rule under Poisson arrivals, at a grid of loads, gives a `LatencyTable`: the latency
CDF of served requests (relative to the SLO), the share rejected, busy fraction, mean batch
and queue length per load.

Two users: the engine reads from a table the load at which a replica still meets the SLO
before any breach has taught it one (engine/ceilings.py), and the simulator's step loop
interpolates tables for its latencies, so a week of traffic costs array arithmetic, not
per-request Python. Calibrated against a real tritonserver (tests/sim/test_calibration.py).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from infercost.api.service import ProfilePoint
from infercost.engine.model import BatchConfig

FloatArray = NDArray[np.float64]

# Per-replica load as a fraction of the replica's capacity at max_batch_size.
LOAD_GRID: FloatArray = np.concatenate([np.linspace(0.0, 0.8, 17), np.linspace(0.82, 0.98, 9)])
MAX_LOAD = float(LOAD_GRID[-1])  # beyond this the fluid backlog takes over
# Latency grid relative to the SLO; 1.0 is on it exactly so "good" needs no interpolation.
REL_GRID: FloatArray = np.unique(
    np.concatenate([np.geomspace(0.01, 40.0, 120), np.linspace(0.5, 1.5, 41), [0.0]])
)
SLO_INDEX = int(np.flatnonzero(np.isclose(REL_GRID, 1.0))[0])
EVENT_REQUESTS = 12000  # per load level; the p99 rests on 120 samples


@dataclass(frozen=True)
class ExecCurve:
    """Execution time of one batch on one replica as a function of its size (from a profile)."""

    batch: tuple[int, ...]
    seconds: tuple[float, ...]

    @classmethod
    def from_profile(cls, points: Sequence[ProfilePoint]) -> ExecCurve:
        best: dict[int, float] = {}
        for point in points:
            seconds = point.batch_size / point.throughput
            best[point.batch_size] = min(best.get(point.batch_size, seconds), seconds)
        sizes = sorted(best)
        return cls(tuple(sizes), tuple(best[size] for size in sizes))

    @property
    def max_batch(self) -> int:
        return self.batch[-1]

    def exec_seconds(self, sizes: NDArray[np.int64] | FloatArray) -> FloatArray:
        first_b, first_s = self.batch[0], self.seconds[0]
        # Below the smallest measured batch assume no batching gain (a cautious guess).
        low = np.asarray(sizes, dtype=np.float64) * first_s / first_b
        inside: FloatArray = np.interp(sizes, self.batch, self.seconds)
        return np.where(np.asarray(sizes) < first_b, low, inside)

    def capacity(self, max_batch: int) -> float:
        """Inferences per second of a replica that always runs full batches."""
        return float(max_batch / self.exec_seconds(np.array([max_batch]))[0])


@dataclass(frozen=True)
class LatencyTable:
    """Per-load summary of one replica for one (curve, batching, SLO); rows follow LOAD_GRID."""

    capacity: float  # inferences/s at full batches
    slo_seconds: float
    cdf: FloatArray  # [load, REL_GRID] fraction of served requests with latency <= rel * SLO
    busy: FloatArray  # [load] fraction of time executing
    mean_batch: FloatArray  # [load]
    queue_seconds: FloatArray  # [load] mean wait of served requests before execution starts
    mean_seconds: FloatArray  # [load] mean latency (in-flight requests = rate x this)
    rejected: FloatArray  # [load] share of arrivals rejected at the queue timeout (0 without)

    def good_share(self) -> FloatArray:
        """[load] share of arrivals served within the SLO (a rejected request is not)."""
        out: FloatArray = self.cdf[:, SLO_INDEX] * (1.0 - self.rejected)
        return out

    def load_at_slo(self, attainment: float = 0.99) -> float:
        """Highest load on the grid at which `attainment` of requests meet the SLO."""
        ok = np.flatnonzero(self.good_share() >= attainment)
        return float(LOAD_GRID[ok.max()]) if ok.size else 0.0

    def quantile_ms(self, load: float, q: float) -> float:
        """Latency quantile at a load, for reports and the calibration test."""
        row = np.array([np.interp(load, LOAD_GRID, self.cdf[:, j]) for j in range(len(REL_GRID))])
        return float(np.interp(q, np.maximum.accumulate(row), REL_GRID) * self.slo_seconds * 1e3)


@dataclass(frozen=True)
class Batched:
    """What one run of the batcher gives, after a 10% warm-up."""

    latencies: FloatArray  # seconds, of the requests served
    busy: float  # fraction of time executing
    mean_batch: float
    queue_seconds: float  # mean wait of the served requests before their batch ran
    rejected: float  # share of arrivals rejected at the queue timeout


def simulate_batcher(
    curve: ExecCurve,
    *,
    rate: float,
    max_batch: int,
    queue_delay: float,
    gaps: FloatArray,
    queue_timeout: float = math.inf,
) -> Batched:
    """Poisson arrivals (unit gaps scaled by 1/rate) through one dynamic batcher.

    The loop runs once per batch on plain floats; per-request work is vectorised after it.
    """
    # Measured against a real tritonserver (tests/sim/test_calibration.py): with no queue delay
    # the next batch is whatever waits when the instance frees. With a delay, real batches
    # are cut as soon as the delay expires even while the instance is busy and then wait
    # behind it (one payload of look-ahead); modelling that is exact at high load and
    # pessimistic (up to ~45% on p50) at low load, where the simpler rule under-predicts.
    lookahead = queue_delay > 0
    arrivals_np = np.cumsum(gaps / rate)
    arrivals = arrivals_np.tolist()
    count = len(arrivals)
    exec_table = curve.exec_seconds(np.arange(max_batch + 1)).tolist()
    sizes: list[int] = []
    firsts: list[int] = []
    dispatches: list[float] = []
    runs: list[float] = []
    add_size, add_first = sizes.append, firsts.append
    add_dispatch, add_run = dispatches.append, runs.append
    free = slot = 0.0
    first = 0
    # Plain comparisons instead of min()/max() calls: the same floats, a third of the time.
    while first < count:
        oldest = arrivals[first]
        last = first + max_batch - 1
        dispatch = oldest + queue_delay
        if last < count and arrivals[last] < dispatch:
            dispatch = arrivals[last]
        if dispatch < oldest:
            dispatch = oldest
        if dispatch < slot:
            dispatch = slot
        if dispatch - oldest > queue_timeout:
            # Triton rejects what is still queued `queue_timeout` after it arrived: every
            # request older than that when this batch is cut; the next oldest is looked at anew.
            first = bisect_left(arrivals, dispatch - queue_timeout, first + 1, count)
            continue
        stop = first + max_batch
        end = (
            first + 1
            if max_batch == 1
            else bisect_right(arrivals, dispatch, first, stop if stop < count else count)
        )
        run = exec_table[end - first]
        begin = dispatch if dispatch >= free else free
        add_size(end - first)
        add_first(first)
        add_dispatch(begin)
        add_run(run)
        free = begin + run
        slot = begin if lookahead else free
        first = end
    size_arr = np.asarray(sizes)
    start_at = np.repeat(np.asarray(dispatches), size_arr)
    done_at = start_at + np.repeat(np.asarray(runs), size_arr)
    skip = count // 10
    served = int(size_arr.sum())
    if served == count:  # nothing rejected: every request, in arrival order
        arrived, kept = arrivals_np, slice(skip, None)
        rejected = 0.0
    else:  # the served requests' indices: each batch is a run of consecutive arrivals
        offsets = np.arange(served) - np.repeat(np.cumsum(size_arr) - size_arr, size_arr)
        index = np.repeat(np.asarray(firsts), size_arr) + offsets
        arrived, kept = arrivals_np[index], index >= skip
        rejected = 1.0 - int(kept.sum()) / (count - skip)
    busy = min(float(np.sum(runs)) / max(free, 1e-12), 1.0)
    return Batched(
        latencies=(done_at - arrived)[kept],
        busy=busy,
        mean_batch=served / len(sizes) if sizes else 0.0,
        queue_seconds=float((start_at - arrived)[kept].mean()) if served else 0.0,
        rejected=rejected,
    )


def latency_table(
    curve: ExecCurve,
    *,
    max_batch: int,
    queue_delay_us: int,
    slo_ms: float,
    queue_timeout_us: int = 0,
) -> LatencyTable:
    """Run the event simulation at every load of the grid (50-160 ms), uncached: `table_of`
    keeps the tables the simulator reads, `slo_safe_load` only what the engine needs."""
    max_batch = max(1, min(max_batch, curve.max_batch))
    capacity = curve.capacity(max_batch)
    gaps = np.random.default_rng(20231116).exponential(1.0, EVENT_REQUESTS)
    slo = slo_ms / 1e3
    cdf = np.ones((len(LOAD_GRID), len(REL_GRID)))
    busy = np.zeros(len(LOAD_GRID))
    mean_batch = np.ones(len(LOAD_GRID))
    queue = np.zeros(len(LOAD_GRID))
    mean = np.zeros(len(LOAD_GRID))
    rejected = np.zeros(len(LOAD_GRID))
    timeout = queue_timeout_us / 1e6 if queue_timeout_us > 0 else math.inf
    idle_latency = float(curve.exec_seconds(np.array([1]))[0]) + queue_delay_us / 1e6
    for row, load in enumerate(LOAD_GRID):
        if load == 0.0:
            cdf[row] = (REL_GRID * slo >= idle_latency).astype(np.float64)
            mean[row] = idle_latency
            continue
        run = simulate_batcher(
            curve,
            rate=load * capacity,
            max_batch=max_batch,
            queue_delay=queue_delay_us / 1e6,
            gaps=gaps,
            queue_timeout=timeout,
        )
        busy[row], mean_batch[row], queue[row] = run.busy, run.mean_batch, run.queue_seconds
        rejected[row] = run.rejected
        lat = np.sort(run.latencies)
        mean[row] = float(lat.mean()) if lat.size else idle_latency
        if lat.size:
            cdf[row] = np.searchsorted(lat, REL_GRID * slo, side="right") / len(lat)
    # Higher load is never faster nor rejects less: keep the table monotone against noise.
    cdf = np.minimum.accumulate(cdf, axis=0)
    rejected = np.maximum.accumulate(rejected)
    return LatencyTable(capacity, slo, cdf, busy, mean_batch, queue, mean, rejected)


TableKey = tuple[ExecCurve, int, int, float, int]  # curve, batch, delay us, SLO ms, timeout us


def table_key(curve: ExecCurve, batching: BatchConfig, slo_ms: float) -> TableKey:
    """The table a batching config is modelled with. Queue delays and timeouts are rounded
    to 2 significant digits so near-equal configs share a table (each costs ~50 ms)."""
    delay = int(float(f"{batching.max_queue_delay_us:.2g}"))
    timeout = int(float(f"{batching.queue_timeout_us:.2g}"))
    size = max(1, min(batching.max_batch_size, curve.max_batch))
    return (curve, size, delay, slo_ms, timeout)


@lru_cache(maxsize=4096)
def table_of(key: TableKey) -> LatencyTable:
    """The key's table, kept for reuse (the simulator's step loop reads it all run long)."""
    curve, size, delay, slo_ms, timeout = key
    return latency_table(
        curve, max_batch=size, queue_delay_us=delay, slo_ms=slo_ms, queue_timeout_us=timeout
    )


class SafeLoad(NamedTuple):
    """Where a replica stops meeting the SLO under Poisson arrivals."""

    share: float  # of its capacity at full batches; MAX_LOAD when the grid finds no limit
    rate: float  # inferences/s: share x capacity


@lru_cache(maxsize=4096)
def slo_safe_load(key: TableKey, attainment: float) -> SafeLoad:
    """The highest load at which `attainment` of Poisson arrivals are served within the SLO.

    Only that is kept: a table holds ~35 kB, and a long-running operator meets many
    batching configs."""
    curve, size, delay, slo_ms, timeout = key
    table = latency_table(
        curve, max_batch=size, queue_delay_us=delay, slo_ms=slo_ms, queue_timeout_us=timeout
    )
    share = table.load_at_slo(attainment)
    return SafeLoad(share=share, rate=share * table.capacity)
