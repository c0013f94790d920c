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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from infercost.api.service import ProfilePoint
from infercost.engine.batcher import simulate_batcher
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

    def scaled(self, factor: float) -> ExecCurve:
        """Every batch taking `factor` times as long."""
        if factor == 1.0:
            return self
        return ExecCurve(self.batch, tuple(seconds * factor for seconds in self.seconds))

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


class _Row(NamedTuple):
    cdf: FloatArray  # [REL_GRID], before the table is made monotone across loads
    busy: float
    mean_batch: float
    queue_seconds: float
    mean_seconds: float
    rejected: float


def _rows(
    curve: ExecCurve,
    *,
    max_batch: int,
    queue_delay_us: int,
    slo_ms: float,
    queue_timeout_us: int,
    first_load: int = 0,
) -> Iterator[_Row]:
    """The event simulation at each load of LOAD_GRID from index `first_load` in turn (each
    0.4-4 ms): a caller that needs only the loads up to some point stops there."""
    capacity = curve.capacity(max_batch)
    gaps = np.random.default_rng(20231116).exponential(1.0, EVENT_REQUESTS)
    slo = slo_ms / 1e3
    timeout = queue_timeout_us / 1e6 if queue_timeout_us > 0 else math.inf
    idle_latency = float(curve.exec_seconds(np.array([1]))[0]) + queue_delay_us / 1e6
    for load in LOAD_GRID[first_load:]:
        if load == 0.0:
            idle = (REL_GRID * slo >= idle_latency).astype(np.float64)
            yield _Row(idle, 0.0, 1.0, 0.0, idle_latency, 0.0)
            continue
        run = simulate_batcher(
            curve,
            rate=load * capacity,
            max_batch=max_batch,
            queue_delay=queue_delay_us / 1e6,
            gaps=gaps,
            queue_timeout=timeout,
        )
        lat = np.sort(run.latencies)
        yield _Row(
            np.searchsorted(lat, REL_GRID * slo, side="right") / len(lat)
            if lat.size
            else np.ones(len(REL_GRID)),
            run.busy,
            run.mean_batch,
            run.queue_seconds,
            float(lat.mean()) if lat.size else idle_latency,
            run.rejected,
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
    rows = list(
        _rows(
            curve,
            max_batch=max_batch,
            queue_delay_us=queue_delay_us,
            slo_ms=slo_ms,
            queue_timeout_us=queue_timeout_us,
        )
    )
    cdf = np.array([row.cdf for row in rows])
    # Higher load is never faster nor rejects less: keep the table monotone against noise.
    cdf = np.minimum.accumulate(cdf, axis=0)
    rejected = np.maximum.accumulate(np.array([row.rejected for row in rows]))
    return LatencyTable(
        curve.capacity(max_batch),
        slo_ms / 1e3,
        cdf,
        np.array([row.busy for row in rows]),
        np.array([row.mean_batch for row in rows]),
        np.array([row.queue_seconds for row in rows]),
        np.array([row.mean_seconds for row in rows]),
        rejected,
    )


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


class _Checked(NamedTuple):
    """How far up LOAD_GRID one (table, attainment) has been simulated."""

    loads: int  # the first `loads` loads of the grid
    share: float  # the highest of them that meets the attainment
    worst_cdf: float
    worst_rejected: float
    broken: bool  # a load failed: `share` is the answer
    capacity: float  # inferences/s at full batches


# (table key, attainment) -> progress. A table's loads are simulated once, and only as far up
# as any caller has needed; a long-running operator meets many batching configs, so only this
# is kept (a whole table is ~35 kB), up to _CHECKED_MAX entries.
_CHECKED: dict[tuple[TableKey, float], _Checked] = {}
_CHECKED_MAX = 4096


def slo_safe_load(key: TableKey, attainment: float, *, enough_rate: float = math.inf) -> SafeLoad:
    """The highest load at which `attainment` of Poisson arrivals are served within the SLO.

    With `enough_rate`, the caller only asks whether the SLO breaks below that rate: once a
    load at or above it meets the SLO (and every load below it does), that load is returned
    (a lower bound, at or above `enough_rate`) and the loads above it are left unsimulated.
    A later call that needs more resumes where this one stopped."""
    memo = (key, attainment)
    checked = _CHECKED.get(memo)
    if checked is None:
        curve, size = key[0], key[1]
        capacity = curve.capacity(max(1, min(size, curve.max_batch)))
        checked = _Checked(0, 0.0, math.inf, 0.0, False, capacity)
    if not (checked.broken or checked.loads == len(LOAD_GRID) or _enough(checked, enough_rate)):
        checked = _check(key, attainment, checked, enough_rate=enough_rate)
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[memo] = checked
    return SafeLoad(share=checked.share, rate=checked.share * checked.capacity)


def _enough(checked: _Checked, enough_rate: float) -> bool:
    return checked.loads > 0 and checked.share * checked.capacity >= enough_rate


def _check(key: TableKey, attainment: float, checked: _Checked, *, enough_rate: float) -> _Checked:
    """Simulate the loads after `checked`, up the grid, until one fails or one at or above
    `enough_rate` meets the SLO.

    The table's good share (latency_table, LatencyTable.good_share) never rises with the
    load: the highest load that meets `attainment` is the one before the first that fails,
    so the loads above it need not be simulated. Same floats as the whole table's."""
    curve, size, delay, slo_ms, timeout = key
    loads, share, worst_cdf, worst_rejected = (
        checked.loads,
        checked.share,
        checked.worst_cdf,
        checked.worst_rejected,
    )
    rows = _rows(
        curve,
        max_batch=max(1, min(size, curve.max_batch)),
        queue_delay_us=delay,
        slo_ms=slo_ms,
        queue_timeout_us=timeout,
        first_load=loads,
    )
    for load, row in zip(LOAD_GRID.tolist()[loads:], rows, strict=False):
        worst_cdf = min(worst_cdf, float(row.cdf[SLO_INDEX]))
        worst_rejected = max(worst_rejected, row.rejected)
        loads += 1
        if worst_cdf * (1.0 - worst_rejected) < attainment:
            return _Checked(loads, share, worst_cdf, worst_rejected, True, checked.capacity)
        share = load
        if share * checked.capacity >= enough_rate:
            break
    return _Checked(loads, share, worst_cdf, worst_rejected, False, checked.capacity)
