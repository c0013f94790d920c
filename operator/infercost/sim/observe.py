"""What Prometheus would report about the simulated replicas over the last minute."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from infercost.engine.model import Observation
from infercost.sim.fleet import Fleet, weighted_p99

FloatArray = NDArray[np.float64]


class Window:
    """Per deployment, over the last minute of steps (a `rate(...[1m])` window).

    Each figure is computed on first use: the baselines read one, the planner reads all.
    """

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        # Early in a run the window holds only the steps simulated so far (the ring fills
        # from its start): Prometheus's rate() covers the samples there are, not a full minute.
        filled = fleet.hist_steps
        self.served, self.load, self.wait, self.p99, self.rejected = fleet.hist[:, :, :filled]
        self.seconds = max(filled, 1) * float(fleet.world.step)

    @cached_property
    def served_rps(self) -> FloatArray:
        out: FloatArray = self.served.sum(axis=1) / self.seconds
        return out

    @cached_property
    def rejected_rps(self) -> FloatArray:
        """Requests Triton's queue policy rejected (0 where it rejects none)."""
        out: FloatArray = self.rejected.sum(axis=1) / self.seconds
        return out

    @cached_property
    def p99_ms(self) -> FloatArray:
        """NaN where nothing was served."""
        out: FloatArray = weighted_p99(self.served, self.p99) * 1e3
        return out

    def _table(self, series: FloatArray) -> FloatArray:
        every = np.arange(len(self.fleet.svc))
        out: FloatArray = self.fleet.blend(series, every, self.load)
        return out

    def _mean(self, values: FloatArray) -> FloatArray:
        weights = np.where(self.served.sum(axis=1)[:, None] > 0, self.served, 1.0)
        out: FloatArray = (values * weights).sum(axis=1) / weights.sum(axis=1)
        return out

    @cached_property
    def busy(self) -> FloatArray:
        out: FloatArray = self._table(self.fleet.world.tables.busy).mean(axis=1)
        return out

    @cached_property
    def batch(self) -> FloatArray:
        return self._mean(self._table(self.fleet.world.tables.batch))

    @cached_property
    def queue_ms(self) -> FloatArray:
        return self._mean(self._table(self.fleet.world.tables.queue) + self.wait) * 1e3

    @cached_property
    def in_flight(self) -> FloatArray:
        """Mean requests queued or running (Little's law)."""
        latency = self._table(self.fleet.world.tables.mean) + self.wait
        out: FloatArray = (self.served / float(self.fleet.world.step) * latency).mean(axis=1)
        return out


def window(fleet: Fleet) -> Window:
    return Window(fleet)


def with_cache(observation: Observation, cached_share: float) -> Observation:
    """What Triton reports of a response cache answering `cached_share` requests per computed
    one: hits and misses, and demand that counts both (adapters/promql.py does the same)."""
    if cached_share <= 0 or observation.demand_rps is None:
        return observation
    computed = observation.demand_rps
    hits = computed * cached_share
    return replace(
        observation,
        demand_rps=computed + hits,
        cache_hits_per_second=hits,
        cache_misses_per_second=computed,
    )


class WindowLists:
    """A Window's per-deployment figures as Python floats, each converted on first use
    (indexing a list is cheaper than a numpy scalar, and the values are the same)."""

    def __init__(self, win: Window) -> None:
        self.win = win

    @cached_property
    def served_rps(self) -> list[float]:
        return self.win.served_rps.tolist()  # type: ignore[no-any-return]

    @cached_property
    def p99_ms(self) -> list[float]:
        return self.win.p99_ms.tolist()  # type: ignore[no-any-return]

    @cached_property
    def queue_ms(self) -> list[float]:
        return self.win.queue_ms.tolist()  # type: ignore[no-any-return]

    @cached_property
    def batch(self) -> list[float]:
        return self.win.batch.tolist()  # type: ignore[no-any-return]

    @cached_property
    def busy(self) -> list[float]:
        return self.win.busy.tolist()  # type: ignore[no-any-return]

    @cached_property
    def rejected(self) -> list[float | None]:
        """Triton's REJECTED rate where its queue policy rejects late requests, else None."""
        rates: list[float] = self.win.rejected_rps.tolist()
        flags: list[bool] = self.win.fleet.rejects.tolist()
        return [rate if flag else None for rate, flag in zip(rates, flags, strict=True)]
